/**
 * Worker thread that owns the ONNX Runtime session (see onnx-model.ts): loads
 * the model named in workerData, then runs one batch per `run` message and posts
 * the outputs back. `close` releases the session and ends the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, ModelSession, ToWorker, WorkerInit } from './onnx-model.ts';
import { loadInThisThread } from './ort-session.ts';

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (msg: FromWorker) => port.postMessage(msg);

let model: ModelSession;
try {
  model = await loadInThisThread(init.path, init.intraOpThreads === undefined ? {} : { intraOpThreads: init.intraOpThreads });
  post({ type: 'loaded', inputs: [...model.inputs], outputs: [...model.outputs], batchable: model.batchable });
} catch (err) {
  post({ type: 'load-failed', message: err instanceof Error ? err.message : String(err) });
  port.close();
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'run') {
    model.run(msg.feeds).then(
      (outputs) => post({ type: 'result', id: msg.id, outputs }),
      (err: unknown) => post({ type: 'failed', id: msg.id, message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (msg.type === 'close') {
    void model.close().finally(() => port.close());
  }
});
