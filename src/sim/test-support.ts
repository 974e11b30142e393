/** Helpers for the simulator's tests: small scenarios and a scripted controller. */
import type { ClusterView, ScaleAction, ScaleController } from './cluster.ts';
import type { Scenario, ScenarioInput } from './scenario-schema.ts';
import { parseScenario, resolveScenario } from './scenarios.ts';

/** A one-pool CPU cluster with constant traffic; fields override the defaults (shallow, per section). */
export function smallScenario(overrides: Partial<ScenarioInput> = {}): Scenario {
  const input: ScenarioInput = {
    name: 'small',
    duration: '3m',
    slo: { latencyP95Ms: 250, coldStartMs: 5000 },
    pools: [{ name: 'pool', accelerator: 'gpu', replicasPerNode: 2, costPerHour: 1, minNodes: 0, maxNodes: 10 }],
    service: { serviceTime: { meanMs: 50, p95Ms: 100 }, concurrency: 2 },
    scaling: { minReplicas: 1, maxReplicas: 20, targetConcurrency: 2, initialReplicas: 2 },
    traffic: { shape: { kind: 'constant', rps: 20 } },
    ...overrides,
  };
  return resolveScenario(parseScenario(input, 'test scenario'), process.cwd(), 'test scenario');
}

/** Follows a script of (from second → action), deciding every second. */
export class ScriptedController implements ScaleController {
  readonly policy = 'scripted';
  readonly periodMs = 1000;
  readonly nodeManagement: 'cluster-autoscaler' | 'direct';
  readonly #script: Array<{ atSec: number; action: ScaleAction }>;
  /** What the controller saw at each decision: [second, ready, replicas, nodes]. */
  readonly seen: Array<[number, number, number, number]> = [];

  constructor(script: Array<{ atSec: number; action: ScaleAction }>, nodeManagement: 'cluster-autoscaler' | 'direct' = 'direct') {
    this.#script = [...script].sort((a, b) => a.atSec - b.atSec);
    this.nodeManagement = nodeManagement;
  }

  decide(view: ClusterView): ScaleAction | undefined {
    const sec = view.timeMs / 1000;
    this.seen.push([sec, view.readyReplicas, view.replicas, view.nodes]);
    let current: ScaleAction | undefined;
    for (const step of this.#script) if (step.atSec <= sec) current = step.action;
    return current;
  }
}
