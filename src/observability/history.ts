/**
 * The dashboard's memory: one point a second per service (replicas, queue,
 * held requests, cold starts) with one entry per revision that served or ran
 * (requests, errors, latency quantiles and their histogram).
 *
 * | a point's age         | kept as                                                        |
 * | --------------------- | -------------------------------------------------------------- |
 * | up to 5 min           | sampled, one a second                                          |
 * | 5 min to 1 h          | one rollup a minute: counts and histograms summed, rates over  |
 * |                       | the minute, quantiles of its merged histogram, the maximum of  |
 * |                       | replicas, queue and held, its scale changes as one mark        |
 * | older                 | dropped                                                        |
 *
 * So a service holds about 300 sampled points and at most 61 rollups however
 * long karb runs (`HistoryOptions` changes the spans): about 0.55 MiB of heap
 * with one revision, 1 MiB with two (bench/history-memory.ts; an hour of
 * one-second points took 5.1 and 9.6 MiB). At most `maxServices` (200)
 * services have a history, so the whole is bounded by about 110 MiB (200 MiB
 * were every service mid-rollout), not by uptime. A service no longer known is
 * forgotten whole.
 *
 * Pure: the sampler (src/control/history-sampler.ts) builds points with its
 * clock's time and records them; reading takes the time range it wants.
 */
import { histogramQuantile, LATENCY_BINS } from './latency-histogram.ts';
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
  /** Seconds the point covers: the time since the sample before, or a rollup's sum of them (1 when absent). */
  seconds?: number;
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
  /** How many changes a rollup's mark stands for (from the first's `from` to the last's `to`, the last's reason); 1 when absent. */
  changes?: number;
}

/** A point as the dashboard's API serves it: without the histograms. */
export type ServicePointView = Omit<ServicePoint, 'revisions'> & { revisions: Record<string, Omit<RevisionPoint, 'answered' | 'minMs' | 'maxMs'>> };

export interface HistoryOptions {
  /** How long points stay as sampled (default 5 min: the SLO status's short window and the 5-minute charts read them). */
  fullResolutionMs?: number;
  /** Older points are merged into one per this much time (default 1 min). */
  rollupMs?: number;
  /** How far back a service's history goes (default 1 h: the SLO status's long window). */
  spanMs?: number;
  /** At most this many services have a history (default 200); a service beyond them is refused until one is forgotten. */
  maxServices?: number;
}

/** One service's points: `rolled` rollups (oldest first), then the points as sampled. */
interface Series {
  points: ServicePoint[];
  rolled: number;
}

/** Cold starts a rollup keeps (the first of its span); a minute rarely holds more. */
const MAX_ROLLUP_COLD_STARTS = 32;

export class History {
  readonly fullResolutionMs: number;
  readonly rollupMs: number;
  readonly spanMs: number;
  readonly maxServices: number;
  /** Sampled points kept per service even when the clock stalls or samples come fast: two a second over fullResolutionMs. */
  readonly #maxSampled: number;
  /** Rollups kept per service: one per rollupMs over spanMs, and the one being filled. */
  readonly #maxRollups: number;
  readonly #series = new Map<string, Series>();

  constructor(options: HistoryOptions = {}) {
    this.fullResolutionMs = options.fullResolutionMs ?? 5 * 60_000;
    this.rollupMs = options.rollupMs ?? 60_000;
    this.spanMs = options.spanMs ?? 60 * 60_000;
    this.maxServices = options.maxServices ?? 200;
    if (!(this.fullResolutionMs >= 1_000)) throw new RangeError(`history fullResolutionMs must be at least 1000, got ${this.fullResolutionMs}`);
    if (!(this.rollupMs >= 1_000)) throw new RangeError(`history rollupMs must be at least 1000, got ${this.rollupMs}`);
    if (!(this.spanMs >= this.fullResolutionMs)) throw new RangeError(`history spanMs must be at least fullResolutionMs (${this.fullResolutionMs}), got ${this.spanMs}`);
    if (!(Number.isInteger(this.maxServices) && this.maxServices >= 1)) throw new RangeError(`history maxServices must be a whole number of at least 1, got ${this.maxServices}`);
    this.#maxSampled = Math.ceil((2 * this.fullResolutionMs) / 1_000);
    this.#maxRollups = Math.ceil(this.spanMs / this.rollupMs) + 1;
  }

