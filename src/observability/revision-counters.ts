/**
 * What analysis reads: per revision, cumulative counts of finished requests,
 * errors and a log-scale latency histogram, fed by the gateway through the
 * `SignalSink` interface. Counters only grow; a window is the difference
 * between two snapshots, so canary and stable are always compared over exactly
 * the same stretch of time, however long the analysis waits for enough requests.
 */
import type { SignalSink } from './hub.ts';
import type { SignalReport } from './signal-report.ts';
import { LATENCY_BINS, latencyBin } from './latency-histogram.ts';
import { isErrorStatus } from './error-status.ts';

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

export class RevisionCounters implements SignalSink {
  readonly #byRevision = new Map<string, WindowCounts>();

  requestStarted(): void {}

  heldChanged(): void {}

  requestFinished(_service: string, revision: string, _endpoint: string, latencyMs: number, status: number): void {
    const c = this.#countsOf(revision);
    c.requests += 1;
    if (isErrorStatus(status)) c.errors += 1;
    c.latency[latencyBin(latencyMs)]! += 1;
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
  }

  /** A copy of the revision's counts so far (all zero for a revision never seen). */
  snapshot(revision: string): WindowCounts {
    const c = this.#byRevision.get(revision);
    return c === undefined ? emptyCounts() : { requests: c.requests, errors: c.errors, latency: c.latency.slice() };
  }

  /** Forgets revisions no rollout compares any more. */
  retain(revisions: ReadonlySet<string>): void {
    for (const name of this.#byRevision.keys()) if (!revisions.has(name)) this.#byRevision.delete(name);
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
