/**
 * The tensor element types the model server speaks: Open Inference Protocol v2
 * datatype names, the ONNX Runtime type each maps to, and the typed array that
 * holds its values. One table, read by the protocol codec and the ONNX session.
 */

export type OipDatatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP32'
  | 'FP64';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface TypedArrayConstructor {
  new (length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
}

/** How JSON values become elements: plain numbers (with an integer range), bigints, or booleans. */
export type ValueKind = 'float' | 'int' | 'bigint' | 'bool';

export interface DatatypeInfo {
  readonly datatype: OipDatatype;
  /** The onnxruntime `Tensor.Type` string. */
  readonly ort: string;
  readonly array: TypedArrayConstructor;
  readonly kind: ValueKind;
  /**
   * Inclusive integer range for `int` and `bigint` kinds; for `float` kinds, `max`
   * is the largest finite magnitude (a larger number would be stored as Infinity).
   */
  readonly min?: number | bigint;
  readonly max?: number | bigint;
}

const table: readonly DatatypeInfo[] = [
  { datatype: 'BOOL', ort: 'bool', array: Uint8Array, kind: 'bool' },
  { datatype: 'UINT8', ort: 'uint8', array: Uint8Array, kind: 'int', min: 0, max: 0xff },
  { datatype: 'UINT16', ort: 'uint16', array: Uint16Array, kind: 'int', min: 0, max: 0xffff },
  { datatype: 'UINT32', ort: 'uint32', array: Uint32Array, kind: 'int', min: 0, max: 0xffffffff },
  { datatype: 'UINT64', ort: 'uint64', array: BigUint64Array, kind: 'bigint', min: 0n, max: 2n ** 64n - 1n },
  { datatype: 'INT8', ort: 'int8', array: Int8Array, kind: 'int', min: -0x80, max: 0x7f },
  { datatype: 'INT16', ort: 'int16', array: Int16Array, kind: 'int', min: -0x8000, max: 0x7fff },
  { datatype: 'INT32', ort: 'int32', array: Int32Array, kind: 'int', min: -0x80000000, max: 0x7fffffff },
  { datatype: 'INT64', ort: 'int64', array: BigInt64Array, kind: 'bigint', min: -(2n ** 63n), max: 2n ** 63n - 1n },
  { datatype: 'FP32', ort: 'float32', array: Float32Array, kind: 'float', max: 3.4028234663852886e38 },
  { datatype: 'FP64', ort: 'float64', array: Float64Array, kind: 'float', max: Number.MAX_VALUE },
];

const byDatatype = new Map<string, DatatypeInfo>(table.map((t) => [t.datatype, t]));
const byOrt = new Map<string, DatatypeInfo>(table.map((t) => [t.ort, t]));

export const SUPPORTED_DATATYPES: readonly OipDatatype[] = table.map((t) => t.datatype);

export function datatypeInfo(datatype: string): DatatypeInfo | undefined {
  return byDatatype.get(datatype);
}

/** The OIP datatype for an onnxruntime tensor type, or undefined when karb cannot serve it (float16, string, ...). */
export function datatypeFromOrt(ortType: string): DatatypeInfo | undefined {
  return byOrt.get(ortType);
}
