/**
 * The KARB treatments as scale controllers: each runs the autoscaler's own
 * decider (imported from src/autoscaler, never copied) on the simulated
 * signals, every decision period of its policy. This is the one place the
 * simulator binds to the deciders.
 */
import { deciderFor } from '../autoscaler/index.ts';
import type { Decider, DeciderState, ScalingInput, ScalingPolicyName } from '../autoscaler/types.ts';
import { SIM_EPOCH_MS, type ClusterView, type ScaleAction, type ScaleController } from './cluster.ts';
import type { Scenario } from './scenario-schema.ts';

/** Treatments A–D of the KARB plan, in report order. */
export const POLICIES: readonly ScalingPolicyName[] = ['hpa-cpu', 'hpa-service', 'keda-queue', 'gascl'];

/** KARB plan letters, for people. */
export const TREATMENT_LETTER: Record<ScalingPolicyName, string> = { 'hpa-cpu': 'A', 'hpa-service': 'B', 'keda-queue': 'C', gascl: 'D' };

/** The ScalingInput a scenario gives the deciders (pool capacity as the cluster stands). */
export function scalingInput(policy: ScalingPolicyName, scenario: Scenario, view: ClusterView): ScalingInput {
  const s = scenario.scaling;
  const elastic = scenario.pools.find((p) => p.maxNodes > p.minNodes) ?? scenario.pools[0]!;
  return {
    policy,
    minReplicas: s.minReplicas,
    maxReplicas: s.maxReplicas,
    targetConcurrency: s.targetConcurrency,
    scaleToZeroAfterMs: s.scaleToZeroAfterMs,
    stabilization: s.stabilization,
    slo: scenario.slo,
    targetCpuUtilization: s.targetCpuUtilization,
    capacity: { replicasPerNode: elastic.replicasPerNode, currentNodes: view.nodes, maxNodes: view.maxNodes, provisioningMs: elastic.provisioningDelay.meanMs },
    queueLimit: scenario.gateway.maxQueue,
    ...(s.seasonalPeriodMs !== undefined ? { seasonalPeriodMs: s.seasonalPeriodMs } : {}),
  };
}

export interface DecisionRecord {
  timeMs: number;
  from: number;
  to: number;
  reason: string;
  message: string;
}

/** A treatment: the policy's decider, its period, and how its nodes are managed. */
export class TreatmentController implements ScaleController {
  readonly policy: ScalingPolicyName;
  readonly periodMs: number;
  readonly nodeManagement: 'cluster-autoscaler' | 'direct';
  /** Decisions that changed the replica count, for people reading a run. */
  readonly changes: DecisionRecord[] = [];
  readonly #decider: Decider;
  readonly #scenario: Scenario;
  #state: DeciderState | undefined;

  constructor(policy: ScalingPolicyName, scenario: Scenario, decider: Decider = deciderFor(policy)) {
    this.policy = policy;
    this.periodMs = scenario.decisionPeriodsMs[policy];
    // Treatment D asks for nodes itself; A–C rely on a cluster autoscaler.
    this.nodeManagement = policy === 'gascl' ? 'direct' : 'cluster-autoscaler';
    this.#decider = decider;
    this.#scenario = scenario;
  }

  decide(view: ClusterView): ScaleAction | undefined {
    const spec = scalingInput(this.policy, this.#scenario, view);
    const { result, next } = this.#decider(view.signals(), spec, this.#state, SIM_EPOCH_MS + view.timeMs);
    this.#state = next;
    if (!result.valid) return undefined;
    if (result.desiredReplicas !== view.replicas && this.changes.length < 10_000) {
      this.changes.push({ timeMs: view.timeMs, from: view.replicas, to: result.desiredReplicas, reason: result.reason, message: result.message });
    }
    const action: ScaleAction = { desiredReplicas: result.desiredReplicas };
    if (result.desiredNodes !== undefined) action.desiredNodes = result.desiredNodes;
    return action;
  }
}
