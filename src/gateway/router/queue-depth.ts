/**
 * The queue depth each replica last reported (`x-karb-queue-depth`: rows
 * waiting at its batcher) and when. A report loses weight linearly with its
 * age and counts for nothing once `staleAfterMs` old, so a replica that
 * answered "busy" once is not shunned after it has caught up. Time comes in.
 * Also the replica's `x-karb-queue-ms` (its answer's wait in that queue), read
 * for the autoscaler's wait signal.
 */
export const QUEUE_DEPTH_HEADER = 'x-karb-queue-depth';

/** A reported depth `ageMs` old, weighed down linearly to 0 at `staleAfterMs`. */
export function decayedDepth(depth: number, ageMs: number, staleAfterMs: number): number {
  if (!(depth > 0) || ageMs >= staleAfterMs) return 0;
  return ageMs <= 0 ? depth : depth * (1 - ageMs / staleAfterMs);
}

/** Parses the header; anything but a non-negative whole number is ignored (undefined). */
export function parseQueueDepth(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 9) return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/**
 * How long a request waited in the replica's own queue (its batcher) before its batch began,
 * in milliseconds (a decimal): what the replica adds to the wait the gateway measures itself.
 */
export const QUEUE_MS_HEADER = 'x-karb-queue-ms';

/** Parses `x-karb-queue-ms`; anything but a finite non-negative number is ignored (undefined). */
export function parseQueueMs(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 16) return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export class ReportedQueueDepths {
  readonly #depth = new Map<string, number>();
  readonly #at = new Map<string, number>();
  readonly #staleAfterMs: number;

  constructor(staleAfterMs: number) {
    this.#staleAfterMs = staleAfterMs;
  }

  record(url: string, depth: number, now: number): void {
    this.#depth.set(url, depth);
    this.#at.set(url, now);
  }

  /** The decayed depth of one endpoint at `now`; 0 when it never reported. */
  at(url: string, now: number): number {
    const depth = this.#depth.get(url);
    if (depth === undefined) return 0;
    return decayedDepth(depth, now - this.#at.get(url)!, this.#staleAfterMs);
  }

  /** Forgets endpoints that left the table. */
  sweep(liveUrls: ReadonlySet<string>): void {
    for (const url of this.#depth.keys()) {
      if (liveUrls.has(url)) continue;
      this.#depth.delete(url);
      this.#at.delete(url);
    }
  }
}
