/**
 * Observe: a revision's raw samples in, `WindowSignals` for the stable and panic
 * windows out. Samples land in a ring of fixed time buckets (1 s by default)
 * that covers the stable window, so memory stays bounded however long it runs,
 * and every reading takes an explicit `now`.
 *
 * What each signal means:
 * - requestRate: completions in the window ÷ the window's observed length (the
 *   window is shorter while the recorder is younger than it); refusedRate likewise for requests
 *   turned away before a replica began them (absent when none was).
 * - errorRate: failed ÷ completed, failed as `isErrorStatus` says (no response, 429, 5xx).
 * - p50Ms / p95Ms: from per-bucket log-scale histograms (see latency-histogram.ts):
 *   within ±4.5% of the exact nearest-rank quantile of the window's samples.
 * - waitP95Ms: the p95 of how long requests waited before a replica began them (gateway queue,
 *   held while cold, a replica's own queue), from the same histograms: the part of latency more
 *   replicas can remove, where the rest is the request's own service time.
 * - concurrency / queueDepth: time-weighted averages of the gauges. A gauge
 *   holds its last value until the next sample, for at most `gaugeStaleMs`, so
 *   sampling cadence does not bias the average.
 * - queueGrowthPerSec: the queue's average over the later half of the window's
 *   completed buckets minus the earlier half, divided by the distance between them.
 * - cpuUtilization / gpuUtilization / kvCacheUsage: each replica's average over the window,
 *   then the mean across replicas that reported.
 * Missing data stays undefined, never 0: no samples of a kind in a window means
 * that signal is absent from it. A request rate of 0 is data: it needs the
 * recorder to have been observing (any sample, or `startedAt`).
 */
import type { PodSignal, Signals, WindowSignals } from './signals.ts';
import { isErrorStatus } from './error-status.ts';
import { LATENCY_BINS, binMiddle, histogramQuantile, latencyBin } from './latency-histogram.ts';

export interface SignalRecorderOptions {
  /** Stable window, ms (default 60 s). */
  stableWindowMs?: number;
  /** Panic window, ms (default 6 s). */
  panicWindowMs?: number;
  /** Bucket width, ms (default 1 s); both windows must be whole multiples of it. */
  bucketMs?: number;
  /** How long a gauge keeps its last value without a new sample (default: the stable window). */
  gaugeStaleMs?: number;
  /** When observation began (ms since the epoch); by default, the first sample's time. */
  startedAt?: number;
}

export interface WindowPair {
  stable: WindowSignals;
  panic: WindowSignals;
}

interface Gauge {
  area: Float64Array;
  time: Float64Array;
  last?: number;
  lastAt: number;
}

interface Util {
  sum: number;
  n: number;
}

const COLD_STARTS_KEPT = 5;

export class SignalRecorder {
  readonly stableWindowMs: number;
  readonly panicWindowMs: number;
  readonly bucketMs: number;
  readonly #gaugeStaleMs: number;
  readonly #size: number;
  #observedSince: number | undefined;
  #lastRequestAt: number | undefined;
  #coldStarts: number[] = [];

  // One slot per bucket, reused round the ring; #index holds the bucket number a slot has now.
  readonly #index: Float64Array;
  readonly #count: Float64Array;
  readonly #errors: Float64Array;
  readonly #refused: Float64Array;
  readonly #latMin: Float64Array;
  readonly #latMax: Float64Array;
  readonly #hist: (Uint32Array | undefined)[];
  readonly #cpu: Map<string, Util>[];
  readonly #gpu: Map<string, Util>[];
  readonly #kvCache: Map<string, Util>[];
  readonly #concurrency: Gauge;
  readonly #queue: Gauge;
  readonly #wait: SampleRing;
  readonly #scratch = new Uint32Array(LATENCY_BINS);

