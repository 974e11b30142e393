/**
 * Open Inference Protocol v2 (KServe) codec for the model server: validates an
 * infer request against the model's declared inputs and turns it into typed
 * arrays; encodes outputs and metadata back to JSON. Every rejection is an
 * InvalidRequestError whose message names the tensor, what was expected and what
 * was sent. Pure functions; no I/O.
 *
 * Also speaks the binary tensor data extension (as Triton and its clients do): a
 * request whose `Inference-Header-Content-Length` header gives the length of its
 * JSON part carries raw little-endian tensor bytes after it, one block per input
 * that declares `parameters.binary_data_size`; outputs come back the same way
 * when asked for with `parameters.binary_data_output` (request) or
 * `parameters.binary_data` (per output). No number parsing for large tensors.
 */
import { InvalidRequestError } from '../errors.ts';
import { datatypeInfo, SUPPORTED_DATATYPES, type DatatypeInfo, type TypedArray } from './datatypes.ts';
import type { TensorData, TensorMap, TensorSpec } from './onnx-model.ts';

/** What the codec needs to know about the served model. */
export interface ModelSignature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** True when the first dimension of every input is the (dynamic) batch dimension. */
  readonly batchable: boolean;
}

export interface InferRequest {
  /** Echoed back in the response when the caller sent one. */
  id: string | undefined;
  /** Rows in this request (the batch dimension); 1 for a model that is not batchable. */
  rows: number;
  feeds: TensorMap;
  /** Output names the caller asked for, in order; undefined means all of them. */
  outputs: string[] | undefined;
  /** Outputs to return as binary data rather than JSON numbers. */
  binaryOutputs: ReadonlySet<string>;
}

/**
 * Validates a parsed JSON infer request. `binary` is the part of the body after
 * the JSON header when the request uses the binary tensor data extension.
 */
export function parseInferRequest(body: unknown, model: ModelSignature, binary?: Uint8Array): InferRequest {
  if (!isObject(body)) throw invalid(`the request body must be a JSON object with an "inputs" array, got ${describeValue(body)}`);

  let id: string | undefined;
  if (body.id !== undefined) {
    if (typeof body.id !== 'string') throw invalid(`"id" must be a string, got ${describeValue(body.id)}`);
    id = body.id;
  }

  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw invalid(`"inputs" must be a non-empty array of tensors, got ${describeValue(inputs)}; the model takes ${listSpecs(model.inputs)}`);
  }

  const feeds: TensorMap = {};
  const cursor = { binary, offset: 0 };
  let rows = -1;
  let rowsFrom = '';
  for (let i = 0; i < inputs.length; i++) {
    const raw: unknown = inputs[i];
    const where = `inputs[${i}]`;
    if (!isObject(raw)) throw invalid(`${where} must be an object with name, datatype, shape and data, got ${describeValue(raw)}`);
    if (typeof raw.name !== 'string') throw invalid(`${where}.name must be a string, got ${describeValue(raw.name)}`);
    const name = raw.name;
    const spec = model.inputs.find((s) => s.name === name);
    if (spec === undefined) throw invalid(`unknown input '${clip(name)}'; the model takes ${listSpecs(model.inputs)}`);
    if (feeds[name] !== undefined) throw invalid(`input '${name}' is given more than once`);

    const tensor = parseTensor(raw, spec, cursor);
    feeds[name] = tensor;

    if (model.batchable) {
      const n = tensor.dims[0]!;
      if (rows === -1) {
        rows = n;
        rowsFrom = name;
      } else if (n !== rows) {
        throw invalid(`input '${name}' has batch size ${n} but input '${rowsFrom}' has ${rows}; every input needs the same first dimension`);
      }
    }
  }

  for (const spec of model.inputs) {
    if (feeds[spec.name] === undefined) throw invalid(`missing input '${spec.name}' (${spec.datatype} ${formatShape(spec.shape)})`);
  }

  if (binary !== undefined && cursor.offset !== binary.length) {
    throw invalid(`the request carries ${binary.length} bytes of binary tensor data after its JSON header, but its inputs declare ${cursor.offset} (parameters.binary_data_size)`);
  }

  const allBinary = isObject(body.parameters) && body.parameters.binary_data_output === true;
  const binaryOutputs = new Set<string>();
  let outputs: string[] | undefined;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw invalid(`"outputs" must be an array of {"name": ...} objects, got ${describeValue(body.outputs)}`);
    outputs = [];
    for (let i = 0; i < body.outputs.length; i++) {
      const o: unknown = body.outputs[i];
      if (!isObject(o) || typeof o.name !== 'string') throw invalid(`outputs[${i}] must be an object with a string "name", got ${describeValue(o)}`);
      const name = o.name;
      if (!model.outputs.some((s) => s.name === name)) {
        throw invalid(`unknown output '${clip(name)}' in "outputs"; the model produces ${model.outputs.map((s) => `'${s.name}'`).join(', ')}`);
      }
      outputs.push(name);
      const flag = isObject(o.parameters) ? o.parameters.binary_data : undefined;
      if (flag === true || (allBinary && flag !== false)) binaryOutputs.add(name);
    }
  } else if (allBinary) {
    for (const o of model.outputs) binaryOutputs.add(o.name);
  }

  return { id, rows: model.batchable ? rows : 1, feeds, outputs, binaryOutputs };
}

