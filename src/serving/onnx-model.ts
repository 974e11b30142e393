/**
 * A loaded ONNX model as the model server sees it: its inputs and outputs in OIP
 * terms (dynamic and symbolic dimensions as -1) and `run(feeds)` for one batch.
 *
 * By default the ONNX Runtime session lives in a worker thread (`ort-worker.ts`):
 * while a batch computes, the event loop keeps reading, parsing and queueing the
 * next requests and answering health checks. Inputs are moved to the worker
 * without copying. `thread: 'main'` runs the session in the calling thread.
 */
import { Worker } from 'node:worker_threads';
import { KarbError } from '../errors.ts';
import type { OipDatatype, TypedArray } from './datatypes.ts';

/** A tensor's name, element type and shape as the model declares it; -1 marks a dynamic dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: OipDatatype;
  readonly shape: readonly number[];
}

/** Values of one tensor in row-major order, with its dimensions. */
export interface TensorData {
  readonly data: TypedArray;
  readonly dims: readonly number[];
}

export type TensorMap = Record<string, TensorData>;

/** What the batcher and the server need from a loaded model. */
export interface ModelSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /**
   * True when every input's first dimension is dynamic, so rows from different
   * requests can be stacked into one run. A model with a fixed first dimension
   * runs each request on its own.
   */
  readonly batchable: boolean;
  /** False once the runtime has stopped for good (its worker thread died); the server then reports not ready. */
  readonly alive: boolean;
  /** Runs one batch. The feeds' buffers may be handed to another thread: do not reuse them afterwards. */
  run(feeds: TensorMap): Promise<TensorMap>;
  close(): Promise<void>;
}

export class ModelLoadError extends KarbError {
  constructor(message: string, cause?: unknown) {
    super('MODEL_LOAD_FAILED', message, { status: 500, cause });
  }
}

/** The model's runtime stopped (its worker thread exited); nothing more can run. */
export class ModelRuntimeError extends KarbError {
  constructor(message: string, cause?: unknown) {
    super('MODEL_RUNTIME_FAILED', message, { status: 500, cause });
  }
}

export interface LoadOptions {
  /** Threads ONNX Runtime uses inside one operator; its own default (one per core) when unset. */
  intraOpThreads?: number;
  /** Where the session runs: a worker thread (default) or the calling thread. */
  thread?: 'worker' | 'main';
}

export async function loadOnnxModel(path: string, options: LoadOptions = {}): Promise<ModelSession> {
  if (options.thread === 'main') {
    const { loadInThisThread } = await import('./ort-session.ts');
    return loadInThisThread(path, options);
  }
  return WorkerModelSession.load(path, options.intraOpThreads);
}

// ---------------------------------------------------------------------------
// Messages between this thread and ort-worker.ts.

export interface WorkerInit {
  path: string;
  intraOpThreads: number | undefined;
}

export type ToWorker = { type: 'run'; id: number; feeds: TensorMap } | { type: 'close' };

export type FromWorker =
  | { type: 'loaded'; inputs: TensorSpec[]; outputs: TensorSpec[]; batchable: boolean }
  | { type: 'load-failed'; message: string }
  | { type: 'result'; id: number; outputs: TensorMap }
  | { type: 'failed'; id: number; message: string }
  | { type: 'closed' };

interface PendingRun {
  resolve: (outputs: TensorMap) => void;
  reject: (err: unknown) => void;
}

class WorkerModelSession implements ModelSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly batchable: boolean;
  readonly #worker: Worker;
  readonly #pending = new Map<number, PendingRun>();
  #nextId = 1;
  #failure: Error | undefined;
  #closing: Promise<void> | undefined;

  get alive(): boolean {
    return this.#failure === undefined && this.#closing === undefined;
  }

  static load(path: string, intraOpThreads: number | undefined): Promise<ModelSession> {
    const worker = new Worker(new URL('./ort-worker.ts', import.meta.url), { workerData: { path, intraOpThreads } satisfies WorkerInit });
    return new Promise<ModelSession>((resolve, reject) => {
      const onMessage = (msg: FromWorker) => {
        if (msg.type === 'loaded') {
          cleanup();
          resolve(new WorkerModelSession(worker, msg));
        } else if (msg.type === 'load-failed') {
          cleanup();
          void worker.terminate();
          reject(new ModelLoadError(msg.message));
        }
      };
      const onError = (err: Error) => {
        cleanup();
        reject(new ModelLoadError(`cannot load ONNX model '${path}': the model worker failed: ${err.message}`, err));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new ModelLoadError(`cannot load ONNX model '${path}': the model worker exited with code ${code}`));
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  private constructor(worker: Worker, loaded: { inputs: TensorSpec[]; outputs: TensorSpec[]; batchable: boolean }) {
    this.#worker = worker;
    this.inputs = loaded.inputs;
    this.outputs = loaded.outputs;
    this.batchable = loaded.batchable;
    worker.on('message', (msg: FromWorker) => this.#onMessage(msg));
    worker.on('error', (err) => this.#fail(new ModelRuntimeError(`the model worker failed: ${err.message}`, err)));
    worker.on('exit', (code) => this.#fail(new ModelRuntimeError(`the model worker exited (code ${code})`)));
  }

  run(feeds: TensorMap): Promise<TensorMap> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closing !== undefined) return Promise.reject(new ModelRuntimeError('the model is closed'));
    const id = this.#nextId++;
    // Move input buffers that the tensors own outright; copy views into larger buffers.
    const transfer: ArrayBuffer[] = [];
    for (const name in feeds) {
      const data = feeds[name]!.data;
      if (data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && !transfer.includes(data.buffer)) {
        transfer.push(data.buffer);
      }
    }
    return new Promise<TensorMap>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ type: 'run', id, feeds } satisfies ToWorker, transfer);
    });
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (this.#failure !== undefined) {
        resolve();
        return;
      }
      this.#worker.once('exit', () => resolve());
      this.#worker.postMessage({ type: 'close' } satisfies ToWorker);
    });
    return this.#closing;
  }

  #onMessage(msg: FromWorker): void {
    if (msg.type === 'result' || msg.type === 'failed') {
      const pending = this.#pending.get(msg.id);
      if (pending === undefined) return;
      this.#pending.delete(msg.id);
      if (msg.type === 'result') pending.resolve(msg.outputs);
      else pending.reject(new Error(msg.message));
    }
  }

  #fail(err: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}
