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
