/**
 * What one simulated run measures, in two views:
 * - sliding windows (stable and panic) that the deciders read as signals, kept as
 *   running sums of per-second slots: a window query costs nothing per request;
 * - per-minute results for the report: each minute's p95 counts rejected and
 *   timed-out requests as slower than the SLO (a minute where the service turned
 *   callers away is not a minute within the SLO).
 * Levels (busy slots, in-flight, queue, ready replicas) arrive as running
 * integrals, so averages are exact over any window.
 */
import { BinnedHistogram, FAILURE_BIN, binOf } from './histogram.ts';

/** Running integrals (value × ms) and counters that only grow; snapshotted every second. */
export interface Cumulative {
  busySlotMs: number;
  inFlightMs: number;
  queueMs: number;
  readyReplicaMs: number;
}

/** A window's raw aggregate; the cluster turns it into a decider's `WindowSignals`. */
export interface WindowAggregate {
  seconds: number;
  completions: number;
  failures: number;
  busySlotMs: number;
  inFlightMs: number;
  queueMs: number;
  readyReplicaMs: number;
  p50Ms?: number;
  p95Ms?: number;
  /** The queue's average over the window's second half minus its first half, per second between them. */
  queueGrowthPerSec?: number;
}

export interface MinuteResult {
  requests: number;
  failures: number;
  /** p95 with failures ranked slowest; Infinity when failures reach the 95th rank; NaN with no requests. */
  p95Ms: number;
}

export interface SeriesSample {
  readyReplicas: number;
  replicas: number;
  queueDepth: number;
  nodes: number;
}

/** Per-second samples for plots. */
export interface Series {
  readyReplicas: Uint16Array;
  replicas: Uint16Array;
  queueDepth: Uint32Array;
  nodes: Uint16Array;
}

export class RunMetrics {
  readonly stableSec: number;
  readonly panicSec: number;
  readonly #ringSize: number;
  readonly #slots: BinnedHistogram[];
  readonly #stable = new BinnedHistogram();
  readonly #panic = new BinnedHistogram();
  #current: BinnedHistogram;
  // Cumulative snapshots at each second boundary (ring).
  readonly #snapCompletions: Float64Array;
  readonly #snapFailures: Float64Array;
  readonly #snapBusy: Float64Array;
  readonly #snapInFlight: Float64Array;
  readonly #snapQueue: Float64Array;
  readonly #snapReady: Float64Array;
  #completions = 0;
  #failures = 0;
  #second = 0;

  readonly #minute = new BinnedHistogram();
  /** Every request of the run: successes in latency bins, failures in the failure bin. */
  readonly overall = new BinnedHistogram();
  readonly minutes: MinuteResult[] = [];
  readonly series: Series;

  rejected = 0;
  timedOut = 0;
  succeeded = 0;

