import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel, OnnxGraphBuilder, OnnxGraphError, readModelMetadata } from './onnx-writer.ts';

function tinyGraph(): OnnxGraphBuilder {
  const g = new OnnxGraphBuilder('tiny');
  g.input('x', ['batch', 2]);
  g.initializer('w', [2, 1], new Float32Array([1, 2]));
  g.node('MatMul', ['x', 'w'], ['y']);
  g.output('y', ['batch', 1]);
  return g;
}

test('top-level fields use the official onnx.proto field numbers', () => {
  const bytes = encodeModel({ graph: tinyGraph().build(), metadata: { k: 'v' } });
  const hex = Buffer.from(bytes).toString('hex');
  // ir_version = field 1 varint: 0x08 0x08 (IR 8), first field on the wire.
  assert.ok(hex.startsWith('0808'), hex.slice(0, 8));
  // producer_name = field 2 string: 0x12, length 4, "karb".
  assert.ok(hex.includes('12046b617262'));
  // opset_import = field 8 message {domain = field 1 "", version = field 2 varint 17}.
  assert.ok(hex.includes('42040a001011'));
  // metadata_props = field 14 message {key = field 1 "k", value = field 2 "v"}: 0x72 0x06 0a016b 120176.
  assert.ok(hex.endsWith('72060a016b120176'), hex.slice(-24));
});

test('symbolic and fixed dimensions, initializer data and metadata survive a round trip', () => {
  const bytes = encodeModel({ graph: tinyGraph().build(), metadata: { a: '1', b: 'two' }, modelVersion: 3 });
  const model = decodeModel(bytes) as {
    ir_version: number;
    model_version: number;
    opset_import: Array<{ version: number }>;
    graph: {
      input: Array<{ type: { tensor_type: { elem_type: number; shape: { dim: Array<{ dim_param?: string; dim_value?: number }> } } } }>;
      initializer: Array<{ dims: number[]; data_type: number; raw_data: Uint8Array }>;
    };
  };
  assert.equal(model.ir_version, 8);
  assert.equal(model.model_version, 3);
  assert.equal(model.opset_import[0]?.version, 17);
  const tensorType = model.graph.input[0]!.type.tensor_type;
  assert.equal(tensorType.elem_type, 1);
  assert.deepEqual(tensorType.shape.dim, [{ dim_param: 'batch' }, { dim_value: 2 }]);
  const init = model.graph.initializer[0]!;
  assert.deepEqual(init.dims, [2, 1]);
  assert.equal(init.data_type, 1);
  const raw = init.raw_data;
  assert.deepEqual(Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))), [1, 2]);
  assert.deepEqual(readModelMetadata(bytes), { a: '1', b: 'two' });
});

test('ONNX Runtime runs a graph using each supported op and attribute kind', async () => {
  // y = tanh(gemm(relu((x - m) / s), W, b, alpha=2, transB=1)) ; z = sigmoid(y)
  const g = new OnnxGraphBuilder('ops');
  g.input('x', ['batch', 2]);
  g.initializer('m', [2], new Float32Array([1, 1]));
  g.initializer('s', [2], new Float32Array([2, 4]));
  g.initializer('W', [1, 2], new Float32Array([0.5, -0.25])); // transposed by transB
  g.initializer('b', [1], new Float32Array([0.1]));
  g.node('Sub', ['x', 'm'], ['c']);
  g.node('Div', ['c', 's'], ['d']);
  g.node('Relu', ['d'], ['r']);
  g.node('Gemm', ['r', 'W', 'b'], ['gm'], { alpha: { type: 'float', value: 2 }, transB: { type: 'int', value: 1 } });
  g.node('Tanh', ['gm'], ['y']);
  g.node('Sigmoid', ['y'], ['z']);
  g.output('y', ['batch', 1]);
  g.output('z', ['batch', 1]);
  const session = await ort.InferenceSession.create(encodeModel({ graph: g.build() }));
  try {
    assert.deepEqual(session.inputNames, ['x']);
    assert.deepEqual(session.outputNames, ['y', 'z']);
    const input = [3, 9, -1, 5];
    const result = await session.run({ x: new ort.Tensor('float32', Float32Array.from(input), [2, 2]) });
    const expected = [0, 1].map((row) => {
      const r0 = Math.max(0, (input[row * 2]! - 1) / 2);
      const r1 = Math.max(0, (input[row * 2 + 1]! - 1) / 4);
      return Math.tanh(2 * (0.5 * r0 - 0.25 * r1) + 0.1);
    });
    assert.deepEqual(result['y']!.dims, [2, 1]);
    const y = result['y']!.data as Float32Array;
    const z = result['z']!.data as Float32Array;
    expected.forEach((e, i) => {
      assert.ok(Math.abs(y[i]! - e) < 1e-6, `y[${i}] = ${y[i]}, expected ${e}`);
      assert.ok(Math.abs(z[i]! - 1 / (1 + Math.exp(-e))) < 1e-6);
    });
  } finally {
    await session.release();
  }
});

test('the builder refuses graphs ONNX Runtime would reject', () => {
  const g = new OnnxGraphBuilder('bad');
  g.input('x', ['batch', 2]);
  assert.throws(() => g.node('Relu', ['nope'], ['y']), (err: unknown) => err instanceof OnnxGraphError && /input "nope"/.test(err.message));
  assert.throws(() => g.initializer('w', [2, 2], new Float32Array(3)), /hold 4 values but data has 3/);
  assert.throws(() => g.input('x', ['batch', 2]), /defined twice/);
  assert.throws(() => g.output('missing', ['batch', 1]), /not produced/);
  assert.throws(() => new OnnxGraphBuilder('empty').build(), /at least one input and one output/);
});

test('encoding is deterministic and copies initializer data', () => {
  const data = new Float32Array([1, 2]);
  const g = new OnnxGraphBuilder('copy');
  g.input('x', ['batch', 2]);
  g.initializer('w', [2, 1], data);
  g.node('MatMul', ['x', 'w'], ['y']);
  g.output('y', ['batch', 1]);
  const graph = g.build();
  const first = encodeModel({ graph });
  data[0] = 99;
  assert.deepEqual(encodeModel({ graph }), first);
});
