/**
 * What the observe stage hands to the deciders: a revision's signals over the
 * stable and panic windows, and its pods. Produced here (windows.ts), from the
 * gateway's and the runtime's samples in the real loop and from the simulated
 * cluster's in src/sim, so both feed the deciders the same numbers; read by
 * the deciders in src/autoscaler, which re-exports these types. Missing means
 * "no data", never zero.
 */

/** One window's aggregate of a revision's signals. Missing means "no data", never zero. */
export interface WindowSignals {
  /** Window length in seconds. */
  windowSeconds: number;
  /** Completed requests per second. */
  requestRate?: number;
  /**
   * Requests per second turned away before a replica began them (refused at a full queue, or timed
   * out waiting): arrivals the completed rate does not show. Absent when none was.
   */
  refusedRate?: number;
  /** Average in-flight requests across the revision (gateway view), waiting ones (queueDepth) included. */
  concurrency?: number;
  /** Requests waiting (gateway queue + replica queues + held while cold). */
  queueDepth?: number;
  p50Ms?: number;
  p95Ms?: number;
  /**
   * p95 of how long requests waited before a replica began them: the latency more replicas
   * would remove. Absent where nothing reports waits.
   */
  waitP95Ms?: number;
  errorRate?: number;
  /** Average CPU utilization of ready replicas relative to their request, 0..1+ (per pod values below). */
  cpuUtilization?: number;
  /** Average GPU utilization 0..1; absent where no GPU exists. */
  gpuUtilization?: number;
  /**
   * Average share of the replicas' KV cache in use, 0..1, as OpenAI-compatible servers such as
   * vLLM report it on /metrics (replica-load.ts); absent where replicas report none.
   */
  kvCacheUsage?: number;
  /**
   * How fast the queue grew over the recent part of the window, in requests per second
   * (negative while it drains). Absent when there is no queue signal.
   */
  queueGrowthPerSec?: number;
}

export interface PodSignal {
  name: string;
  ready: boolean;
  /** Milliseconds since the epoch when the pod started; for the HPA's CPU initialization period. */
  startedAt: number;
  /** CPU utilization relative to the request, 0..1+; absent = missing metric. */
  cpuUtilization?: number;
  /** Not running yet (scheduling, image pull); the HPA counts such a pod as unready. Default false. */
  pending?: boolean;
  /** Milliseconds since the epoch when the Ready condition last changed; defaults to `startedAt`. */
  readyChangedAt?: number;
  /** Milliseconds since the epoch when the CPU sample's window ended; defaults to the decision's `now`. */
  cpuSampledAt?: number;
}

export interface Signals {
  /** Stable window (~60 s) and panic window (~6 s). */
  stable: WindowSignals;
  panic: WindowSignals;
  /** Replicas that are ready / exist (ready + starting). */
  readyReplicas: number;
  currentReplicas: number;
  pods?: PodSignal[];
  /** Observed cold start (spawn → ready) in ms, if seen. */
  coldStartMs?: number;
  /** Requests per second one replica sustains within the SLO, if known (measured or configured). */
  replicaCapacityRps?: number;
  /** Milliseconds since the epoch of the last request, for scale to zero. */
  lastRequestAt?: number;
}
