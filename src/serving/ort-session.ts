/**
 * An ONNX Runtime session in the calling thread: load, describe inputs and
 * outputs in OIP terms, run. `onnx-model.ts` runs it inside a worker thread for
 * the server; tests and tools may use it directly.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { datatypeFromOrt, type TypedArray } from './datatypes.ts';
import { ModelLoadError, type LoadOptions, type ModelSession, type TensorMap, type TensorSpec } from './onnx-model.ts';

export async function loadInThisThread(path: string, options: Pick<LoadOptions, 'intraOpThreads'> = {}): Promise<ModelSession> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(path, {
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      interOpNumThreads: 1,
      logSeverityLevel: 3,
      // Idle ONNX Runtime threads sleep instead of spinning: replicas share cores with
      // the HTTP thread, the gateway and each other, and a spinning pool starves them.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
      ...(options.intraOpThreads === undefined ? {} : { intraOpNumThreads: options.intraOpThreads }),
    });
  } catch (err) {
    throw new ModelLoadError(`cannot load ONNX model '${path}': ${err instanceof Error ? err.message : String(err)}`, err);
  }
  try {
    return new OrtModelSession(session, describe(session.inputMetadata, 'input'), describe(session.outputMetadata, 'output'));
  } catch (err) {
    await session.release();
    throw err instanceof ModelLoadError ? new ModelLoadError(`cannot serve ONNX model '${path}': ${err.message}`) : err;
  }
}

/** Input or output metadata as TensorSpecs; symbolic and unknown dimensions become -1. */
function describe(metadata: readonly InferenceSession.ValueMetadata[], role: 'input' | 'output'): TensorSpec[] {
  return metadata.map((m) => {
    if (!m.isTensor) throw new ModelLoadError(`${role} '${m.name}' is not a tensor; only tensor ${role}s can be served`);
    const info = datatypeFromOrt(m.type);
    if (info === undefined) throw new ModelLoadError(`${role} '${m.name}' has element type '${m.type}', which the model server does not support`);
    return { name: m.name, datatype: info.datatype, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
  });
}

class OrtModelSession implements ModelSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly batchable: boolean;
  #alive = true;
  readonly #session: InferenceSession;
  readonly #ortTypes: ReadonlyMap<string, Tensor.Type>;

  constructor(session: InferenceSession, inputs: TensorSpec[], outputs: TensorSpec[]) {
    this.#session = session;
    this.inputs = inputs;
    this.outputs = outputs;
    this.batchable = inputs.length > 0 && inputs.every((i) => i.shape.length >= 1 && i.shape[0] === -1);
    const ortTypes = new Map<string, Tensor.Type>();
    for (const m of session.inputMetadata) if (m.isTensor) ortTypes.set(m.name, m.type);
    this.#ortTypes = ortTypes;
  }

  async run(feeds: TensorMap): Promise<TensorMap> {
    const ortFeeds: Record<string, Tensor> = {};
    for (const name in feeds) {
      const t = feeds[name]!;
      const type = this.#ortTypes.get(name);
      if (type === undefined) throw new Error(`the model has no input '${name}'`);
      // The Tensor constructor's overloads are per type; the typed array already matches `type`.
      ortFeeds[name] = new Tensor(type as 'float32', t.data as Float32Array, t.dims);
    }
    const results = await this.#session.run(ortFeeds);
    const out: TensorMap = {};
    for (const name in results) {
      const value = results[name] as Tensor;
      out[name] = { data: value.data as TypedArray, dims: value.dims };
    }
    return out;
  }

  get alive(): boolean {
    return this.#alive;
  }

  close(): Promise<void> {
    this.#alive = false;
    return this.#session.release();
  }
}
