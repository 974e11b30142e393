/**
 * Writes real ONNX model files (protobuf ModelProto) without any Python tooling.
 * The schema below is the subset of the official onnx/onnx.proto that karb's example
 * models need, with the official field numbers, so ONNX Runtime and every other ONNX
 * reader load the result. Build a graph with OnnxGraphBuilder, then encodeModel().
 */
import protobuf from 'protobufjs';
import { KarbError } from '../errors.ts';

/** proto2 subset of onnx/onnx.proto; field numbers and packing exactly as upstream. */
const ONNX_PROTO_SUBSET = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
  }
  optional string name = 1;
  optional string doc_string = 13;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6;
    INT64 = 7; STRING = 8; BOOL = 9; FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13;
  }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  optional string name = 8;
  optional string doc_string = 12;
  optional bytes raw_data = 9;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    };
    optional string denotation = 3;
  };
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  optional string denotation = 6;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

const root = protobuf.parse(ONNX_PROTO_SUBSET, { keepCase: true }).root;
const ModelProto = root.lookupType('onnx.ModelProto');

/** ONNX TensorProto.DataType values karb writes. */
export const OnnxDataType = { float: 1, int64: 7 } as const;
export type OnnxElemType = keyof typeof OnnxDataType;

/** A dimension: a fixed size, or a symbolic name such as "batch" (dim_param). */
export type OnnxDim = number | string;

export interface OnnxValueInfo {
  name: string;
  elemType: OnnxElemType;
  shape: readonly OnnxDim[];
  docString?: string;
}

export interface OnnxInitializer {
  name: string;
  dims: readonly number[];
  /** FP32 weights, or INT64 constants (shapes, indices, slice bounds). */
  data: Float32Array | BigInt64Array;
}

export type OnnxAttribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'floats'; value: readonly number[] }
  | { type: 'ints'; value: readonly number[] };

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  attributes?: Readonly<Record<string, OnnxAttribute>>;
}

export interface OnnxGraph {
  name: string;
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  initializers: readonly OnnxInitializer[];
  nodes: readonly OnnxNode[];
  docString?: string;
}

export interface OnnxModel {
  graph: OnnxGraph;
  /** Key/value strings stored in ModelProto.metadata_props, in insertion order. */
  metadata?: Readonly<Record<string, string>>;
  docString?: string;
  /** ModelProto.model_version (an integer). */
  modelVersion?: number;
  /** Defaults: ir_version 8, opset 17, producer "karb". */
  irVersion?: number;
  opsetVersion?: number;
  producerName?: string;
  producerVersion?: string;
}

export const DEFAULT_IR_VERSION = 8;
export const DEFAULT_OPSET_VERSION = 17;
export const DEFAULT_PRODUCER_NAME = 'karb';

/** A graph that ONNX Runtime would reject: unknown value names, shape mismatches, duplicates. */
export class OnnxGraphError extends KarbError {
  constructor(message: string) {
    super('ONNX_GRAPH_INVALID', message);
  }
}

/**
 * Collects a graph in topological order and checks as it goes that every node input
 * already exists (graph input, initializer or an earlier node's output), so a wrong
 * name fails here with a clear message instead of inside ONNX Runtime.
 */
export class OnnxGraphBuilder {
  readonly name: string;
  readonly #inputs: OnnxValueInfo[] = [];
  readonly #outputs: OnnxValueInfo[] = [];
  readonly #initializers: OnnxInitializer[] = [];
  readonly #nodes: OnnxNode[] = [];
  readonly #known = new Set<string>();
  #docString: string | undefined;

  constructor(name: string) {
    this.name = name;
  }

  docString(text: string): this {
    this.#docString = text;
    return this;
  }

  /** Declares a graph input; returns its name for use as a node input. */
  input(name: string, shape: readonly OnnxDim[], elemType: OnnxElemType = 'float', docString?: string): string {
    this.#define(name);
    this.#inputs.push({ name, elemType, shape: [...shape], ...(docString === undefined ? {} : { docString }) });
    return name;
  }

