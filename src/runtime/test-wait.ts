/** Test support for runtimes, whose replicas become ready in their own time: poll until a condition holds. */

/** Polls `condition` until it holds; fails with `what` after a generous timeout (a hang, not a slow machine). */
export async function waitFor<T>(what: string, condition: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
