/**
 * src/autoscaler: GASCL's decide stage — pure deciders with injected time; the
 * signals come from src/observability and acting on a decision belongs to the
 * control plane (src/control/autoscaling-loop.ts). See README.md for what this
 * folder may import and who imports it.
 */
import { durationMs, type InferenceServiceSpec } from '../api/index.ts';
import type { Decider, Decision, DeciderState, ScalingInput, ScalingPolicyName, Signals } from './types.ts';
import { gascl } from './gascl.ts';
import { hpaCpu, hpaService } from './hpa.ts';
import { kedaQueue } from './keda.ts';

export * from './types.ts';
export { gascl, type GasclState } from './gascl.ts';
export { hpaCpu, hpaService, HPA_SYNC_PERIOD_MS, type HpaState } from './hpa.ts';
export { kedaQueue, KEDA_POLLING_INTERVAL_MS, type KedaState } from './keda.ts';

// Each decider checks the state it is handed and starts afresh when it is another
// decider's (a policy change), so any DeciderState may be passed to any of them.
const DECIDERS: Record<ScalingPolicyName, Decider> = {
  gascl,
  'hpa-cpu': hpaCpu,
  'hpa-service': hpaService,
  'keda-queue': kedaQueue,
};

export function deciderFor(policy: ScalingPolicyName): Decider {
  return DECIDERS[policy];
}

/**
 * Decides with the decider `spec.policy` names, unless `spec.replicas` fixes the count: then that
 * count (within min and max) is the decision, and the decider's state is kept for when it is removed.
 */
export function decide(signals: Signals, spec: ScalingInput, state: DeciderState | undefined, now: number): Decision {
  if (spec.replicas !== undefined) {
    const desiredReplicas = Math.max(spec.minReplicas, Math.min(spec.maxReplicas, spec.replicas));
    const within = desiredReplicas === spec.replicas ? '' : ` (${spec.replicas} kept within ${spec.minReplicas}..${spec.maxReplicas})`;
    return {
      result: { valid: true, desiredReplicas, reason: 'ReplicasPinned', message: `${signals.currentReplicas}→${desiredReplicas}: spec.scaling.replicas${within}`, panic: false },
      next: state ?? {},
    };
  }
  return DECIDERS[spec.policy](signals, spec, state, now);
}

/** The decider's view of an InferenceService spec; `capacity` comes from placement when node requests are wanted. */
export function scalingInputFromSpec(spec: InferenceServiceSpec, capacity?: ScalingInput['capacity']): ScalingInput {
  const { scaling, slo } = spec;
  const input: ScalingInput = {
    policy: scaling.policy,
    minReplicas: scaling.minReplicas,
    maxReplicas: scaling.maxReplicas,
    targetConcurrency: scaling.targetConcurrency,
    scaleToZeroAfterMs: durationMs(scaling.scaleToZeroAfter),
    stabilization: { upSeconds: scaling.stabilization.upSeconds, downSeconds: scaling.stabilization.downSeconds },
    slo: { latencyP95Ms: slo.latencyP95Ms, coldStartMs: slo.coldStartMs },
  };
  if (capacity) input.capacity = { ...capacity };
  if (scaling.replicas !== undefined) input.replicas = scaling.replicas;
  if (scaling.seasonality !== undefined) input.seasonalPeriodMs = durationMs(scaling.seasonality.period);
  return input;
}