  constructor(options: SignalRecorderOptions = {}) {
    this.stableWindowMs = options.stableWindowMs ?? 60_000;
    this.panicWindowMs = options.panicWindowMs ?? 6_000;
    this.bucketMs = options.bucketMs ?? 1_000;
    this.#gaugeStaleMs = options.gaugeStaleMs ?? this.stableWindowMs;
    this.#observedSince = options.startedAt;
    const { stableWindowMs: stable, panicWindowMs: panic, bucketMs: bucket } = this;
    if (!(bucket > 0) || !(panic >= bucket) || !(stable >= panic) || stable % bucket !== 0 || panic % bucket !== 0) {
      throw new RangeError(
        `signal windows need 0 < bucketMs ≤ panicWindowMs ≤ stableWindowMs, both windows whole multiples of bucketMs; got bucket ${bucket}, panic ${panic}, stable ${stable}`,
      );
    }
    const size = stable / bucket;
    this.#size = size;
    this.#index = new Float64Array(size).fill(-1);
    this.#count = new Float64Array(size);
    this.#errors = new Float64Array(size);
    this.#refused = new Float64Array(size);
    this.#latMin = new Float64Array(size).fill(Infinity);
    this.#latMax = new Float64Array(size).fill(-Infinity);
    this.#hist = new Array<Uint32Array | undefined>(size).fill(undefined);
    this.#cpu = Array.from({ length: size }, () => new Map<string, Util>());
    this.#gpu = Array.from({ length: size }, () => new Map<string, Util>());
    this.#kvCache = Array.from({ length: size }, () => new Map<string, Util>());
    this.#concurrency = { area: new Float64Array(size), time: new Float64Array(size), lastAt: -Infinity };
    this.#queue = { area: new Float64Array(size), time: new Float64Array(size), lastAt: -Infinity };
    this.#wait = new SampleRing(size);
  }