  /**
   * Appends a point for `service` (`namespace/name`); points come in time order. Points older
   * than fullResolutionMs are merged into their rollup, rollups older than spanMs dropped.
   * False (and nothing kept) when `service` has no history and maxServices already do.
   */
  record(service: string, point: ServicePoint): boolean {
    let series = this.#series.get(service);
    if (series === undefined) {
      if (this.#series.size >= this.maxServices) return false;
      this.#series.set(service, (series = { points: [], rolled: 0 }));
    }
    const { points } = series;
    points.push(point);
    const horizon = point.t - this.fullResolutionMs;
    while (points.length > series.rolled && (points[series.rolled]!.t <= horizon || points.length - series.rolled > this.#maxSampled)) {
      const oldest = points[series.rolled]!;
      const rollup = series.rolled > 0 ? points[series.rolled - 1]! : undefined;
      if (rollup !== undefined && this.#bucket(rollup.t) === this.#bucket(oldest.t)) {
        mergeInto(rollup, oldest);
        points.splice(series.rolled, 1);
      } else {
        points[series.rolled] = startRollup(oldest);
        series.rolled += 1;
      }
    }
    const end = point.t - this.spanMs;
    let drop = 0;
    while (drop < series.rolled && (points[drop]!.t <= end || series.rolled - drop > this.#maxRollups)) drop++;
    if (drop > 0) {
      points.splice(0, drop);
      series.rolled -= drop;
    }
    return true;
  }

  /** The points of `service` with `t > since` (all by default), oldest first: its rollups, then its sampled points. */
  points(service: string, since = -Infinity): readonly ServicePoint[] {
    const series = this.#series.get(service)?.points ?? [];
    if (since === -Infinity) return series;
    return series.slice(firstAfter(series, since));
  }

  /** Whether `service` has no history because maxServices others have one. */
  refuses(service: string): boolean {
    return !this.#series.has(service) && this.#series.size >= this.maxServices;
  }

  /** Forgets every service not in `keep` (deleted ones). */
  retain(keep: ReadonlySet<string>): void {
    for (const key of this.#series.keys()) if (!keep.has(key)) this.#series.delete(key);
  }

  /** The rollup a time falls in: (k − 1)·rollupMs < t ≤ k·rollupMs. */
  #bucket(t: number): number {
    return Math.ceil(t / this.rollupMs);
  }
}

/** A new rollup holding one point (copied: a rollup is changed as points join it). */
function startRollup(p: ServicePoint): ServicePoint {
  const revisions: Record<string, RevisionPoint> = {};
  for (const [name, r] of Object.entries(p.revisions)) revisions[name] = { ...r };
  const rollup: ServicePoint = { ...p, seconds: p.seconds ?? 1, coldStarts: p.coldStarts.slice(0, MAX_ROLLUP_COLD_STARTS), revisions };
  if (p.scale !== undefined) rollup.scale = { ...p.scale };
  return rollup;
}

/**
 * Adds the later point `p` to `rollup`: counts and histograms summed, rates over the seconds
 * covered, quantiles from the merged histogram, the gauges' (replicas, queue, held) maximum,
 * each revision's latest traffic share, the scale changes as one from the first count to the last.
 */
function mergeInto(rollup: ServicePoint, p: ServicePoint): void {
  rollup.t = p.t;
  const seconds = (rollup.seconds ?? 1) + (p.seconds ?? 1);
  rollup.seconds = seconds;
  rollup.ready = Math.max(rollup.ready, p.ready);
  rollup.desired = Math.max(rollup.desired, p.desired);
  rollup.queueDepth = Math.max(rollup.queueDepth, p.queueDepth);
  rollup.held = Math.max(rollup.held, p.held);
  for (const c of p.coldStarts) if (rollup.coldStarts.length < MAX_ROLLUP_COLD_STARTS) rollup.coldStarts.push(c);
  if (p.scale !== undefined) {
    rollup.scale = rollup.scale === undefined ? { ...p.scale } : { ...p.scale, from: rollup.scale.from, changes: (rollup.scale.changes ?? 1) + (p.scale.changes ?? 1) };
  }
  for (const [name, r] of Object.entries(p.revisions)) {
    const into = rollup.revisions[name];
    if (into === undefined) {
      rollup.revisions[name] = { ...r };
      continue;
    }
    into.requests += r.requests;
    into.errors += r.errors;
    into.ready = Math.max(into.ready, r.ready);
    into.traffic = r.traffic;
    if (r.answered.length > 0) into.answered = mergePairs(into.answered, r.answered);
    if (r.minMs !== undefined && !(into.minMs !== undefined && into.minMs <= r.minMs)) into.minMs = r.minMs;
    if (r.maxMs !== undefined && !(into.maxMs !== undefined && into.maxMs >= r.maxMs)) into.maxMs = r.maxMs;
  }
  for (const r of Object.values(rollup.revisions)) {
    r.rps = r.requests / seconds;
    delete r.p50Ms;
    delete r.p95Ms;
    delete r.p99Ms;
    if (r.minMs !== undefined && r.maxMs !== undefined) Object.assign(r, quantiles(dense(r.answered), countOf(r.answered), r.minMs, r.maxMs));
  }
}

/** Two sparse histograms (bin order) summed into a new one. */
function mergePairs(a: ReadonlyArray<readonly [number, number]>, b: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x[0] < y[0])) {
      out.push([x![0], x![1]]);
      i++;
    } else if (x === undefined || y[0] < x[0]) {
      out.push([y[0], y[1]]);
      j++;
    } else {
      out.push([x[0], x[1] + y[1]]);
      i++;
      j++;
    }
  }
  return out;
}

/** Reused by `dense`: the sampler's thread reads one histogram at a time. */
const scratch = new Uint32Array(LATENCY_BINS);

function dense(pairs: ReadonlyArray<readonly [number, number]>): Uint32Array {
  scratch.fill(0);
  for (const [bin, n] of pairs) if (bin >= 0 && bin < LATENCY_BINS) scratch[bin]! += n;
  return scratch;
}

function countOf(pairs: ReadonlyArray<readonly [number, number]>): number {
  let n = 0;
  for (const [, c] of pairs) n += c;
  return n;
}

/** The index of the first point with `t > since` (points are in time order). */
function firstAfter(points: readonly ServicePoint[], since: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid]!.t > since) hi = mid;
    else lo = mid + 1;
  }
  return lo;
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

