/**
 * The evaluation plan: every treatment and the oracle through the same scenario
 * (same arrivals, same per-request service times, same starting replicas). Each
 * run is an independent task, so they can run in sequence here or in worker
 * threads (parallel.ts) with the same results. A scenario that lists several
 * placement policies runs every treatment under each (the oracle under the
 * first); one with several services runs no oracle (it plans one service).
 */
import type { ScalingPolicyName } from '../autoscaler/types.ts';
import { simulate, type RunResult } from './cluster.ts';
import { ORACLE_POLICY, OracleController, estimateMinuteReplicas, runOracle } from './oracle.ts';
import type { PlacementPolicyName, Scenario } from './scenario-schema.ts';
import { laneSeed, serviceLanes } from './services.ts';
import { POLICIES, TreatmentController } from './treatments.ts';
import { materializeTraffic, workPerSecond } from './traffic.ts';

export interface ScenarioOutcome {
  scenario: Scenario;
  /** One number per service when the scenario lists several. */
  initialReplicas: InitialReplicas;
  /** Treatments in plan order (A–D, those asked for), under each placement policy in the scenario's order. */
  runs: RunResult[];
  oracle?: RunResult;
  oracleRounds?: number;
  /**
   * The oracle's plan followed without foresight (each minute's need acted on as
   * the minute starts): what reacting perfectly achieves without spare capacity.
   */
  reactiveBound?: RunResult;
  /**
   * The oracle's peak held ready from the start to the end: what meeting the
   * SLO costs without foresight, when a step or a burst may come at any time
   * and provisioning takes longer than it lasts.
   */
  standingBound?: RunResult;
  /** Wall-clock ms per task, for people (never in the JSON report: it would break determinism). */
  wallMs: Record<string, number>;
}

export interface EvaluateOptions {
  policies?: readonly ScalingPolicyName[];
  /** Default true. */
  oracle?: boolean;
}

/** One independent piece of an evaluation: a treatment or the oracle, under a placement policy. */
export interface EvaluationTask {
  policy: ScalingPolicyName | typeof ORACLE_POLICY;
  placement: PlacementPolicyName;
}

/** Replicas at the start: one number, or one per service. */
export type InitialReplicas = number | number[];

/** "gascl", or "gascl on-prem-first" where the scenario runs more than one placement policy. */
export function taskName(task: EvaluationTask, scenario: Scenario): string {
  return scenario.placements.length > 1 ? `${task.policy} ${task.placement}` : task.policy;
}

export interface TaskResult {
  task: EvaluationTask;
  run: RunResult;
  /** Oracle only. */
  rounds?: number;
  reactiveBound?: RunResult;
  standingBound?: RunResult;
  wallMs: number;
}

/** Replicas every run starts with: the scenario's, or what its first minute needs (per service, for several). */
export function initialReplicasFor(scenario: Scenario): InitialReplicas {
  const given = scenario.scaling.initialReplicas;
  const each = serviceLanes(scenario).map((lane) => {
    if (given !== undefined) return given;
    const firstMinute = workPerSecond(lane.traffic, Math.min(scenario.durationMs, 60_000), lane.seed);
    return estimateMinuteReplicas(scenario, firstMinute)[0] ?? scenario.scaling.minReplicas;
  });
  return scenario.services ? each : each[0]!;
}

/** The scenario as every task runs it (arrivals drawn once, in shared memory, when they fit) and its starting replicas. */
export function prepareScenario(given: Scenario): { scenario: Scenario; initialReplicas: InitialReplicas } {
  const scenario: Scenario = { ...given, traffic: materializeTraffic(given.traffic, given.durationMs, given.seed) };
  if (given.services) {
    scenario.services = given.services.map((s, i) => ({ ...s, traffic: materializeTraffic(s.traffic, given.durationMs, laneSeed(given.seed, i)) }));
    scenario.traffic = scenario.services[0]!.traffic;
  }
  return { scenario, initialReplicas: initialReplicasFor(scenario) };
}

export function tasksFor(scenario: Scenario, options: EvaluateOptions): EvaluationTask[] {
  const policies = options.policies ?? POLICIES;
  const first = scenario.placements[0]!;
  // The oracle first: it takes the longest (a few simulation rounds). It plans one service.
  const tasks: EvaluationTask[] = (options.oracle ?? true) && !scenario.services ? [{ policy: ORACLE_POLICY, placement: first }] : [];
  for (const placement of scenario.placements) for (const policy of POLICIES) if (policies.includes(policy)) tasks.push({ policy, placement });
  return tasks;
}

export function runTask(scenario: Scenario, initialReplicas: InitialReplicas, task: EvaluationTask): TaskResult {
  const started = performance.now();
  if (task.policy === ORACLE_POLICY) {
    if (typeof initialReplicas !== 'number') throw new RangeError('the oracle plans one service; this scenario lists several');
    const oracle = runOracle(scenario, initialReplicas);
    const reactiveBound = simulate(scenario, new OracleController(scenario, oracle.plan, { foresight: false }), { initialReplicas });
    const peak = oracle.plan.reduce((max, n) => Math.max(max, n), 0);
    const standingPlan = new Int32Array(oracle.plan.length).fill(peak);
    const standingBound = simulate(scenario, new OracleController(scenario, standingPlan, { foresight: false }), { initialReplicas: Math.max(initialReplicas, peak) });
    return { task, run: oracle.result, rounds: oracle.rounds, reactiveBound, standingBound, wallMs: performance.now() - started };
  }
  const policy = task.policy;
  const controllers = serviceLanes(scenario).map(() => new TreatmentController(policy, scenario));
  const run = simulate(scenario, controllers, { initialReplicas, placement: task.placement });
  return { task, run, wallMs: performance.now() - started };
}

export function assembleOutcome(scenario: Scenario, initialReplicas: InitialReplicas, results: TaskResult[]): ScenarioOutcome {
  const wallMs: Record<string, number> = {};
  const outcome: ScenarioOutcome = { scenario, initialReplicas, runs: [], wallMs };
  for (const placement of scenario.placements) {
    for (const policy of POLICIES) {
      const r = results.find((x) => x.task.policy === policy && x.task.placement === placement);
      if (r) outcome.runs.push(r.run);
    }
  }
  for (const r of results) {
    wallMs[taskName(r.task, scenario)] = r.wallMs;
    if (r.task.policy === ORACLE_POLICY) {
      outcome.oracle = r.run;
      if (r.rounds !== undefined) outcome.oracleRounds = r.rounds;
      if (r.reactiveBound) outcome.reactiveBound = r.reactiveBound;
      if (r.standingBound) outcome.standingBound = r.standingBound;
    }
  }
  return outcome;
}

/** Runs the plan on one scenario, one task after another. */
export function evaluateScenario(given: Scenario, options: EvaluateOptions = {}): ScenarioOutcome {
  const { scenario, initialReplicas } = prepareScenario(given);
  const results = tasksFor(scenario, options).map((task) => runTask(scenario, initialReplicas, task));
  return assembleOutcome(given, initialReplicas, results);
}
