/**
 * What the gateway finished since the last look, per revision, counted as the
 * SLIs count (sli.ts: requests, server errors, a latency histogram of the
 * answered ones) with the fastest and slowest answer. The dashboard's sampler
 * takes (and resets) it once a second into the history.
 *
 * A `SignalSink` on the hot path: a map lookup and a few increments per request.
 */
import type { SignalSink } from './hub.ts';
import { binMiddle, LATENCY_BINS, latencyBin } from './latency-histogram.ts';
import type { SignalReport } from './signal-report.ts';
import { emptySliCounts, isAnswered, isServerError, type SliCounts } from './sli.ts';

export interface RevisionTally extends SliCounts {
  service: string;
  revision: string;
  /** The fastest and slowest answered request (Infinity / -Infinity when none). */
  minMs: number;
  maxMs: number;
}

export class RequestTally implements SignalSink {
  readonly #revisions = new Map<string, RevisionTally>();

  requestStarted(): void {}

  heldChanged(): void {}

  requestFinished(service: string, revision: string, _endpoint: string, latencyMs: number, status: number, _replicaQueueDepth?: number): void {
    const t = this.#get(service, revision);
    t.requests += 1;
    if (isServerError(status)) t.serverErrors += 1;
    if (!isAnswered(status)) return;
    t.answered[latencyBin(latencyMs)]! += 1;
    if (latencyMs < t.minMs) t.minMs = latencyMs;
    if (latencyMs > t.maxMs) t.maxMs = latencyMs;
  }

  /**
   * What a standalone gateway reported it finished (`POST /api/v1/signals`). Its latencies are
   * histogram bins, read as their middles; a gateway that sends no SLI counts has its errors
   * (429 included) count as server errors and every request as answered, as revision-counters.ts does.
   */
  ingest(report: SignalReport): void {
    for (const r of report.revisions) {
      if (!(r.requests > 0)) continue;
      const t = this.#get(r.service, r.revision);
      t.requests += r.requests;
      const sli = r.serverErrors !== undefined && r.answered !== undefined;
      t.serverErrors += Math.min(sli ? r.serverErrors! : r.errors, r.requests);
      for (const [bin, n] of sli ? r.answered! : r.latency) {
        if (!(bin >= 0 && bin < LATENCY_BINS && n > 0)) continue;
        t.answered[bin]! += n;
        const ms = binMiddle(bin);
        if (ms < t.minMs) t.minMs = ms;
        if (ms > t.maxMs) t.maxMs = ms;
      }
    }
  }

  #get(service: string, revision: string): RevisionTally {
    let t = this.#revisions.get(revision);
    if (t === undefined) {
      t = { service, revision, ...emptySliCounts(), minMs: Infinity, maxMs: -Infinity };
      this.#revisions.set(revision, t);
    }
    return t;
  }

  /** Everything tallied since the last call, per revision; starts afresh. */
  take(): RevisionTally[] {
    const out = [...this.#revisions.values()];
    this.#revisions.clear();
    return out;
  }
}
