/**
 * GASCL's value objects: what the observe stage hands to the deciders, and what
 * a decider returns. Deciders are pure: `decide(signals, spec, state, now)` →
 * `{ result, next }`; all history (stabilization windows, panic mode, cooldowns)
 * lives in the explicit `state`, never in hidden fields. The same deciders run
 * in the real control loop and in the simulator (`src/sim`).
 */

export type ScalingPolicyName = 'gascl' | 'hpa-cpu' | 'hpa-service' | 'keda-queue';

/** One window's aggregate of a revision's signals. Missing means "no data", never zero. */
export interface WindowSignals {
  /** Window length in seconds. */
  windowSeconds: number;
  /** Completed requests per second. */
  requestRate?: number;
  /** Average in-flight requests across the revision (gateway view), waiting ones (queueDepth) included. */
  concurrency?: number;
  /** Requests waiting (gateway queue + replica queues + held while cold). */
  queueDepth?: number;
  p50Ms?: number;
  p95Ms?: number;
  errorRate?: number;
  /** Average CPU utilization of ready replicas relative to their request, 0..1+ (per pod values below). */
  cpuUtilization?: number;
  /** Average GPU utilization 0..1; absent where no GPU exists. */
  gpuUtilization?: number;
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

/** The spec fields deciders read (a subset of InferenceService spec). */
export interface ScalingInput {
  policy: ScalingPolicyName;
  minReplicas: number;
  maxReplicas: number;
  targetConcurrency: number;
  scaleToZeroAfterMs: number;
  stabilization: { upSeconds: number; downSeconds: number };
  slo: { latencyP95Ms: number; coldStartMs: number };
  /** hpa-cpu only: target average CPU utilization relative to the request (default 0.8, the HPA's default). */
  targetCpuUtilization?: number;
  /** Pool limits for node requests (gascl); replicas per node. */
  capacity?: { replicasPerNode: number; currentNodes: number; maxNodes: number };
}

/** Stable reason codes; they become status conditions and events. */
export type ScaleReason =
  | 'NoData'
  | 'WithinTolerance'
  | 'Concurrency'
  | 'QueueDrain'
  | 'QueueDepth'
  | 'LatencySlo'
  | 'CpuUtilization'
  | 'Panic'
  | 'ColdStartLead'
  | 'ScaleUpStabilized'
  | 'ScaleUpLimit'
  | 'ScaleDownLimit'
  | 'ScaleDownStabilized'
  | 'Cooldown'
  | 'Activation'
  | 'ScaleToZero'
  | 'MinReplicas'
  | 'MaxReplicas'
  | 'NodeLimit'
  /** Set by the control plane's loop, not a decider: no scale-down while a rollout is in progress. */
  | 'RolloutHold';

/** One step of a decision: each limit returns the value it allows, why, and a sentence for people. */
export interface ScaleStep {
  value: number;
  reason: ScaleReason;
  message: string;
}

export type ScaleResult =
  | {
      valid: true;
      desiredReplicas: number;
      /** Nodes the pool should have (gascl only, when replicas will not fit). */
      desiredNodes?: number;
      reason: ScaleReason;
      /** For people: "3→7: queue 140 would breach p95 250 ms in 4 s (panic)". */
      message: string;
      panic: boolean;
    }
  | { valid: false; reason: 'NoData'; message: string };

/** A decider's private history; opaque to callers, serializable (JSON) so it survives restarts. */
export type DeciderState = Record<string, unknown>;

export interface Decision<S extends DeciderState = DeciderState> {
  result: ScaleResult;
  next: S;
}

export type Decider<S extends DeciderState = DeciderState> = (signals: Signals, spec: ScalingInput, state: S | undefined, now: number) => Decision<S>;