  /** A completed request: when it finished, how long it took, and its HTTP status (0 = no response). */
  recordRequest(at: number, latencyMs: number, status: number): void {
    this.#observe(at);
    if (this.#lastRequestAt === undefined || at > this.#lastRequestAt) this.#lastRequestAt = at;
    const slot = this.#slot(at);
    if (slot < 0) return;
    this.#count[slot]! += 1;
    if (isErrorStatus(status)) this.#errors[slot]! += 1;
    if (latencyMs < this.#latMin[slot]!) this.#latMin[slot] = latencyMs;
    if (latencyMs > this.#latMax[slot]!) this.#latMax[slot] = latencyMs;
    let hist = this.#hist[slot];
    if (!hist) hist = this.#hist[slot] = new Uint32Array(LATENCY_BINS);
    hist[latencyBin(latencyMs)]! += 1;
  }

  /**
   * Requests another gateway finished since its last report, added at `at`:
   * `latency` is a sparse histogram of [bin, count] pairs.
   */
  recordRequests(at: number, requests: number, errors: number, latency: ReadonlyArray<readonly [number, number]>): void {
    if (!(requests > 0)) return;
    this.#observe(at);
    if (this.#lastRequestAt === undefined || at > this.#lastRequestAt) this.#lastRequestAt = at;
    const slot = this.#slot(at);
    if (slot < 0) return;
    this.#count[slot]! += requests;
    this.#errors[slot]! += Math.min(errors, requests);
    let hist = this.#hist[slot];
    if (!hist) hist = this.#hist[slot] = new Uint32Array(LATENCY_BINS);
    for (const [bin, n] of latency) {
      if (!(bin >= 0 && bin < LATENCY_BINS) || !(n > 0)) continue;
      hist[bin]! += n;
      const ms = binMiddle(bin);
      if (ms < this.#latMin[slot]!) this.#latMin[slot] = ms;
      if (ms > this.#latMax[slot]!) this.#latMax[slot] = ms;
    }
  }

  /** A request a replica began at `at` after waiting `waitMs` (in the gateway's queue, held while cold, or in the replica's own queue). */
  recordWait(at: number, waitMs: number): void {
    if (!(waitMs >= 0)) return;
    this.#observe(at);
    const slot = this.#slot(at);
    if (slot >= 0) this.#wait.add(slot, waitMs);
  }

  /**
   * Waits another gateway reported since its last report, added at `at`: `waits` is a sparse
   * histogram of [bin, count] pairs (each wait counts as its bin's middle, as `recordRequests` does).
   */
  recordWaits(at: number, waits: ReadonlyArray<readonly [number, number]>): void {
    if (waits.length === 0) return;
    this.#observe(at);
    const slot = this.#slot(at);
    if (slot < 0) return;
    for (const [bin, n] of waits) if (bin >= 0 && bin < LATENCY_BINS && n > 0) this.#wait.addBin(slot, bin, n);
  }

  /** `count` requests turned away at `at` before a replica began them: refused at a full queue, or timed out waiting. */
  recordRefused(at: number, count = 1): void {
    if (!(count > 0)) return;
    this.#observe(at);
    const slot = this.#slot(at);
    if (slot >= 0) this.#refused[slot]! += count;
  }

  /** In-flight requests across the revision (gateway view), sampled at `at`. */
  recordConcurrency(at: number, inFlight: number): void {
    this.#observe(at);
    this.#setGauge(this.#concurrency, at, inFlight);
  }

  /** Requests waiting (gateway queue + replica queues + held while cold), sampled at `at`. */
  recordQueueDepth(at: number, depth: number): void {
    this.#observe(at);
    this.#setGauge(this.#queue, at, depth);
  }

  /** One replica's CPU utilization relative to its request (0..1+). */
  recordCpu(at: number, replica: string, utilization: number): void {
    this.#observe(at);
    this.#addUtil(this.#cpu, at, replica, utilization);
  }

  /** One replica's GPU utilization (0..1). Never call it where there is no GPU. */
  recordGpu(at: number, replica: string, utilization: number): void {
    this.#observe(at);
    this.#addUtil(this.#gpu, at, replica, utilization);
  }

  /** The share of one replica's KV cache in use (0..1), as it reports it (replica-load.ts). */
  recordKvCache(at: number, replica: string, usage: number): void {
    this.#observe(at);
    this.#addUtil(this.#kvCache, at, replica, usage);
  }

  /** A replica went from spawn to ready in `ms`. */
  recordColdStart(at: number, ms: number): void {
    this.#observe(at);
    this.#coldStarts.push(ms);
    if (this.#coldStarts.length > COLD_STARTS_KEPT) this.#coldStarts.shift();
  }

  /** The slowest of the last few cold starts (a cautious estimate of the next), if any was seen. */
  get coldStartMs(): number | undefined {
    return this.#coldStarts.length > 0 ? Math.max(...this.#coldStarts) : undefined;
  }

  /** When the latest completed request finished, if any. */
  get lastRequestAt(): number | undefined {
    return this.#lastRequestAt;
  }

  /** Both windows at `now`. */
  windows(now: number): WindowPair {
    return { stable: this.window(now, this.stableWindowMs), panic: this.window(now, this.panicWindowMs) };
  }

  /** Everything a decider reads at `now`, given what the runtime knows about the replicas. */
  signals(now: number, replicas: { ready: number; current: number; pods?: PodSignal[]; replicaCapacityRps?: number }): Signals {
    const out: Signals = { ...this.windows(now), readyReplicas: replicas.ready, currentReplicas: replicas.current };
    if (replicas.pods) out.pods = replicas.pods;
    if (replicas.replicaCapacityRps !== undefined) out.replicaCapacityRps = replicas.replicaCapacityRps;
    const coldStartMs = this.coldStartMs;
    if (coldStartMs !== undefined) out.coldStartMs = coldStartMs;
    if (this.#lastRequestAt !== undefined) out.lastRequestAt = this.#lastRequestAt;
    return out;
  }

  /** One window ending at `now`; `windowMs` is a whole number of buckets up to the stable window. */
  window(now: number, windowMs: number): WindowSignals {
    const b = this.bucketMs;
    const buckets = Math.min(this.#size, Math.max(1, Math.round(windowMs / b)));
    const nowIdx = Math.floor(now / b);
    const firstIdx = nowIdx - buckets + 1;
    const windowStart = firstIdx * b;
    const out: WindowSignals = { windowSeconds: (buckets * b) / 1000 };

    let count = 0;
    let errors = 0;
    let refused = 0;
    let min = Infinity;
    let max = -Infinity;
    const merged = this.#scratch.fill(0);
    const cpu = new Map<string, Util>();
    const gpu = new Map<string, Util>();
    const kvCache = new Map<string, Util>();
    for (let idx = firstIdx; idx <= nowIdx; idx++) {
      const slot = this.#live(idx);
      if (slot < 0) continue;
      count += this.#count[slot]!;
      errors += this.#errors[slot]!;
      refused += this.#refused[slot]!;
      if (this.#latMin[slot]! < min) min = this.#latMin[slot]!;
      if (this.#latMax[slot]! > max) max = this.#latMax[slot]!;
      const hist = this.#hist[slot];
      if (hist && this.#count[slot]! > 0) for (let i = 0; i < LATENCY_BINS; i++) merged[i]! += hist[i]!;
      mergeUtil(cpu, this.#cpu[slot]!);
      mergeUtil(gpu, this.#gpu[slot]!);
      mergeUtil(kvCache, this.#kvCache[slot]!);
    }

    if (this.#observedSince !== undefined && this.#observedSince <= now) {
      const span = now - Math.max(windowStart, this.#observedSince);
      out.requestRate = count / (Math.max(b, span) / 1000);
      if (refused > 0) out.refusedRate = refused / (Math.max(b, span) / 1000);
    }
    if (count > 0) {
      out.errorRate = errors / count;
      out.p50Ms = histogramQuantile(merged, count, 0.5, min, max);
      out.p95Ms = histogramQuantile(merged, count, 0.95, min, max);
    }
    const waitP95 = this.#wait.quantile(0.95, (idx) => this.#live(idx), firstIdx, nowIdx);
    if (waitP95 !== undefined) out.waitP95Ms = waitP95;
    const concurrency = this.#gaugeAverage(this.#concurrency, firstIdx, nowIdx, now);
    if (concurrency !== undefined) out.concurrency = concurrency;
    const queue = this.#gaugeAverage(this.#queue, firstIdx, nowIdx, now);
    if (queue !== undefined) {
      out.queueDepth = queue;
      // Growth compares the window's two halves of completed buckets (the current one is partial).
      const half = Math.floor(buckets / 2);
      if (half >= 1) {
        const early = this.#gaugeAverage(this.#queue, nowIdx - 2 * half, nowIdx - half - 1, now);
        const late = this.#gaugeAverage(this.#queue, nowIdx - half, nowIdx - 1, now);
        if (early !== undefined && late !== undefined) out.queueGrowthPerSec = (late - early) / ((half * b) / 1000);
      }
    }
    const cpuAvg = meanOfAverages(cpu);
    if (cpuAvg !== undefined) out.cpuUtilization = cpuAvg;
    const gpuAvg = meanOfAverages(gpu);
    if (gpuAvg !== undefined) out.gpuUtilization = gpuAvg;
    const kvAvg = meanOfAverages(kvCache);
    if (kvAvg !== undefined) out.kvCacheUsage = kvAvg;
    return out;
  }

  /** Each replica's average CPU utilization over the window ending at `now` (for the HPA's per-pod view). */
  podCpu(now: number, windowMs: number = this.stableWindowMs): Map<string, number> {
    const b = this.bucketMs;
    const buckets = Math.min(this.#size, Math.max(1, Math.round(windowMs / b)));
    const nowIdx = Math.floor(now / b);
    const sums = new Map<string, Util>();
    for (let idx = nowIdx - buckets + 1; idx <= nowIdx; idx++) {
      const slot = this.#live(idx);
      if (slot >= 0) mergeUtil(sums, this.#cpu[slot]!);
    }
    const out = new Map<string, number>();
    for (const [name, u] of sums) out.set(name, u.sum / u.n);
    return out;
  }

  #observe(at: number): void {
    if (this.#observedSince === undefined || at < this.#observedSince) this.#observedSince = at;
  }

  /** The slot holding bucket `idx` if it holds it now, else -1. */
  #live(idx: number): number {
    const slot = mod(idx, this.#size);
    return this.#index[slot] === idx ? slot : -1;
  }

  /** The slot for time `at`, claiming (and clearing) it if it held an older bucket; -1 if `at` is too old. */
  #slot(at: number): number {
    return this.#claim(Math.floor(at / this.bucketMs));
  }

  #claim(idx: number): number {
    const slot = mod(idx, this.#size);
    const held = this.#index[slot]!;
    if (held === idx) return slot;
    if (held > idx) return -1;
    this.#index[slot] = idx;
    this.#count[slot] = 0;
    this.#errors[slot] = 0;
    this.#refused[slot] = 0;
    this.#latMin[slot] = Infinity;
    this.#latMax[slot] = -Infinity;
    this.#hist[slot]?.fill(0);
    this.#wait.clear(slot);
    this.#cpu[slot]!.clear();
    this.#gpu[slot]!.clear();
    this.#kvCache[slot]!.clear();
    for (const g of [this.#concurrency, this.#queue]) {
      g.area[slot] = 0;
      g.time[slot] = 0;
    }
    return slot;
  }

  #addUtil(ring: Map<string, Util>[], at: number, replica: string, value: number): void {
    const slot = this.#slot(at);
    if (slot < 0 || !Number.isFinite(value)) return;
    const m = ring[slot]!;
    const u = m.get(replica);
    if (u) {
      u.sum += value;
      u.n += 1;
    } else m.set(replica, { sum: value, n: 1 });
  }

  #setGauge(g: Gauge, at: number, value: number): void {
    if (!Number.isFinite(value)) return;
    // A late sample is taken as arriving now: gauges only move forward in time.
    const t = Math.max(at, g.lastAt);
    if (g.last !== undefined) this.#integrate(g, g.lastAt, Math.min(t, g.lastAt + this.#gaugeStaleMs), g.last);
    g.last = value;
    g.lastAt = t;
  }

  /** Adds `value` held over [from, to) to the buckets it spans (only those the ring still covers). */
  #integrate(g: Gauge, from: number, to: number, value: number): void {
    const b = this.bucketMs;
    if (!(to > from)) return;
    // Most spans between two samples lie within one bucket: the same sums without the loop.
    const bucket = Math.floor(from / b);
    if (to < (bucket + 1) * b) {
      const slot = this.#claim(bucket);
      if (slot < 0) return;
      g.area[slot]! += value * (to - from);
      g.time[slot]! += to - from;
      return;
    }
    const lastIdx = Math.floor((to - 1e-9) / b);
    const firstIdx = Math.max(bucket, lastIdx - this.#size + 1);
    for (let idx = firstIdx; idx <= lastIdx; idx++) {
      const slot = this.#claim(idx);
      if (slot < 0) continue;
      const overlap = Math.min(to, (idx + 1) * b) - Math.max(from, idx * b);
      if (overlap <= 0) continue;
      g.area[slot]! += value * overlap;
      g.time[slot]! += overlap;
    }
  }

  /** Time-weighted average of a gauge over buckets [firstIdx, lastIdx], counting its held value up to `now`. */
  #gaugeAverage(g: Gauge, firstIdx: number, lastIdx: number, now: number): number | undefined {
    let area = 0;
    let time = 0;
    for (let idx = firstIdx; idx <= lastIdx; idx++) {
      const slot = this.#live(idx);
      if (slot < 0) continue;
      area += g.area[slot]!;
      time += g.time[slot]!;
    }
    if (g.last !== undefined) {
      const b = this.bucketMs;
      const from = Math.max(g.lastAt, firstIdx * b);
      const to = Math.min(now, (lastIdx + 1) * b, g.lastAt + this.#gaugeStaleMs);
      if (to > from) {
        area += g.last * (to - from);
        time += to - from;
      } else if (time === 0 && g.lastAt <= now && g.lastAt >= firstIdx * b && g.lastAt < (lastIdx + 1) * b) {
        // A sample taken exactly now has held for no time yet; it is still the current value.
        return g.last;
      }
    }
    return time > 0 ? area / time : undefined;
  }
}

function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}

function mergeUtil(into: Map<string, Util>, from: Map<string, Util>): void {
  for (const [name, u] of from) {
    const acc = into.get(name);
    if (acc) {
      acc.sum += u.sum;
      acc.n += u.n;
    } else into.set(name, { sum: u.sum, n: u.n });
  }
}

function meanOfAverages(m: Map<string, Util>): number | undefined {
  if (m.size === 0) return undefined;
  let total = 0;
  for (const u of m.values()) total += u.sum / u.n;
  return total / m.size;
}

/** Per-bucket samples of one kind of duration (count, extremes, histogram), for a quantile over a window. */
class SampleRing {
  readonly #count: Float64Array;
  readonly #min: Float64Array;
  readonly #max: Float64Array;
  readonly #hist: (Uint32Array | undefined)[];
  readonly #scratch = new Uint32Array(LATENCY_BINS);

  constructor(size: number) {
    this.#count = new Float64Array(size);
    this.#min = new Float64Array(size).fill(Infinity);
    this.#max = new Float64Array(size).fill(-Infinity);
    this.#hist = new Array<Uint32Array | undefined>(size).fill(undefined);
  }

  add(slot: number, ms: number): void {
    this.#count[slot]! += 1;
    if (ms < this.#min[slot]!) this.#min[slot] = ms;
    if (ms > this.#max[slot]!) this.#max[slot] = ms;
    (this.#hist[slot] ??= new Uint32Array(LATENCY_BINS))[latencyBin(ms)]! += 1;
  }

  /** `n` samples known only by their histogram bin: each counts as the bin's middle. */
  addBin(slot: number, bin: number, n: number): void {
    const ms = binMiddle(bin);
    this.#count[slot]! += n;
    if (ms < this.#min[slot]!) this.#min[slot] = ms;
    if (ms > this.#max[slot]!) this.#max[slot] = ms;
    (this.#hist[slot] ??= new Uint32Array(LATENCY_BINS))[bin]! += n;
  }

  clear(slot: number): void {
    this.#count[slot] = 0;
    this.#min[slot] = Infinity;
    this.#max[slot] = -Infinity;
    this.#hist[slot]?.fill(0);
  }

  /** Quantile q of the samples in buckets firstIdx..lastIdx (`live` maps a bucket to its slot, or -1). */
  quantile(q: number, live: (idx: number) => number, firstIdx: number, lastIdx: number): number | undefined {
    let count = 0;
    let min = Infinity;
    let max = -Infinity;
    const merged = this.#scratch.fill(0);
    for (let idx = firstIdx; idx <= lastIdx; idx++) {
      const slot = live(idx);
      if (slot < 0 || this.#count[slot] === 0) continue;
      count += this.#count[slot]!;
      min = Math.min(min, this.#min[slot]!);
      max = Math.max(max, this.#max[slot]!);
      const hist = this.#hist[slot]!;
      for (let i = 0; i < LATENCY_BINS; i++) merged[i]! += hist[i]!;
    }
    return histogramQuantile(merged, count, q, min, max);
  }
}
