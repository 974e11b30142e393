/**
 * What the gateway finished since the last look, per revision, counted as the
 * SLIs count (sli.ts: requests, server errors, a latency histogram of the
 * answered ones) with the fastest and slowest answer. The dashboard's sampler
 * takes (and resets) it once a second into the history.
 *
 * An `SliSink` on the hot path (one outcome per request, sli-sink.ts): a map
 * lookup and a few increments per request.
 */
import { binMiddle, LATENCY_BINS, latencyBin } from './latency-histogram.ts';
import { sliOfReport, type SignalReport } from './signal-report.ts';
import { emptySliCounts, isAnswered, isServerError, type SliCounts } from './sli.ts';
import type { SliSink } from './sli-sink.ts';

export interface RevisionTally extends SliCounts {
  service: string;
  revision: string;
  /** The fastest and slowest answered request (Infinity / -Infinity when none). */
  minMs: number;
  maxMs: number;
}

export class RequestTally implements SliSink {
  readonly #revisions = new Map<string, RevisionTally>();

  requestAnswered(service: string, revision: string, status: number, latencyMs: number): void {
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
   * histogram bins, read as their middles; an older gateway's report is read as signal-report.ts
   * `sliOfReport` says, as revision-counters.ts reads it.
   */
  ingest(report: SignalReport): void {
    for (const r of sliOfReport(report)) {
      if (!(r.requests > 0)) continue;
      const t = this.#get(r.service, r.revision);
      t.requests += r.requests;
      t.serverErrors += Math.min(r.serverErrors, r.requests);
      for (const [bin, n] of r.answered) {
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
