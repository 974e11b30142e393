/**
 * Waiting on real I/O in tests and benchmarks: poll until a condition holds. The
 * timeout bounds a hang; it is never a timing assertion, so it is generous.
 */

/** Thrown by a check when waiting longer cannot help (the process it waits on has exited): the wait fails at once. */
export class GiveUp extends Error {}

/**
 * Polls `check` until it returns a truthy value, and returns that value; fails
 * naming `what` after `timeoutMs`. A check that throws is tried again (a server
 * still starting refuses connections), and its last error is named if time runs
 * out; one that throws `GiveUp` ends the wait at once. Checks come every 10 ms at first and back off to every `everyMs`, so a
 * short wait ends quickly and a long one costs little.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let pause = Math.min(10, everyMs);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      if (err instanceof GiveUp) throw new Error(`gave up waiting for ${what}: ${err.message}`);
      lastError = err;
    }
    if (Date.now() > deadline) {
      const last = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(everyMs, pause * 2);
  }
}
