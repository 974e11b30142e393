/** A worker thread of parallel.ts: runs evaluation tasks on the scenario it was started with. */
import { parentPort, workerData } from 'node:worker_threads';
import { runTask, type EvaluationTask } from './evaluate.ts';
import { encodeTaskResult, type WorkerInput } from './parallel.ts';

const { scenario, initialReplicas } = workerData as WorkerInput;
parentPort!.on('message', (task: EvaluationTask) => {
  parentPort!.postMessage(encodeTaskResult(runTask(scenario, initialReplicas, task)));
});