export interface WindowTotals extends SliCounts {
  /** The answered requests' p95, if any was answered. */
  p95Ms?: number;
  /** Seconds the window's points cover (0 without points). */
  seconds: number;
}

/**
 * Every revision's SLI counts in the points with `from < t ≤ to`, summed, and
 * the p95 of the merged answered latencies. A rollup counts whole when its
 * last second is in the window.
 */
export function windowTotals(points: readonly ServicePoint[], from: number, to: number): WindowTotals {
  return nestedWindowTotals(points, to, [from])[0]!;
}

/**
 * `windowTotals(points, from, to)` for each of `froms` (latest first: each
 * window holds the one before it), in one walk back from `to`: each point is
 * read once, and only the points in the widest window.
 */
export function nestedWindowTotals(points: readonly ServicePoint[], to: number, froms: readonly number[]): WindowTotals[] {
  const c = emptySliCounts();
  let answered = 0;
  let min = Infinity;
  let max = -Infinity;
  let first: ServicePoint | undefined;
  let last: ServicePoint | undefined;
  const out: WindowTotals[] = [];
  let i = firstAfter(points, to) - 1;
  let previous = Infinity;
  for (const from of froms) {
    if (!(from <= previous)) throw new RangeError(`nested windows start latest first; ${from} comes after ${previous}`);
    previous = from;
    for (; i >= 0 && points[i]!.t > from; i--) {
      const p = points[i]!;
      last ??= p;
      first = p;
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
    const totals: WindowTotals = {
      requests: c.requests,
      serverErrors: c.serverErrors,
      answered: c.answered.slice(),
      seconds: first === undefined ? 0 : (last!.t - first.t) / 1000 + (first.seconds ?? 1),
    };
    const q = quantiles(c.answered, answered, min, max).p95Ms;
    if (q !== undefined) totals.p95Ms = q;
    out.push(totals);
  }
  return out;
}
