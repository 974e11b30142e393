/**
 * The evaluation plan: every treatment and the oracle through the same scenario
 * (same arrivals, same per-request service times, same starting replicas). Each
 * run is an independent task, so they can run in sequence here or in worker
 * threads (parallel.ts) with the same results.
 */
import type { ScalingPolicyName } from '../autoscaler/types.ts';
import { simulate, type RunResult } from './cluster.ts';
import { ORACLE_POLICY, OracleController, estimateMinuteReplicas, runOracle } from './oracle.ts';
import type { Scenario } from './scenario-schema.ts';
import { POLICIES, TreatmentController } from './treatments.ts';
import { materializeTraffic, workPerSecond } from './traffic.ts';

export interface ScenarioOutcome {
  scenario: Scenario;
  initialReplicas: number;
  /** Treatments in plan order (A–D, those asked for). */
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

/** One independent piece of an evaluation. */
export type EvaluationTask = ScalingPolicyName | typeof ORACLE_POLICY;

export interface TaskResult {
  task: EvaluationTask;
  run: RunResult;
  /** Oracle only. */
  rounds?: number;
  reactiveBound?: RunResult;
  standingBound?: RunResult;
  wallMs: number;
}

/** Replicas every run starts with: the scenario's, or what its first minute needs. */
export function initialReplicasFor(scenario: Scenario): number {
  if (scenario.scaling.initialReplicas !== undefined) return scenario.scaling.initialReplicas;
  const firstMinute = workPerSecond(scenario.traffic, Math.min(scenario.durationMs, 60_000), scenario.seed);
  return estimateMinuteReplicas(scenario, firstMinute)[0] ?? scenario.scaling.minReplicas;
}

/** The scenario as every task runs it (arrivals drawn once, in shared memory, when they fit) and its starting replicas. */
export function prepareScenario(given: Scenario): { scenario: Scenario; initialReplicas: number } {
  const scenario: Scenario = { ...given, traffic: materializeTraffic(given.traffic, given.durationMs, given.seed) };
  return { scenario, initialReplicas: initialReplicasFor(scenario) };
}

export function tasksFor(options: EvaluateOptions): EvaluationTask[] {
  const policies = options.policies ?? POLICIES;
  // The oracle first: it takes the longest (a few simulation rounds).
  const tasks: EvaluationTask[] = (options.oracle ?? true) ? [ORACLE_POLICY] : [];
  return [...tasks, ...POLICIES.filter((p) => policies.includes(p))];
}

export function runTask(scenario: Scenario, initialReplicas: number, task: EvaluationTask): TaskResult {
  const started = performance.now();
  if (task === ORACLE_POLICY) {
    const oracle = runOracle(scenario, initialReplicas);
    const reactiveBound = simulate(scenario, new OracleController(scenario, oracle.plan, { foresight: false }), { initialReplicas });
    const peak = oracle.plan.reduce((max, n) => Math.max(max, n), 0);
    const standingPlan = new Int32Array(oracle.plan.length).fill(peak);
    const standingBound = simulate(scenario, new OracleController(scenario, standingPlan, { foresight: false }), { initialReplicas: Math.max(initialReplicas, peak) });
    return { task, run: oracle.result, rounds: oracle.rounds, reactiveBound, standingBound, wallMs: performance.now() - started };
  }
  const run = simulate(scenario, new TreatmentController(task, scenario), { initialReplicas });
  return { task, run, wallMs: performance.now() - started };
}

export function assembleOutcome(scenario: Scenario, initialReplicas: number, results: TaskResult[]): ScenarioOutcome {
  const wallMs: Record<string, number> = {};
  const outcome: ScenarioOutcome = { scenario, initialReplicas, runs: [], wallMs };
  for (const policy of POLICIES) {
    const r = results.find((x) => x.task === policy);
    if (r) outcome.runs.push(r.run);
  }
  for (const r of results) {
    wallMs[r.task] = r.wallMs;
    if (r.task === ORACLE_POLICY) {
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
  const results = tasksFor(options).map((task) => runTask(scenario, initialReplicas, task));
  return assembleOutcome(given, initialReplicas, results);
}
