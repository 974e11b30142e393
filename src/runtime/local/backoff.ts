/**
 * Restart backoff for crashed replicas, as a pure function of the crash history.
 * The delay starts at `initialMs` and doubles with each consecutive crash up to
 * `maxMs`; a replica that had been Ready for `resetAfterMs` before it crashed
 * counts as healthy again and restarts after `initialMs`.
 */

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** Ready this long before a crash resets the count of consecutive crashes. */
  resetAfterMs: number;
}

export const defaultBackoffPolicy: BackoffPolicy = { initialMs: 200, maxMs: 10_000, resetAfterMs: 30_000 };

export interface CrashDecision {
  /** Consecutive crashes including this one (1 after a reset). */
  consecutiveCrashes: number;
  /** How long to wait before starting the replica again. */
  delayMs: number;
}

/**
 * Decides the wait before the next restart.
 *
 * | ready before the crash        | consecutive crashes | delay                         |
 * |-------------------------------|---------------------|-------------------------------|
 * | never, or less than resetAfter| previous + 1        | initial · 2^(n-1), ≤ max      |
 * | at least resetAfterMs         | 1                   | initial                       |
 */
export function decideRestart(policy: BackoffPolicy, previousCrashes: number, readySince: number | undefined, now: number): CrashDecision {
  const stayedHealthy = readySince !== undefined && now - readySince >= policy.resetAfterMs;
  const consecutiveCrashes = stayedHealthy ? 1 : previousCrashes + 1;
  return { consecutiveCrashes, delayMs: backoffDelay(policy, consecutiveCrashes) };
}

/** Delay after the `n`-th consecutive crash (n ≥ 1). */
export function backoffDelay(policy: BackoffPolicy, n: number): number {
  const exponent = Math.min(Math.max(n - 1, 0), 30);
  return Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
}
