/**
 * GASCL's value objects: what the observe stage hands to the deciders (defined
 * in src/observability/signals.ts, re-exported here), and what a decider
 * returns. Deciders are pure: `decide(signals, spec, state, now)` →
 * `{ result, next }`; all history (stabilization windows, panic mode, cooldowns)
 * lives in the explicit `state`, never in hidden fields. The same deciders run
 * in the real control loop and in the simulator (`src/sim`).
 */

import type { Signals } from '../observability/signals.ts';

export type { PodSignal, Signals, WindowSignals } from '../observability/signals.ts';

export type ScalingPolicyName = 'gascl' | 'hpa-cpu' | 'hpa-service' | 'keda-queue';

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
  /**
   * Pool limits for node requests (gascl); replicas per node, and how long a node the pool adds
   * takes to be ready (its provisioning delay, when the pool declares one).
   */
  capacity?: { replicasPerNode: number; currentNodes: number; maxNodes: number; provisioningMs?: number };
  /** Requests the gateway holds waiting for this service at most, when bounded; beyond it, it refuses them. */
  queueLimit?: number;
  /** The period the service's traffic repeats over (a day, a week), when declared: gascl forecasts from one period ago. */
  seasonalPeriodMs?: number;
  /** spec.scaling.replicas: a fixed count (kubectl scale, an HPA on the service) that replaces the policy. */
  replicas?: number;
}

/** Stable reason codes; they become status conditions and events. */
export type ScaleReason =
  | 'NoData'
  | 'WithinTolerance'
  | 'Concurrency'
  | 'QueueDrain'
  | 'QueueDepth'
  | 'LatencySlo'
  /** gascl: the replicas' KV cache (as vLLM reports it) is fuller than GASCL keeps it. */
  | 'KvCache'
  | 'CpuUtilization'
  | 'Panic'
  | 'ColdStartLead'
  /** gascl: one period ago, the service needed more replicas in the time it takes to add them. */
  | 'Forecast'
  /** gascl: headroom for the next burst, sized and timed from the service's past bursts. */
  | 'BurstHeadroom'
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
  /** spec.scaling.replicas fixes the count; the policy's decider is not asked. */
  | 'ReplicasPinned'
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
