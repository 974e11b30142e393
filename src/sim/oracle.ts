/**
 * The clairvoyant oracle: the cost lower bound the treatments are measured
 * against. It knows the whole trace in advance and provisions, minute by minute,
 * the fewest replicas that keep that minute's p95 within the SLO, acting early
 * by exactly the delays it cannot avoid (node provisioning, image pull, model
 * load), removing pods as soon as they are not needed before a new one could be
 * ready, and nodes as soon as they are not needed before a new one could be.
 *
 * The plan starts from a queueing estimate (M/G/c at each minute's busiest
 * 10 seconds) and is refined by simulation: every minute that still misses the
 * SLO gets one more replica (the minute before too, when it misses twice), until
 * no minute misses or the rounds run out. It runs through the same cluster model
 * as the treatments, so its latency and node-hours are measured, not assumed.
 */
import { simulate, type ClusterView, type RunResult, type ScaleAction, type ScaleController } from './cluster.ts';
import { slotsNeeded } from './queueing.ts';
import type { Delay, Scenario } from './scenario-schema.ts';
import { workPerSecond } from './traffic.ts';

export const ORACLE_POLICY = 'oracle' as const;

const PEAK_WINDOW_SEC = 10;

function worst(d: Delay): number {
  return d.meanMs + d.jitterMs;
}

/** Replicas each minute needs by the queueing estimate, from the trace's per-second work. */
export function estimateMinuteReplicas(scenario: Scenario, perSecond: Float64Array): Int32Array {
  const minutes = Math.ceil(perSecond.length / 60);
  const out = new Int32Array(minutes);
  const svc = scenario.service.serviceTime;
  const slo = scenario.slo.latencyP95Ms;
  const cache = new Map<number, number>();
  for (let m = 0; m < minutes; m++) {
    // The busiest 10 s window that overlaps the minute sets its rate.
    let peak = 0;
    const from = Math.max(0, m * 60 - PEAK_WINDOW_SEC + 1);
    const to = Math.min(perSecond.length, (m + 1) * 60);
    let sum = 0;
    for (let s = from; s < to; s++) {
      sum += perSecond[s]!;
      if (s - from >= PEAK_WINDOW_SEC) sum -= perSecond[s - PEAK_WINDOW_SEC]!;
      if (s - from >= PEAK_WINDOW_SEC - 1 || s === to - 1) peak = Math.max(peak, sum / Math.min(PEAK_WINDOW_SEC, s - from + 1));
    }
    const rate = Math.round(peak * 10) / 10;
    let slots = cache.get(rate);
    if (slots === undefined) {
      slots = slotsNeeded(rate, svc, slo);
      cache.set(rate, slots);
    }
    out[m] = clampReplicas(scenario, Number.isFinite(slots) ? Math.ceil(slots / scenario.service.concurrency) : scenario.scaling.maxReplicas);
  }
  return out;
}

function clampReplicas(scenario: Scenario, replicas: number): number {
  const capacity = scenario.pools.reduce((n, p) => n + p.maxNodes * p.replicasPerNode, 0);
  return Math.max(scenario.scaling.minReplicas, Math.min(scenario.scaling.maxReplicas, capacity, replicas));
}

/** Nodes (all pools) that hold `replicas`, filling pools in order, each at least at its floor. */
export function nodesFor(scenario: Scenario, replicas: number): number {
  let remaining = replicas;
  let nodes = 0;
  for (const pool of scenario.pools) {
    const want = Math.ceil(Math.max(0, remaining) / pool.replicasPerNode);
    const n = Math.min(pool.maxNodes, Math.max(pool.minNodes, want));
    nodes += n;
    remaining -= n * pool.replicasPerNode;
  }
  return nodes;
}

/** Follows a per-minute replica plan, acting early by the unavoidable delays. */
export class OracleController implements ScaleController {
  readonly policy = ORACLE_POLICY;
  readonly periodMs = 1000;
  readonly nodeManagement = 'direct' as const;
  /** It follows its plan: nothing is recorded for it. */
  readonly readsSignals = false;
  readonly #plan: Int32Array;
  readonly #scenario: Scenario;
  readonly #podLeadMs: number;
  readonly #nodeLeadMs: number;

  /** `foresight: false` acts only on the current minute's need: the best any policy that cannot see ahead can do. */
  constructor(scenario: Scenario, plan: Int32Array, options: { foresight?: boolean } = {}) {
    this.#scenario = scenario;
    this.#plan = plan;
    const foresight = options.foresight ?? true;
    const cold = scenario.service.coldStart;
    this.#podLeadMs = foresight ? worst(cold.imagePull) + worst(cold.modelLoad) : 0;
    const provisioning = Math.max(0, ...scenario.pools.map((p) => worst(p.provisioningDelay)));
    this.#nodeLeadMs = foresight ? provisioning + this.#podLeadMs : 0;
  }

  #maxPlanned(fromMs: number, toMs: number): number {
    const last = this.#plan.length - 1;
    const a = Math.min(last, Math.floor(fromMs / 60_000));
    const b = Math.min(last, Math.floor(toMs / 60_000));
    let max = 0;
    for (let m = a; m <= b; m++) max = Math.max(max, this.#plan[m]!);
    return max;
  }

  decide(view: ClusterView): ScaleAction {
    const t = view.timeMs;
    const desiredReplicas = this.#maxPlanned(t, t + this.#podLeadMs);
    const desiredNodes = Math.max(nodesFor(this.#scenario, desiredReplicas), nodesFor(this.#scenario, this.#maxPlanned(t, t + this.#nodeLeadMs)));
    return { desiredReplicas, desiredNodes };
  }
}

export interface OracleRun {
  result: RunResult;
  /** Replicas planned for each minute. */
  plan: Int32Array;
  /** Simulation rounds it took. */
  rounds: number;
}

/** Plans and runs the oracle; `initialReplicas` as for the treatments. */
export function runOracle(scenario: Scenario, initialReplicas: number, maxRounds = 8): OracleRun {
  const perSecond = workPerSecond(scenario.traffic, scenario.durationMs, scenario.seed);
  const plan = estimateMinuteReplicas(scenario, perSecond);
  const misses = new Int32Array(plan.length);
  const slo = scenario.slo.latencyP95Ms;
  let result = simulate(scenario, new OracleController(scenario, plan), { initialReplicas });
  let rounds = 1;
  while (rounds < maxRounds) {
    let changed = false;
    result.minutes.forEach((minute, m) => {
      if (!(minute.p95Ms > slo) || m >= plan.length) return;
      misses[m]!++;
      const bumped = clampReplicas(scenario, plan[m]! + 1);
      if (bumped !== plan[m]) changed = true;
      plan[m] = bumped;
      if (misses[m]! > 1 && m > 0) plan[m - 1] = clampReplicas(scenario, plan[m - 1]! + 1);
    });
    if (!changed) break;
    result = simulate(scenario, new OracleController(scenario, plan), { initialReplicas });
    rounds++;
  }
  return { result, plan, rounds };
}
