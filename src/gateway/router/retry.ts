/**
 * When and how the gateway retries an attempt. Pure rules; the router applies
 * them. An attempt is retried only before any byte of its response reached
 * the caller (a started stream is never retried), on:
 *   connect   the replica could not be reached (refused, connect timeout, pool closed)
 *   reset     the connection broke before the response started
 *   timeout   the per-try timeout passed before the response started
 *   status_502 / status_503 / status_504   the replica answered so (503: typically draining)
 * Model inference is idempotent (the same inputs give the same outputs and
 * change nothing), so every model request may be retried.
 */
export type RetryReason = 'connect' | 'reset' | 'timeout' | 'status_502' | 'status_503' | 'status_504';

export function retryReasonForStatus(status: number): RetryReason | undefined {
  switch (status) {
    case 502:
      return 'status_502';
    case 503:
      return 'status_503';
    case 504:
      return 'status_504';
    default:
      return undefined;
  }
}

/**
 * Whether `reason` is a connection failure — the replica could not be reached,
 * or the connection under a sent request closed before any response byte —
 * whose first retry in a request goes outside the retry budget (router.ts).
 *
 * Why: such a failure is one replica's process or socket breaking, not the
 * service running out of capacity. The common case is a replica that died
 * (SIGKILL, OOM, its machine lost) with its share of the requests in flight:
 * one of four replicas with 64 in flight fails about 16 at once, and every
 * request sent to its port until ejection or the control plane takes it out
 * is refused. None of them produced work anyone will get, so retrying each
 * once elsewhere moves the dead replica's load onto the survivors; it adds no
 * load the callers did not send. The budget exists against the other kind —
 * retries of answers that are slow or refused because the service is
 * overloaded, which multiply the load that caused them — and its floor (10 at
 * once, 10 banked) is sized for a trickle, so one budget for both turned a
 * routine replica loss into 502s (Envoy's budget does apply to all retries;
 * karb's target is no failed idempotent request when one of several replicas
 * dies). Only the first such retry of a request is free: a retry whose
 * connection fails too (a second replica lost) is budgeted, so attempts stay
 * ≤ 2 × requests + what the budget allows, whatever fails. Per-try timeouts
 * and 502/503/504 stay budgeted: they are what overload looks like.
 */
export function isConnectionFailure(reason: RetryReason): boolean {
  return reason === 'connect' || reason === 'reset';
}

/** Error codes of the upstream client (undici, node:net) → why the attempt failed. */
export function retryReasonForError(code: unknown): RetryReason | undefined {
  switch (code) {
    case 'ECONNREFUSED':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'connect';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return 'reset';
    case 'TRY_TIMEOUT': // the router's per-try timer; the pool's own timeout ends the request
      return 'timeout';
    default:
      return undefined;
  }
}

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 10, capMs: 250 };

/**
 * "Full jitter" exponential backoff before retry number `retry` (1-based):
 * uniform in [0, min(cap, base × 2^(retry-1))], so retries of many requests
 * that failed together spread out instead of arriving together.
 */
export function backoffMs(retry: number, random: () => number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}
