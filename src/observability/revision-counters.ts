/**
 * What analysis reads: per revision, cumulative counts of finished requests,
 * errors and a log-scale latency histogram, fed by the gateway through the
 * `SignalSink` interface (per attempt, mirror copies included). Counters only
 * grow; a window is the difference between two snapshots, so canary and stable
 * are always compared over exactly the same stretch of time, however long the
 * analysis waits for enough requests. Beside them, the SLI counts the guard
 * after promotion reads, fed once per request through `SliSink` (sli-sink.ts),
 * as the Prometheus rules count.
 */
import type { SignalSink } from './hub.ts';
import { sliOfReport, type SignalReport } from './signal-report.ts';
import type { SliSink } from './sli-sink.ts';
import { LATENCY_BINS, latencyBin } from './latency-histogram.ts';
import { isErrorStatus } from './error-status.ts';
import { emptySliCounts, isAnswered, isServerError, type SliCounts } from './sli.ts';

/** A revision's requests over a window. */
export interface WindowCounts {
  requests: number;
  errors: number;
  /** Requests per latency bin (see latency-histogram.ts). */
  latency: Uint32Array;
}

export function emptyCounts(): WindowCounts {
  return { requests: 0, errors: 0, latency: new Uint32Array(LATENCY_BINS) };
}

/** `later − earlier`, bin by bin. */
export function countsBetween(earlier: WindowCounts, later: WindowCounts): WindowCounts {
  const latency = new Uint32Array(LATENCY_BINS);
  for (let i = 0; i < LATENCY_BINS; i++) latency[i] = later.latency[i]! - earlier.latency[i]!;
  return { requests: later.requests - earlier.requests, errors: later.errors - earlier.errors, latency };
}

export class RevisionCounters implements SignalSink, SliSink {
  readonly #byRevision = new Map<string, WindowCounts>();
  /** Requests as the SLIs count them (sli.ts), which the guard after promotion reads. */
  readonly #sli = new Map<string, SliCounts>();

  requestStarted(): void {}

  heldChanged(): void {}

  requestRefused(): void {}

  requestFinished(_service: string, revision: string, _endpoint: string, latencyMs: number, status: number): void {
    const c = this.#countsOf(revision);
    c.requests += 1;
    if (isErrorStatus(status)) c.errors += 1;
    c.latency[latencyBin(latencyMs)]! += 1;
  }

  requestAnswered(_service: string, revision: string, status: number, latencyMs: number): void {
    const s = this.#sliOf(revision);
    s.requests += 1;
    if (isServerError(status)) s.serverErrors += 1;
    if (isAnswered(status)) s.answered[latencyBin(latencyMs)]! += 1;
  }

  /** What a standalone gateway reported it finished (`POST /api/v1/signals`): added to the counts. */
  ingest(report: SignalReport): void {
    for (const r of report.revisions) {
      if (!(r.requests > 0)) continue;
      const c = this.#countsOf(r.revision);
      c.requests += r.requests;
      c.errors += Math.min(r.errors, r.requests);
      for (const [bin, n] of r.latency) if (bin >= 0 && bin < LATENCY_BINS && n > 0) c.latency[bin]! += n;
    }
    for (const r of sliOfReport(report)) {
      if (!(r.requests > 0)) continue;
      const s = this.#sliOf(r.revision);
      s.requests += r.requests;
      s.serverErrors += Math.min(r.serverErrors, r.requests);
      for (const [bin, n] of r.answered) if (bin >= 0 && bin < LATENCY_BINS && n > 0) s.answered[bin]! += n;
    }
  }

  /** A copy of the revision's counts so far (all zero for a revision never seen). */
  snapshot(revision: string): WindowCounts {
    const c = this.#byRevision.get(revision);
    return c === undefined ? emptyCounts() : { requests: c.requests, errors: c.errors, latency: c.latency.slice() };
  }

  /** A copy of the revision's SLI counts so far (all zero for a revision never seen). */
  sliSnapshot(revision: string): SliCounts {
    const c = this.#sli.get(revision);
    return c === undefined ? emptySliCounts() : { requests: c.requests, serverErrors: c.serverErrors, answered: c.answered.slice() };
  }

  /** Forgets revisions no rollout (or guard after one) compares any more. */
  retain(revisions: ReadonlySet<string>): void {
    for (const name of this.#byRevision.keys()) if (!revisions.has(name)) this.#byRevision.delete(name);
    for (const name of this.#sli.keys()) if (!revisions.has(name)) this.#sli.delete(name);
  }

  #sliOf(revision: string): SliCounts {
    let c = this.#sli.get(revision);
    if (c === undefined) {
      c = emptySliCounts();
      this.#sli.set(revision, c);
    }
    return c;
  }

  #countsOf(revision: string): WindowCounts {
    let c = this.#byRevision.get(revision);
    if (c === undefined) {
      c = emptyCounts();
      this.#byRevision.set(revision, c);
    }
    return c;
  }
}
