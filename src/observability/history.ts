/**
 * The dashboard's memory: one point a second per service (replicas, queue,
 * held requests, cold starts) with one entry per revision that served or ran
 * (requests, errors, latency quantiles and their histogram), for the last hour
 * by default. Bounded: each service keeps at most `capacity` points, oldest
 * dropped first; a service no longer known is forgotten whole.
 *
 * Pure: the sampler (src/control/history-sampler.ts) builds points with its
 * clock's time and records them; reading takes the time range it wants.
 */
import { histogramQuantile } from './latency-histogram.ts';
import { emptySliCounts, type SliCounts } from './sli.ts';

export interface RevisionPoint {
  /** Requests finished in the point's interval, and per second. */
  requests: number;
  rps: number;
  /** Server errors as the availability SLI counts them (sli.ts `isServerError`). */
  errors: number;
  /** Latency quantiles of the answered requests (sli.ts `isAnswered`). */
  p50Ms?: number;
  p95Ms?: number;
  p99Ms?: number;
  /** Ready replicas of the revision, and its share of traffic (percent). */
  ready: number;
  traffic: number;
  /** The answered requests' latencies as sparse [bin, count] pairs (latency-histogram.ts): for windows' SLIs and quantiles. */
  answered: Array<[number, number]>;
  /** The fastest and slowest answer in the interval (quantiles are clamped to them). */
  minMs?: number;
  maxMs?: number;
}

export interface ServicePoint {
  /** Milliseconds since the epoch at the end of the interval. */
  t: number;
  /** The service's replicas, all revisions: ready, and desired as the reconciler runs them. */
  ready: number;
  desired: number;
  /** Requests waiting (gateway queue, replica queues, held) and held while no replica is ready. */
  queueDepth: number;
  held: number;
  /** Replicas that became ready in the interval: how long each took from spawn (ms). */
  coldStarts: number[];
  revisions: Record<string, RevisionPoint>;
  /** The autoscaler changed its desired count since the previous point: from, to, and why. */
  scale?: ScaleMark;
}

export interface ScaleMark {
  from: number;
  to: number;
  reason: string;
  message: string;
}

/** A point as the dashboard's API serves it: without the histograms. */
export type ServicePointView = Omit<ServicePoint, 'revisions'> & { revisions: Record<string, Omit<RevisionPoint, 'answered' | 'minMs' | 'maxMs'>> };

export interface HistoryOptions {
  /** Points kept per service (default 3600: an hour at one a second). */
  capacity?: number;
}

export class History {
  readonly capacity: number;
  readonly #series = new Map<string, ServicePoint[]>();

  constructor(options: HistoryOptions = {}) {
    this.capacity = options.capacity ?? 3600;
    if (!(this.capacity >= 1)) throw new RangeError(`history capacity must be at least 1, got ${this.capacity}`);
  }

  /** Appends a point for `service` (`namespace/name`); points come in time order. */
  record(service: string, point: ServicePoint): void {
    let series = this.#series.get(service);
    if (series === undefined) this.#series.set(service, (series = []));
    series.push(point);
    // Dropping in chunks keeps the cost of the shift off most seconds.
    if (series.length > this.capacity) series.splice(0, series.length - this.capacity);
  }

  /** The points of `service` with `t > since` (all by default), oldest first. */
  points(service: string, since = -Infinity): readonly ServicePoint[] {
    const series = this.#series.get(service) ?? [];
    if (since === -Infinity) return series;
    let lo = 0;
    let hi = series.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (series[mid]!.t > since) hi = mid;
      else lo = mid + 1;
    }
    return series.slice(lo);
  }

  services(): string[] {
    return [...this.#series.keys()];
  }

  /** Forgets every service not in `keep` (deleted ones). */
  retain(keep: ReadonlySet<string>): void {
    for (const key of this.#series.keys()) if (!keep.has(key)) this.#series.delete(key);
  }
}

/** A point without its histograms, for JSON. */
export function pointView(p: ServicePoint): ServicePointView {
  const revisions: ServicePointView['revisions'] = {};
  for (const [name, r] of Object.entries(p.revisions)) {
    const { answered: _answered, minMs: _min, maxMs: _max, ...rest } = r;
    revisions[name] = rest;
  }
  return { ...p, revisions };
}

/** The p50, p95 and p99 of a histogram of `total` requests, clamped to [min, max]. */
export function quantiles(histogram: Uint32Array, total: number, min: number, max: number): Pick<RevisionPoint, 'p50Ms' | 'p95Ms' | 'p99Ms'> {
  if (!(total > 0)) return {};
  return {
    p50Ms: histogramQuantile(histogram, total, 0.5, min, max)!,
    p95Ms: histogramQuantile(histogram, total, 0.95, min, max)!,
    p99Ms: histogramQuantile(histogram, total, 0.99, min, max)!,
  };
}

/** A dense histogram as sparse [bin, count] pairs. */
export function sparse(histogram: Uint32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < histogram.length; i++) if (histogram[i]! > 0) out.push([i, histogram[i]!]);
  return out;
}

export interface WindowTotals extends SliCounts {
  /** The answered requests' p95, if any was answered. */
  p95Ms?: number;
  /** Seconds the window's points cover (0 without points). */
  seconds: number;
}

/**
 * Every revision's SLI counts in the points with `from < t ≤ to`, summed, and
 * the p95 of the merged answered latencies.
 */
export function windowTotals(points: readonly ServicePoint[], from: number, to: number): WindowTotals {
  const c = emptySliCounts();
  let answered = 0;
  let min = Infinity;
  let max = -Infinity;
  let first: number | undefined;
  let last: number | undefined;
  for (const p of points) {
    if (!(p.t > from && p.t <= to)) continue;
    first ??= p.t;
    last = p.t;
    for (const r of Object.values(p.revisions)) {
      c.requests += r.requests;
      c.serverErrors += r.errors;
      for (const [bin, n] of r.answered) {
        c.answered[bin]! += n;
        answered += n;
      }
      if (r.minMs !== undefined && r.minMs < min) min = r.minMs;
      if (r.maxMs !== undefined && r.maxMs > max) max = r.maxMs;
    }
  }
  const out: WindowTotals = { ...c, seconds: first === undefined ? 0 : (last! - first) / 1000 + 1 };
  const q = quantiles(c.answered, answered, min, max).p95Ms;
  if (q !== undefined) out.p95Ms = q;
  return out;
}