  /** Adds a constant FP32 tensor; `data.length` must equal the product of `dims`. */
  initializer(name: string, dims: readonly number[], data: Float32Array): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (!dims.every((d) => Number.isInteger(d) && d >= 0) || data.length !== expected) {
      throw new OnnxGraphError(`initializer "${name}": dims [${dims.join(', ')}] hold ${expected} values but data has ${data.length}`);
    }
    this.#define(name);
    // Copy so later changes to the caller's array cannot alter a built graph.
    this.#initializers.push({ name, dims: [...dims], data: Float32Array.from(data) });
    return name;
  }

  /** Adds a constant INT64 tensor (shapes, slice bounds, axes); `data.length` must equal the product of `dims`. */
  int64Initializer(name: string, dims: readonly number[], data: readonly number[]): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (!dims.every((d) => Number.isInteger(d) && d >= 0) || data.length !== expected || !data.every(Number.isSafeInteger)) {
      throw new OnnxGraphError(`initializer "${name}": dims [${dims.join(', ')}] hold ${expected} integers but data has ${data.length} values`);
    }
    this.#define(name);
    this.#initializers.push({ name, dims: [...dims], data: BigInt64Array.from(data, (v) => BigInt(v)) });
    return name;
  }

  /** Adds a node; returns its first output name. */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attributes?: Record<string, OnnxAttribute>): string {
    for (const input of inputs) {
      // An empty name is ONNX's marker for an omitted optional input.
      if (input !== '' && !this.#known.has(input)) {
        throw new OnnxGraphError(`node ${this.#nodes.length} (${opType}): input "${input}" is not a graph input, initializer or earlier node output`);
      }
    }
    if (outputs.length === 0) throw new OnnxGraphError(`node ${this.#nodes.length} (${opType}) has no outputs`);
    for (const output of outputs) this.#define(output);
    this.#nodes.push({
      opType,
      inputs: [...inputs],
      outputs: [...outputs],
      name: `${opType.toLowerCase()}_${this.#nodes.length}`,
      ...(attributes === undefined ? {} : { attributes }),
    });
    return outputs[0]!;
  }

  /** Declares a graph output; the value must already be produced by a node or be an input. */
  output(name: string, shape: readonly OnnxDim[], elemType: OnnxElemType = 'float', docString?: string): string {
    if (!this.#known.has(name)) throw new OnnxGraphError(`output "${name}" is not produced by any node`);
    this.#outputs.push({ name, elemType, shape: [...shape], ...(docString === undefined ? {} : { docString }) });
    return name;
  }

  build(): OnnxGraph {
    if (this.#inputs.length === 0 || this.#outputs.length === 0) {
      throw new OnnxGraphError(`graph "${this.name}" needs at least one input and one output`);
    }
    return {
      name: this.name,
      inputs: [...this.#inputs],
      outputs: [...this.#outputs],
      initializers: [...this.#initializers],
      nodes: [...this.#nodes],
      ...(this.#docString === undefined ? {} : { docString: this.#docString }),
    };
  }

  #define(name: string): void {
    if (name === '') throw new OnnxGraphError('value names must not be empty');
    if (this.#known.has(name)) throw new OnnxGraphError(`value "${name}" is defined twice`);
    this.#known.add(name);
  }
}

/** Serializes a model to ONNX protobuf bytes. The same model always gives the same bytes. */
export function encodeModel(model: OnnxModel): Uint8Array {
  // Plain objects with numeric enums encode directly; fromObject would copy every tensor.
  const message = {
    ir_version: model.irVersion ?? DEFAULT_IR_VERSION,
    opset_import: [{ domain: '', version: model.opsetVersion ?? DEFAULT_OPSET_VERSION }],
    producer_name: model.producerName ?? DEFAULT_PRODUCER_NAME,
    ...(model.producerVersion === undefined ? {} : { producer_version: model.producerVersion }),
    ...(model.modelVersion === undefined ? {} : { model_version: model.modelVersion }),
    ...(model.docString === undefined ? {} : { doc_string: model.docString }),
    graph: graphToProto(model.graph),
    metadata_props: Object.entries(model.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const problem = ModelProto.verify(message);
  if (problem !== null) throw new OnnxGraphError(`model does not match onnx.proto: ${problem}`);
  return ModelProto.encode(message).finish();
}

/**
 * Reads ONNX bytes back into plain objects (snake_case, as in onnx.proto; int64 as
 * numbers, bytes as Uint8Array). For inspection and tests; fields outside karb's
 * subset are skipped.
 */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false, arrays: true });
}

/** The metadata_props of an ONNX file as a plain record. */
export function readModelMetadata(bytes: Uint8Array): Record<string, string> {
  const decoded = decodeModel(bytes) as { metadata_props?: Array<{ key?: string; value?: string }> };
  const out: Record<string, string> = {};
  for (const entry of decoded.metadata_props ?? []) {
    if (entry.key !== undefined) out[entry.key] = entry.value ?? '';
  }
  return out;
}

function graphToProto(graph: OnnxGraph): Record<string, unknown> {
  return {
    name: graph.name,
    ...(graph.docString === undefined ? {} : { doc_string: graph.docString }),
    node: graph.nodes.map(nodeToProto),
    initializer: graph.initializers.map(tensorToProto),
    input: graph.inputs.map(valueInfoToProto),
    output: graph.outputs.map(valueInfoToProto),
  };
}

function nodeToProto(node: OnnxNode): Record<string, unknown> {
  return {
    input: node.inputs,
    output: node.outputs,
    ...(node.name === undefined ? {} : { name: node.name }),
    op_type: node.opType,
    attribute: Object.entries(node.attributes ?? {}).map(([name, attr]) => attributeToProto(name, attr)),
  };
}

/** AttributeProto.AttributeType values. */
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

function attributeToProto(name: string, attr: OnnxAttribute): Record<string, unknown> {
  switch (attr.type) {
    case 'float':
      return { name, type: ATTRIBUTE_TYPE.float, f: attr.value };
    case 'int':
      return { name, type: ATTRIBUTE_TYPE.int, i: attr.value };
    case 'string':
      return { name, type: ATTRIBUTE_TYPE.string, s: new TextEncoder().encode(attr.value) };
    case 'floats':
      return { name, type: ATTRIBUTE_TYPE.floats, floats: attr.value };
    case 'ints':
      return { name, type: ATTRIBUTE_TYPE.ints, ints: attr.value };
  }
}

function tensorToProto(tensor: OnnxInitializer): Record<string, unknown> {
  if (tensor.data instanceof BigInt64Array) {
    return { name: tensor.name, dims: tensor.dims, data_type: OnnxDataType.int64, raw_data: int64LittleEndian(tensor.data) };
  }
  return { name: tensor.name, dims: tensor.dims, data_type: OnnxDataType.float, raw_data: float32LittleEndian(tensor.data) };
}

function valueInfoToProto(info: OnnxValueInfo): Record<string, unknown> {
  return {
    name: info.name,
    ...(info.docString === undefined ? {} : { doc_string: info.docString }),
    type: {
      tensor_type: {
        elem_type: OnnxDataType[info.elemType],
        shape: { dim: info.shape.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) },
      },
    },
  };
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** ONNX raw_data is little-endian IEEE 754 regardless of the host. */
function float32LittleEndian(data: Float32Array): Uint8Array {
  // The builder owns a private copy of every initializer, so a view is safe here.
  if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return out;
}

function int64LittleEndian(data: BigInt64Array): Uint8Array {
  const out = new Uint8Array(data.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setBigInt64(i * 8, data[i]!, true);
  return out;
}
