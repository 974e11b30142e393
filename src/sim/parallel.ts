/**
 * The evaluation's tasks on worker threads: one per treatment plus the oracle,
 * spread over up to `jobs` workers. Results are the same as running them in
 * sequence (each task is deterministic on its own); arrivals are shared, not copied.
 */
import { Worker } from 'node:worker_threads';
import type { RunResult } from './cluster.ts';
import { assembleOutcome, prepareScenario, tasksFor, type EvaluateOptions, type EvaluationTask, type InitialReplicas, type ScenarioOutcome, type TaskResult } from './evaluate.ts';
import { BinnedHistogram } from './histogram.ts';
import type { Scenario } from './scenario-schema.ts';

/** A RunResult as it crosses the worker boundary (the histogram as its counts). */
export type EncodedRun = Omit<RunResult, 'latency'> & { latencyCounts: Float64Array };
export type EncodedTaskResult = Omit<TaskResult, 'run' | 'reactiveBound' | 'standingBound'> & { run: EncodedRun; reactiveBound?: EncodedRun; standingBound?: EncodedRun };

export function encodeRun(run: RunResult): EncodedRun {
  const { latency, ...rest } = run;
  return { ...rest, latencyCounts: latency.counts };
}

export function decodeRun(encoded: EncodedRun): RunResult {
  const { latencyCounts, ...rest } = encoded;
  return { ...rest, latency: BinnedHistogram.fromCounts(latencyCounts) };
}

export function encodeTaskResult(r: TaskResult): EncodedTaskResult {
  const { run, reactiveBound, standingBound, ...rest } = r;
  const out: EncodedTaskResult = { ...rest, run: encodeRun(run) };
  if (reactiveBound) out.reactiveBound = encodeRun(reactiveBound);
  if (standingBound) out.standingBound = encodeRun(standingBound);
  return out;
}

function decodeTaskResult(r: EncodedTaskResult): TaskResult {
  const { run, reactiveBound, standingBound, ...rest } = r;
  const out: TaskResult = { ...rest, run: decodeRun(run) };
  if (reactiveBound) out.reactiveBound = decodeRun(reactiveBound);
  if (standingBound) out.standingBound = decodeRun(standingBound);
  return out;
}

export interface WorkerInput {
  scenario: Scenario;
  initialReplicas: InitialReplicas;
}

/** Runs the plan on one scenario with up to `jobs` worker threads. */
export async function evaluateScenarioInWorkers(given: Scenario, options: EvaluateOptions & { jobs: number }): Promise<ScenarioOutcome> {
  const { scenario, initialReplicas } = prepareScenario(given);
  const tasks = tasksFor(scenario, options);
  const queue = [...tasks];
  const results: TaskResult[] = [];
  const workerData: WorkerInput = { scenario, initialReplicas };
  const workers = Array.from({ length: Math.max(1, Math.min(options.jobs, tasks.length)) }, () => new Worker(new URL('./worker.ts', import.meta.url), { workerData }));
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const next = (): void => {
              const task = queue.shift();
              if (task === undefined) return resolve();
              worker.postMessage(task satisfies EvaluationTask);
            };
            worker.on('message', (message: EncodedTaskResult) => {
              results.push(decodeTaskResult(message));
              next();
            });
            worker.on('error', reject);
            worker.on('exit', (code) => {
              if (code !== 0) reject(new Error(`a simulation worker exited with code ${code}`));
            });
            next();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return assembleOutcome(given, initialReplicas, results);
}