interface BinaryCursor {
  readonly binary: Uint8Array | undefined;
  offset: number;
}

function parseTensor(raw: Record<string, unknown>, spec: TensorSpec, cursor: BinaryCursor): TensorData {
  const name = spec.name;
  const expected = `${spec.datatype} ${formatShape(spec.shape)}`;

  if (typeof raw.datatype !== 'string') throw invalid(`input '${name}': "datatype" must be a string such as "${spec.datatype}", got ${describeValue(raw.datatype)}`);
  const info = datatypeInfo(raw.datatype);
  if (info === undefined) {
    throw invalid(`input '${name}': unknown datatype ${JSON.stringify(clip(raw.datatype))}; expected ${spec.datatype} (supported: ${SUPPORTED_DATATYPES.join(', ')})`);
  }
  if (info.datatype !== spec.datatype) throw invalid(`input '${name}': expected datatype ${spec.datatype}, got ${info.datatype}`);

  const shape = raw.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw invalid(`input '${name}': "shape" must be an array of non-negative integers such as ${formatShape(exampleShape(spec.shape))}, got ${describeValue(shape)}`);
  }
  const dims = shape as number[];
  // An empty declared shape means the model does not say; onnxruntime checks it then.
  if (spec.shape.length > 0) {
    if (dims.length !== spec.shape.length) {
      throw invalid(`input '${name}': expected shape ${formatShape(spec.shape)} (rank ${spec.shape.length}), got ${formatShape(dims)} (rank ${dims.length})`);
    }
    for (let d = 0; d < dims.length; d++) {
      const want = spec.shape[d]!;
      if (want !== -1 && dims[d] !== want) {
        throw invalid(`input '${name}': dimension ${d} must be ${want} (expected shape ${formatShape(spec.shape)}), got ${formatShape(dims)}`);
      }
    }
    if (spec.shape[0] === -1 && dims[0] === 0) throw invalid(`input '${name}': the batch dimension must be at least 1, got shape ${formatShape(dims)}`);
  }

  let count = 1;
  for (const d of dims) count *= d;

  const binarySize = isObject(raw.parameters) ? raw.parameters.binary_data_size : undefined;
  if (binarySize !== undefined) return { data: readBinary(name, dims, count, info, binarySize, raw.data, cursor), dims };

  const data = raw.data;
  if (!Array.isArray(data)) throw invalid(`input '${name}': "data" must be an array (flat or nested) of ${count} values, got ${describeValue(data)}`);
  // Count before allocating, so a large claimed shape with little data cannot make us allocate.
  const maxDepth = Math.min(Math.max(dims.length, 1), MAX_DATA_NESTING);
  const got = countLeaves(data, maxDepth);
  if (got === TOO_DEEP) {
    throw invalid(`input '${name}': "data" is nested deeper than ${maxDepth} levels; shape ${formatShape(dims)} nests at most ${maxDepth} (one level per dimension), or send the values flat`);
  }
  if (got !== count) throw invalid(`input '${name}': shape ${formatShape(dims)} needs ${count} values, got ${got} (the model expects ${expected})`);

  const values = new info.array(count);
  fill(values, data, 0, info, name);
  return { data: values, dims };
}

