/**
 * What one simulated run reports: per-minute results, where each minute's p95
 * counts failed requests (rejected or timed out) as slower than the SLO, since a
 * minute in which the service turned callers away is not a minute within the
 * SLO; every request of the run; counts by outcome; and per-second samples for
 * plots. What the deciders read is not kept here: the cluster reports to
 * observability's signal windows (src/observability/windows.ts) as karb's
 * gateway does, so simulated and real deciders see the same numbers.
 */
import { isErrorStatus } from '../observability/error-status.ts';
import { BinnedHistogram, FAILURE_BIN, binOf } from './histogram.ts';

/**
 * How the simulated gateway answers, with the statuses karb's gateway uses: a
 * request a replica served; one refused at a full wait queue (QUEUE_FULL, no
 * async jobs in the simulator); one that waited past the gateway timeout.
 */
export const SERVED = 200;
export const QUEUE_FULL = 503;
export const QUEUE_TIMEOUT = 504;

export interface MinuteResult {
  requests: number;
  failures: number;
  /** p95 with failures ranked slowest; Infinity when failures reach the 95th rank; NaN with no requests. */
  p95Ms: number;
  /** GPU node-hours billed during the minute (they add up to the run's gpuNodeHours), so a part of a run can be costed. */
  gpuNodeHours: number;
}

export interface SeriesSample {
  readyReplicas: number;
  replicas: number;
  queueDepth: number;
  nodes: number;
  /** Nodes of the GPU pools; default `nodes`. Nodes change only at whole seconds, so one sample per second counts node-seconds exactly. */
  gpuNodes?: number;
}

/** Per-second samples for plots. */
export interface Series {
  readyReplicas: Uint16Array;
  replicas: Uint16Array;
  queueDepth: Uint32Array;
  nodes: Uint16Array;
}

export class RunMetrics {
  #second = 0;

  readonly #minute = new BinnedHistogram();
  #minuteGpuNodeSeconds = 0;
  /** Every request of the run: successes in latency bins, failures in the failure bin. */
  readonly overall = new BinnedHistogram();
  readonly minutes: MinuteResult[] = [];
  readonly series: Series;

  rejected = 0;
  timedOut = 0;
  succeeded = 0;

  constructor(options: { durationSec: number }) {
    const n = options.durationSec + 1;
    this.series = { readyReplicas: new Uint16Array(n), replicas: new Uint16Array(n), queueDepth: new Uint32Array(n), nodes: new Uint16Array(n) };
  }

  /**
   * A request answered with `status` after `latencyMs`; a failure
   * (`isErrorStatus`, as in the signals) counts in its minute as slower than any latency.
   */
  recordFinished(status: number, latencyMs: number): void {
    if (!isErrorStatus(status)) {
      this.#minute.add(binOf(latencyMs));
      this.succeeded++;
      return;
    }
    this.#minute.add(FAILURE_BIN);
    if (status === QUEUE_TIMEOUT) this.timedOut++;
    else this.rejected++;
  }

  /** Closes the second that ends at `boundarySec` (≥ 1) and samples the levels for plots; `sample` holds the levels during that second. */
  closeSecond(boundarySec: number, sample: SeriesSample): void {
    this.#second = boundarySec;
    this.#minuteGpuNodeSeconds += sample.gpuNodes ?? sample.nodes;
    const s = this.series;
    if (boundarySec < s.replicas.length) {
      s.readyReplicas[boundarySec] = sample.readyReplicas;
      s.replicas[boundarySec] = sample.replicas;
      s.queueDepth[boundarySec] = sample.queueDepth;
      s.nodes[boundarySec] = sample.nodes;
    }
    if (boundarySec % 60 === 0) this.closeMinute();
  }

  /** The first plot sample, at t=0. */
  start(sample: SeriesSample): void {
    const s = this.series;
    s.readyReplicas[0] = sample.readyReplicas;
    s.replicas[0] = sample.replicas;
    s.queueDepth[0] = sample.queueDepth;
    s.nodes[0] = sample.nodes;
  }

  closeMinute(): void {
    const m = this.#minute;
    const requests = m.total;
    const failures = m.counts[FAILURE_BIN]!;
    const p95 = requests === 0 ? NaN : m.percentile(95, true)!;
    this.minutes.push({ requests, failures, p95Ms: p95, gpuNodeHours: this.#minuteGpuNodeSeconds / 3600 });
    this.overall.addAll(m);
    m.clear();
    this.#minuteGpuNodeSeconds = 0;
  }

  /** Closes a final partial minute, if the run did not end on a minute boundary. */
  finish(): void {
    if (this.#second % 60 !== 0) this.closeMinute();
  }
}