  constructor(options: { stableSec: number; panicSec: number; durationSec: number }) {
    this.stableSec = options.stableSec;
    this.panicSec = Math.min(options.panicSec, options.stableSec);
    this.#ringSize = this.stableSec + 1;
    this.#slots = Array.from({ length: this.#ringSize }, () => new BinnedHistogram());
    this.#current = this.#slots[0]!;
    const ring = () => new Float64Array(this.#ringSize);
    this.#snapCompletions = ring();
    this.#snapFailures = ring();
    this.#snapBusy = ring();
    this.#snapInFlight = ring();
    this.#snapQueue = ring();
    this.#snapReady = ring();
    const n = options.durationSec + 1;
    this.series = { readyReplicas: new Uint16Array(n), replicas: new Uint16Array(n), queueDepth: new Uint32Array(n), nodes: new Uint16Array(n) };
  }

  recordSuccess(latencyMs: number): void {
    const bin = binOf(latencyMs);
    this.#current.add(bin);
    this.#stable.add(bin);
    this.#panic.add(bin);
    this.#minute.add(bin);
    this.#completions++;
    this.succeeded++;
  }

  /** A request that waited `waitedMs` in the queue and gave up; deciders see its latency. */
  recordTimeout(waitedMs: number): void {
    const bin = binOf(waitedMs);
    this.#current.add(bin);
    this.#stable.add(bin);
    this.#panic.add(bin);
    this.#minute.add(FAILURE_BIN);
    this.#failures++;
    this.timedOut++;
  }

  recordReject(): void {
    this.#minute.add(FAILURE_BIN);
    this.#failures++;
    this.rejected++;
  }

  /** Closes the second that ends at `boundarySec` (≥ 1) and samples the levels for plots. */
  closeSecond(boundarySec: number, cum: Cumulative, sample: SeriesSample): void {
    const R = this.#ringSize;
    const done = boundarySec - 1;
    if (done - this.panicSec >= 0) this.#panic.subtractAll(this.#slots[(done - this.panicSec) % R]!);
    if (done - this.stableSec >= 0) this.#stable.subtractAll(this.#slots[(done - this.stableSec) % R]!);
    const next = this.#slots[boundarySec % R]!;
    next.clear();
    this.#current = next;
    const i = boundarySec % R;
    this.#snapCompletions[i] = this.#completions;
    this.#snapFailures[i] = this.#failures;
    this.#snapBusy[i] = cum.busySlotMs;
    this.#snapInFlight[i] = cum.inFlightMs;
    this.#snapQueue[i] = cum.queueMs;
    this.#snapReady[i] = cum.readyReplicaMs;
    this.#second = boundarySec;
    const s = this.series;
    if (boundarySec < s.replicas.length) {
      s.readyReplicas[boundarySec] = sample.readyReplicas;
      s.replicas[boundarySec] = sample.replicas;
      s.queueDepth[boundarySec] = sample.queueDepth;
      s.nodes[boundarySec] = sample.nodes;
    }
    if (boundarySec % 60 === 0) this.closeMinute();
  }

  /** Sets the t=0 snapshot (cumulatives are all zero then) and the first plot sample. */
  start(sample: SeriesSample): void {
    const s = this.series;
    s.readyReplicas[0] = sample.readyReplicas;
    s.replicas[0] = sample.replicas;
    s.queueDepth[0] = sample.queueDepth;
    s.nodes[0] = sample.nodes;
  }

  /** The last `windowSec` seconds (fewer early in the run), as of the last closed second. */
  window(windowSec: number): WindowAggregate {
    const b = this.#second;
    const seconds = Math.min(windowSec, b);
    const R = this.#ringSize;
    const now = b % R;
    const then = (b - seconds) % R;
    const hist = windowSec <= this.panicSec ? this.#panic : this.#stable;
    const agg: WindowAggregate = {
      seconds,
      completions: this.#snapCompletions[now]! - this.#snapCompletions[then]!,
      failures: this.#snapFailures[now]! - this.#snapFailures[then]!,
      busySlotMs: this.#snapBusy[now]! - this.#snapBusy[then]!,
      inFlightMs: this.#snapInFlight[now]! - this.#snapInFlight[then]!,
      queueMs: this.#snapQueue[now]! - this.#snapQueue[then]!,
      readyReplicaMs: this.#snapReady[now]! - this.#snapReady[then]!,
    };
    if (seconds === 0) {
      agg.completions = agg.failures = agg.busySlotMs = agg.inFlightMs = agg.queueMs = agg.readyReplicaMs = 0;
    }
    const half = Math.floor(seconds / 2);
    if (half >= 1) {
      const mid = (b - half) % R;
      const late = (this.#snapQueue[now]! - this.#snapQueue[mid]!) / (half * 1000);
      const early = (this.#snapQueue[mid]! - this.#snapQueue[then]!) / ((seconds - half) * 1000);
      agg.queueGrowthPerSec = (late - early) / half;
    }
    const p50 = hist.percentile(50, false);
    const p95 = hist.percentile(95, false);
    if (p50 !== undefined) agg.p50Ms = p50;
    if (p95 !== undefined) agg.p95Ms = p95;
    return agg;
  }

  closeMinute(): void {
    const m = this.#minute;
    const requests = m.total;
    const failures = m.counts[FAILURE_BIN]!;
    const p95 = requests === 0 ? NaN : m.percentile(95, true)!;
    this.minutes.push({ requests, failures, p95Ms: p95 });
    this.overall.addAll(m);
    m.clear();
  }

  /** Closes a final partial minute, if the run did not end on a minute boundary. */
  finish(): void {
    if (this.#second % 60 !== 0) this.closeMinute();
  }
}