/** Copies an input's values out of the binary section (into an aligned typed array of its own). */
function readBinary(name: string, dims: readonly number[], count: number, info: DatatypeInfo, size: unknown, data: unknown, cursor: BinaryCursor): TypedArray {
  if (data !== undefined) throw invalid(`input '${name}': give either "data" or parameters.binary_data_size, not both`);
  if (cursor.binary === undefined) {
    throw invalid(`input '${name}': parameters.binary_data_size is set but the request has no binary part; send the JSON length in the Inference-Header-Content-Length header and the tensor bytes after the JSON`);
  }
  const bytes = count * info.array.BYTES_PER_ELEMENT;
  if (size !== bytes) {
    throw invalid(`input '${name}': parameters.binary_data_size must be ${bytes} (shape ${formatShape(dims)} of ${info.datatype}, ${info.array.BYTES_PER_ELEMENT} bytes each, little-endian), got ${describeValue(size)}`);
  }
  const end = cursor.offset + bytes;
  if (end > cursor.binary.length) {
    throw invalid(`input '${name}': needs ${bytes} bytes of binary data at offset ${cursor.offset}, but the binary part has only ${cursor.binary.length - cursor.offset} left`);
  }
  const values = new info.array(count);
  new Uint8Array(values.buffer).set(cursor.binary.subarray(cursor.offset, end));
  cursor.offset = end;
  return values;
}

/**
 * The deepest nesting of `data` accepted whatever the shape: `fill` recurses once
 * per level, so this bounds its stack even for a model whose inputs declare no
 * shape (the caller's shape, of any rank, is then all there is).
 */
const MAX_DATA_NESTING = 32;

/** What `countLeaves` answers for data nested deeper than allowed. */
const TOO_DEEP = -1;

/**
 * Counts the scalar leaves of a (possibly ragged) nested array, or answers
 * TOO_DEEP when an array sits deeper than `maxDepth` levels (the outer array is
 * level 1). Walks with its own stack rather than recursing: JSON.parse accepts
 * `[[[[...]]]]` thousands of levels deep, and that must be a 400, not a stack overflow.
 */
function countLeaves(data: readonly unknown[], maxDepth: number): number {
  const arrays: Array<readonly unknown[]> = [data];
  const positions: number[] = [0];
  let n = 0;
  while (arrays.length > 0) {
    const top = arrays.length - 1;
    const a = arrays[top]!;
    let i = positions[top]!;
    while (i < a.length && !Array.isArray(a[i])) i++;
    n += i - positions[top]!;
    if (i === a.length) {
      arrays.pop();
      positions.pop();
      continue;
    }
    if (arrays.length === maxDepth) return TOO_DEEP;
    positions[top] = i + 1;
    arrays.push(a[i] as unknown[]);
    positions.push(0);
  }
  return n;
}

/**
 * Writes the leaves of `data` into `out` from `at`; returns the next free index.
 * Recurses once per level of nesting, which `countLeaves` has bounded.
 */
function fill(out: TypedArray, data: readonly unknown[], at: number, info: DatatypeInfo, name: string): number {
  const n = data.length;
  switch (info.kind) {
    case 'float': {
      const f = out as Float64Array;
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (typeof v === 'number') {
          // JSON has no NaN or Infinity, but 1e39 is Infinity as FP32 and 1e999 already is one once parsed.
          f[at] = v;
          if (!Number.isFinite(f[at]!)) throw outOfRange(name, at, v, info);
          at++;
        } else if (Array.isArray(v)) at = fill(out, v, at, info, name);
        else throw badValue(name, at, v, info);
      }
      return at;
    }
    case 'int': {
      const a = out as Int32Array;
      const min = info.min as number;
      const max = info.max as number;
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) a[at++] = v;
        else if (Array.isArray(v)) at = fill(out, v, at, info, name);
        else throw badValue(name, at, v, info);
      }
      return at;
    }
    case 'bigint': {
      const a = out as BigInt64Array;
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (Array.isArray(v)) {
          at = fill(out, v, at, info, name);
          continue;
        }
        // Integers beyond 2^53 can be sent as decimal strings to keep every digit.
        const b = typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : typeof v === 'string' && /^-?\d{1,20}$/.test(v) ? BigInt(v) : undefined;
        if (b === undefined || b < (info.min as bigint) || b > (info.max as bigint)) throw badValue(name, at, v, info);
        a[at++] = b;
      }
      return at;
    }
    case 'bool': {
      const a = out as Uint8Array;
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (typeof v === 'boolean') a[at++] = v ? 1 : 0;
        else if (Array.isArray(v)) at = fill(out, v, at, info, name);
        else throw badValue(name, at, v, info);
      }
      return at;
    }
  }
}

