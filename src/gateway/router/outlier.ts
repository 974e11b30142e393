/**
 * Outlier ejection (Envoy's consecutive-5xx detector): an endpoint that fails
 * `consecutiveFailures` times in a row (5xx answers, connect errors, resets,
 * per-try timeouts), or times out `consecutiveTimeouts` times without a
 * success between, is ejected — skipped by the picker — for
 * `baseEjectionMs × n` (n: how many times it has been ejected, the time
 * capped at `maxEjectionMs`).
 *
 * Timeouts eject sooner because each one is dear and says more: a 5xx or a
 * refused connection costs the caller milliseconds, a per-try timeout a whole
 * try (≥ 1 s, 4 × the p95 target, routing-table.ts), so five in a row would
 * be five callers each losing seconds to a replica that is plainly hung
 * (SIGSTOP, a wedged worker: its port still accepts, only readiness probes
 * would notice, seconds later). A healthy replica reaches 4 × its p95 target
 * about never; two timeouts with no success between are the evidence. The cap
 * on ejected endpoints (below) keeps a fleet-wide slowdown, where every
 * replica times out, from ejecting more than half of them.
 *
 * One success resets both streaks; after a healthy stretch as long as its
 * last ejection its ejection count decays by one. Never more than half of a
 * revision's endpoints are ejected at once: past that, a failing replica
 * keeps its share rather than overloading the rest. Time comes in as `now`.
 */
export interface OutlierOptions {
  /** Failures in a row that eject an endpoint. Default 5. */
  consecutiveFailures?: number;
  /** Per-try timeouts without a success between them that eject an endpoint. Default 2. */
  consecutiveTimeouts?: number;
  /** Ejection time for the first ejection; grows by this much each time. Default 30 s. */
  baseEjectionMs?: number;
  /** Longest ejection. Default 300 s. */
  maxEjectionMs?: number;
  /** Largest share of a revision's endpoints ejected at once. Default 0.5. */
  maxEjectedShare?: number;
}

interface EndpointHealth {
  streak: number;
  /** Per-try timeouts since the last success. */
  timeouts: number;
  ejections: number;
  /** Clock ms until which it is ejected; 0 when not ejected. */
  ejectedUntil: number;
  /** When its last ejection ended (for decaying `ejections`). */
  healthySince: number;
}

export type FailureOutcome =
  | { ejected: false; reason: 'BelowThreshold' | 'AlreadyEjected' | 'MaxEjectedShare' }
  | { ejected: true; reason: 'ConsecutiveFailures' | 'ConsecutiveTimeouts'; forMs: number };

export class OutlierDetector {
  readonly #health = new Map<string, EndpointHealth>();
  readonly #threshold: number;
  readonly #timeoutThreshold: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #maxShare: number;

  constructor(options: OutlierOptions = {}) {
    this.#threshold = options.consecutiveFailures ?? 5;
    this.#timeoutThreshold = options.consecutiveTimeouts ?? 2;
    this.#baseMs = options.baseEjectionMs ?? 30_000;
    this.#maxMs = options.maxEjectionMs ?? 300_000;
    this.#maxShare = options.maxEjectedShare ?? 0.5;
  }

  isEjected(url: string, now: number): boolean {
    const h = this.#health.get(url);
    return h !== undefined && h.ejectedUntil > now;
  }

  recordSuccess(url: string, now: number): void {
    const h = this.#health.get(url);
    if (h === undefined) return;
    h.streak = 0;
    h.timeouts = 0;
    if (h.ejectedUntil > 0 && h.ejectedUntil <= now) {
      h.healthySince = h.ejectedUntil;
      h.ejectedUntil = 0;
    }
    // A healthy stretch as long as the last ejection forgives one ejection.
    if (h.ejections > 0 && h.ejectedUntil === 0 && now - h.healthySince >= this.#ejectionMs(h.ejections)) {
      h.ejections--;
      h.healthySince = now;
    }
    if (h.ejections === 0 && h.ejectedUntil === 0) this.#health.delete(url);
  }

  /**
   * Counts a failure of `url`, one of `revisionUrls` (`timedOut`: a per-try timeout); ejects it
   * when a streak is long enough.
   */
  recordFailure(url: string, revisionUrls: readonly string[], now: number, timedOut = false): FailureOutcome {
    let h = this.#health.get(url);
    if (h === undefined) {
      h = { streak: 0, timeouts: 0, ejections: 0, ejectedUntil: 0, healthySince: now };
      this.#health.set(url, h);
    }
    if (h.ejectedUntil > now) return { ejected: false, reason: 'AlreadyEjected' };
    h.streak++;
    if (timedOut) h.timeouts++;
    const byTimeouts = h.timeouts >= this.#timeoutThreshold;
    if (h.streak < this.#threshold && !byTimeouts) return { ejected: false, reason: 'BelowThreshold' };
    let ejected = 0;
    for (const u of revisionUrls) if (u !== url && this.isEjected(u, now)) ejected++;
    if (ejected + 1 > Math.floor(revisionUrls.length * this.#maxShare)) return { ejected: false, reason: 'MaxEjectedShare' };
    h.ejections++;
    h.streak = 0;
    h.timeouts = 0;
    const forMs = this.#ejectionMs(h.ejections);
    h.ejectedUntil = now + forMs;
    return { ejected: true, reason: byTimeouts ? 'ConsecutiveTimeouts' : 'ConsecutiveFailures', forMs };
  }

  /** Endpoints ejected at `now`, among `urls`. */
  ejectedCount(urls: Iterable<string>, now: number): number {
    let n = 0;
    for (const u of urls) if (this.isEjected(u, now)) n++;
    return n;
  }

  /** Forgets endpoints that left the table. */
  sweep(liveUrls: ReadonlySet<string>): void {
    for (const url of this.#health.keys()) if (!liveUrls.has(url)) this.#health.delete(url);
  }

  #ejectionMs(ejections: number): number {
    return Math.min(this.#maxMs, this.#baseMs * ejections);
  }
}