function badValue(name: string, index: number, value: unknown, info: DatatypeInfo): InvalidRequestError {
  const want =
    info.kind === 'float'
      ? 'a number'
      : info.kind === 'bool'
        ? 'true or false'
        : `an integer from ${String(info.min)} to ${String(info.max)}${info.kind === 'bigint' ? ' (a number, or a decimal string for large values)' : ''}`;
  return invalid(`input '${name}': value ${index} (in row-major order) is ${describeValue(value)}; ${info.datatype} expects ${want}`);
}

/** A number that does not fit the float type: it would reach the model as Infinity. */
function outOfRange(name: string, index: number, value: number, info: DatatypeInfo): InvalidRequestError {
  const what = Number.isFinite(value) ? `number ${value}` : 'a number';
  return invalid(
    `input '${name}': value ${index} (in row-major order) is ${what} beyond the range of ${info.datatype} (largest magnitude ${String(info.max)}); ${info.datatype} expects a finite number`,
  );
}

// ---------------------------------------------------------------------------
// Responses

/** An encoded infer response: the JSON document, then binary output blocks (empty when all outputs are JSON). */
export interface EncodedResponse {
  json: string;
  binary: Uint8Array[];
}

/**
 * Encodes an infer response. Written by hand rather than through JSON.stringify
 * so typed arrays are joined directly instead of being copied into arrays first.
 */
export function encodeInferResponse(
  modelName: string,
  modelVersion: string,
  request: Pick<InferRequest, 'id' | 'outputs' | 'binaryOutputs'>,
  outputs: TensorMap,
  specs: readonly TensorSpec[],
): EncodedResponse {
  let s = `{"model_name":${JSON.stringify(modelName)},"model_version":${JSON.stringify(modelVersion)}`;
  if (request.id !== undefined) s += `,"id":${JSON.stringify(request.id)}`;
  s += ',"outputs":[';
  const binary: Uint8Array[] = [];
  const names = request.outputs ?? specs.map((o) => o.name);
  let first = true;
  for (const name of names) {
    const tensor = outputs[name];
    const spec = specs.find((o) => o.name === name);
    if (tensor === undefined || spec === undefined) continue;
    if (!first) s += ',';
    first = false;
    s += `{"name":${JSON.stringify(name)},"datatype":"${spec.datatype}","shape":[${tensor.dims.join(',')}],`;
    if (request.binaryOutputs.has(name)) {
      const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
      binary.push(bytes);
      s += `"parameters":{"binary_data_size":${bytes.byteLength}}}`;
    } else {
      s += `"data":[${encodeData(tensor.data, spec)}]}`;
    }
  }
  return { json: s + ']}', binary };
}

function encodeData(data: TypedArray, spec: TensorSpec): string {
  const info = datatypeInfo(spec.datatype)!;
  if (info.kind === 'bool') {
    let s = '';
    for (let i = 0; i < data.length; i++) s += (i === 0 ? '' : ',') + (data[i] ? 'true' : 'false');
    return s;
  }
  if (info.kind === 'float') {
    const f = data as Float64Array;
    for (let i = 0; i < f.length; i++) {
      // JSON has no NaN or Infinity; write null for them, as JSON.stringify does.
      if (!Number.isFinite(f[i]!)) return Array.from(f, (v) => (Number.isFinite(v) ? String(v) : 'null')).join(',');
    }
  }
  return (data as Float64Array).join(',');
}

/** The OIP model metadata document: dynamic dimensions are -1. */
export function modelMetadata(name: string, versions: readonly string[], model: ModelSignature): object {
  const tensors = (specs: readonly TensorSpec[]) => specs.map((s) => ({ name: s.name, datatype: s.datatype, shape: [...s.shape] }));
  return { name, versions: [...versions], platform: 'onnxruntime', inputs: tensors(model.inputs), outputs: tensors(model.outputs) };
}

// ---------------------------------------------------------------------------
// Helpers

function invalid(message: string): InvalidRequestError {
  return new InvalidRequestError(message, { code: 'INVALID_INFER_REQUEST' });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function exampleShape(shape: readonly number[]): number[] {
  return shape.map((d) => (d === -1 ? 1 : d));
}

function listSpecs(specs: readonly TensorSpec[]): string {
  return specs.map((s) => `'${s.name}' (${s.datatype} ${formatShape(s.shape)})`).join(', ');
}

/** Caller-supplied text echoed in an error message, cut to a readable length. */
export function clip(text: string, max = 64): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** A short, safe description of a JSON value for error messages. */
function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${String(v)}`;
}
