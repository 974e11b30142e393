import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidRequestError } from '../errors.ts';
import { encodeInferResponse, modelMetadata, parseInferRequest, type ModelSignature } from './oip.ts';

const fraud: ModelSignature = {
  inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 8] }],
  outputs: [{ name: 'probability', datatype: 'FP32', shape: [-1, 1] }],
  batchable: true,
};

const multi: ModelSignature = {
  inputs: [
    { name: 'ids', datatype: 'INT64', shape: [-1, 3] },
    { name: 'mask', datatype: 'BOOL', shape: [-1, 3] },
    { name: 'pos', datatype: 'INT32', shape: [-1] },
  ],
  outputs: [
    { name: 'score', datatype: 'FP64', shape: [-1] },
    { name: 'label', datatype: 'INT64', shape: [-1] },
  ],
  batchable: true,
};

const row = [0, 1, 2, 3, 4, 5, 6, 7];
const features = (over: Record<string, unknown> = {}) => ({ name: 'features', datatype: 'FP32', shape: [1, 8], data: row, ...over });

describe('parseInferRequest rejects bad requests with a message that says what and where', () => {
  const cases: Array<{ name: string; model?: ModelSignature; body: unknown; error: RegExp }> = [
    { name: 'body is not an object', body: [1, 2], error: /request body must be a JSON object with an "inputs" array, got an array of 2/ },
    { name: 'inputs missing', body: {}, error: /"inputs" must be a non-empty array of tensors, got nothing; the model takes 'features' \(FP32 \[-1, 8\]\)/ },
    { name: 'inputs empty', body: { inputs: [] }, error: /"inputs" must be a non-empty array/ },
    { name: 'input is not an object', body: { inputs: [7] }, error: /inputs\[0\] must be an object with name, datatype, shape and data, got number 7/ },
    { name: 'input without a name', body: { inputs: [{ datatype: 'FP32' }] }, error: /inputs\[0\]\.name must be a string, got nothing/ },
    { name: 'unknown input name', body: { inputs: [features({ name: 'feature' })] }, error: /unknown input 'feature'; the model takes 'features' \(FP32 \[-1, 8\]\)/ },
    { name: 'input given twice', body: { inputs: [features(), features()] }, error: /input 'features' is given more than once/ },
    {
      name: 'missing input',
      model: multi,
      body: { inputs: [{ name: 'ids', datatype: 'INT64', shape: [1, 3], data: [1, 2, 3] }, { name: 'pos', datatype: 'INT32', shape: [1], data: [0] }] },
      error: /missing input 'mask' \(BOOL \[-1, 3\]\)/,
    },
    { name: 'wrong datatype', body: { inputs: [features({ datatype: 'FP64' })] }, error: /input 'features': expected datatype FP32, got FP64/ },
    { name: 'unknown datatype', body: { inputs: [features({ datatype: 'FLOAT' })] }, error: /input 'features': unknown datatype "FLOAT"; expected FP32 \(supported: BOOL, .*FP64\)/ },
    { name: 'datatype missing', body: { inputs: [features({ datatype: undefined })] }, error: /input 'features': "datatype" must be a string such as "FP32", got nothing/ },
    { name: 'shape not an array', body: { inputs: [features({ shape: '1x8' })] }, error: /input 'features': "shape" must be an array of non-negative integers such as \[1, 8\], got the string "1x8"/ },
    { name: 'negative dimension', body: { inputs: [features({ shape: [-1, 8] })] }, error: /"shape" must be an array of non-negative integers/ },
    { name: 'wrong rank', body: { inputs: [features({ shape: [8] })] }, error: /input 'features': expected shape \[-1, 8\] \(rank 2\), got \[8\] \(rank 1\)/ },
    { name: 'wrong non-batch dimension', body: { inputs: [features({ shape: [1, 7], data: row.slice(1) })] }, error: /input 'features': dimension 1 must be 8 \(expected shape \[-1, 8\]\), got \[1, 7\]/ },
    { name: 'zero rows', body: { inputs: [features({ shape: [0, 8], data: [] })] }, error: /input 'features': the batch dimension must be at least 1, got shape \[0, 8\]/ },
    { name: 'data missing', body: { inputs: [features({ data: undefined })] }, error: /input 'features': "data" must be an array \(flat or nested\) of 8 values, got nothing/ },
    { name: 'too few values', body: { inputs: [features({ shape: [2, 8] })] }, error: /input 'features': shape \[2, 8\] needs 16 values, got 8 \(the model expects FP32 \[-1, 8\]\)/ },
    { name: 'too many values', body: { inputs: [features({ data: [...row, 8] })] }, error: /input 'features': shape \[1, 8\] needs 8 values, got 9/ },
    { name: 'too many nested values', body: { inputs: [features({ data: [row, row] })] }, error: /input 'features': shape \[1, 8\] needs 8 values, got 16/ },
    { name: 'ragged nesting', body: { inputs: [features({ shape: [2, 8], data: [1, [2, 3], ...row.slice(2), ...row] })] }, error: /shape \[2, 8\] needs 16 values, got 17/ },
    { name: 'string value', body: { inputs: [features({ data: [0, 1, 2, 'x', 4, 5, 6, 7] })] }, error: /input 'features': value 3 \(in row-major order\) is the string "x"; FP32 expects a number/ },
    { name: 'null value in a nested row', body: { inputs: [features({ shape: [2, 8], data: [row, [0, null, 2, 3, 4, 5, 6, 7]] })] }, error: /input 'features': value 9 .* is null; FP32 expects a number/ },
    {
      name: 'fractional INT32',
      model: multi,
      body: { inputs: [{ name: 'pos', datatype: 'INT32', shape: [1], data: [1.5] }] },
      error: /input 'pos': value 0 .* is number 1.5; INT32 expects an integer from -2147483648 to 2147483647/,
    },
    {
      name: 'INT32 out of range',
      model: multi,
      body: { inputs: [{ name: 'pos', datatype: 'INT32', shape: [1], data: [2 ** 31] }] },
      error: /input 'pos': value 0 .* is number 2147483648; INT32 expects an integer/,
    },
    {
      name: 'INT64 string that is not an integer',
      model: multi,
      body: { inputs: [{ name: 'ids', datatype: 'INT64', shape: [1, 3], data: [1, '2x', 3] }] },
      error: /input 'ids': value 1 .* is the string "2x"; INT64 expects an integer .*decimal string for large values/,
    },
    {
      name: 'BOOL given as a number',
      model: multi,
      body: { inputs: [{ name: 'mask', datatype: 'BOOL', shape: [1, 3], data: [true, 1, false] }] },
      error: /input 'mask': value 1 .* is number 1; BOOL expects true or false/,
    },
    {
      name: 'inputs disagree on the batch size',
      model: multi,
      body: {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
          { name: 'mask', datatype: 'BOOL', shape: [1, 3], data: [true, true, false] },
          { name: 'pos', datatype: 'INT32', shape: [2], data: [0, 1] },
        ],
      },
      error: /input 'mask' has batch size 1 but input 'ids' has 2; every input needs the same first dimension/,
    },
    { name: 'FP32 value beyond the float32 range', body: { inputs: [features({ data: [0, 1, 2, 1e39, 4, 5, 6, 7] })] }, error: /input 'features': value 3 \(in row-major order\) is number 1e\+39 beyond the range of FP32 \(largest magnitude 3\.4028234663852886e\+38\); FP32 expects a finite number/ },
    { name: 'negative FP32 value beyond the float32 range', body: { inputs: [features({ shape: [2, 8], data: [row, [0, 1, 2, 3, 4, 5, 6, -3.5e38]] })] }, error: /input 'features': value 15 .* is number -3\.5e\+38 beyond the range of FP32/ },
    { name: 'FP32 value that JSON reads as Infinity', body: { inputs: [features({ data: JSON.parse(`[0, 1e999, 2, 3, 4, 5, 6, 7]`) })] }, error: /input 'features': value 1 .* is a number beyond the range of FP32/ },
    {
      name: 'FP64 value that JSON reads as Infinity',
      model: { inputs: [{ name: 'x', datatype: 'FP64', shape: [-1] }], outputs: [], batchable: true },
      body: { inputs: [{ name: 'x', datatype: 'FP64', shape: [2], data: JSON.parse(`[1, -1e999]`) }] },
      error: /input 'x': value 1 .* is a number beyond the range of FP64 \(largest magnitude 1\.7976931348623157e\+308\)/,
    },
    { name: 'data nested thousands of levels deep', body: { inputs: [features({ data: JSON.parse(`${'['.repeat(9000)}1${']'.repeat(9000)}`) })] }, error: /input 'features': "data" is nested deeper than 2 levels; shape \[1, 8\] nests at most 2 \(one level per dimension\), or send the values flat/ },
    { name: 'deep nesting after a flat value', body: { inputs: [features({ data: [0, 1, 2, 3, 4, 5, 6, JSON.parse(`${'['.repeat(9000)}7${']'.repeat(9000)}`)] })] }, error: /input 'features': "data" is nested deeper than 2 levels/ },
    { name: 'data nested one level deeper than the shape', body: { inputs: [features({ data: [[row]] })] }, error: /input 'features': "data" is nested deeper than 2 levels/ },
    {
      name: 'deep nesting for a model with undeclared shapes',
      model: { inputs: [{ name: 'x', datatype: 'FP32', shape: [] }], outputs: [], batchable: false },
      body: { inputs: [{ name: 'x', datatype: 'FP32', shape: new Array(9000).fill(1), data: JSON.parse(`${'['.repeat(9000)}1${']'.repeat(9000)}`) }] },
      error: /input 'x': "data" is nested deeper than 32 levels/,
    },
    { name: 'id not a string', body: { id: 42, inputs: [features()] }, error: /"id" must be a string, got number 42/ },
    { name: 'outputs not an array', body: { inputs: [features()], outputs: 'probability' }, error: /"outputs" must be an array of \{"name": ...\} objects/ },
    { name: 'unknown output requested', body: { inputs: [features()], outputs: [{ name: 'prob' }] }, error: /unknown output 'prob' in "outputs"; the model produces 'probability'/ },
  ];

  for (const c of cases) {
    it(c.name, () => {
      assert.throws(
        () => parseInferRequest(c.body, c.model ?? fraud),
        (err: unknown) => {
          assert.ok(err instanceof InvalidRequestError, `expected InvalidRequestError, got ${String(err)}`);
          assert.equal(err.status, 400);
          assert.match(err.message, c.error);
          return true;
        },
      );
    });
  }
});

describe('parseInferRequest accepts', () => {
  it('flat and nested data as the same row-major tensor', () => {
    const flat = parseInferRequest({ inputs: [features({ shape: [2, 8], data: [...row, ...row.map((v) => v + 10)] })] }, fraud);
    const nested = parseInferRequest({ inputs: [features({ shape: [2, 8], data: [row, row.map((v) => v + 10)] })] }, fraud);
    assert.equal(flat.rows, 2);
    assert.deepEqual(flat.feeds.features!.dims, [2, 8]);
    assert.ok(flat.feeds.features!.data instanceof Float32Array);
    assert.deepEqual(Array.from(nested.feeds.features!.data as Float32Array), Array.from(flat.feeds.features!.data as Float32Array));
  });

  it('every datatype into its typed array, with id and outputs filter', () => {
    const req = parseInferRequest(
      {
        id: 'req-7',
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [2, 3], data: [[1, -2, 3], ['9223372036854775807', 5, 6]] },
          { name: 'mask', datatype: 'BOOL', shape: [2, 3], data: [true, false, true, false, false, true] },
          { name: 'pos', datatype: 'INT32', shape: [2], data: [-5, 7] },
        ],
        outputs: [{ name: 'label' }],
      },
      multi,
    );
    assert.equal(req.id, 'req-7');
    assert.equal(req.rows, 2);
    assert.deepEqual(req.outputs, ['label']);
    assert.deepEqual(Array.from(req.feeds.ids!.data as BigInt64Array), [1n, -2n, 3n, 9223372036854775807n, 5n, 6n]);
    assert.deepEqual(Array.from(req.feeds.mask!.data as Uint8Array), [1, 0, 1, 0, 0, 1]);
    assert.ok(req.feeds.pos!.data instanceof Int32Array);
    assert.deepEqual(Array.from(req.feeds.pos!.data), [-5, 7]);
  });

  it('FP32 values up to the float32 range, tiny ones rounding to zero as float32 does', () => {
    const req = parseInferRequest({ inputs: [features({ data: [3.4028234663852886e38, -3.4028235e38, 1e-50, 0, 1, 2, 3, 4] })] }, fraud);
    assert.deepEqual(Array.from(req.feeds.features!.data as Float32Array).slice(0, 3), [3.4028234663852886e38, -3.4028234663852886e38, 0]);
  });

  it('data nested once per dimension, or ragged within that depth', () => {
    const cube: ModelSignature = { inputs: [{ name: 'x', datatype: 'INT32', shape: [-1, 2, 2] }], outputs: [], batchable: true };
    const nested = parseInferRequest({ inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 2, 2], data: [[[1, 2], [3, 4]]] }] }, cube);
    const ragged = parseInferRequest({ inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 2, 2], data: [1, [[2], 3], [4]] }] }, cube);
    assert.deepEqual(Array.from(nested.feeds.x!.data as Int32Array), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(ragged.feeds.x!.data as Int32Array), [1, 2, 3, 4]);
  });

  it('one unit of work per request when the model is not batchable', () => {
    const fixed: ModelSignature = { ...fraud, inputs: [{ name: 'features', datatype: 'FP32', shape: [4, 8] }], batchable: false };
    const req = parseInferRequest({ inputs: [features({ shape: [4, 8], data: [row, row, row, row] })] }, fixed);
    assert.equal(req.rows, 1);
  });
});

describe('binary tensor data extension', () => {
  const bytesOf = (a: Float32Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const twoRows = Float32Array.from({ length: 16 }, (_, i) => i / 7);
  const binaryFeatures = (size: unknown = 64) => ({ name: 'features', datatype: 'FP32', shape: [2, 8], parameters: { binary_data_size: size } });

  it('reads inputs from the binary part in the order they are listed', () => {
    const ids = new BigInt64Array([1n, -2n, 3n, 4n, 5n, 6n]);
    const binary = new Uint8Array([...bytesOf(ids), 1, 0, 1, 0, 0, 1]);
    const req = parseInferRequest(
      {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [2, 3], parameters: { binary_data_size: 48 } },
          { name: 'pos', datatype: 'INT32', shape: [2], data: [4, 5] },
          { name: 'mask', datatype: 'BOOL', shape: [2, 3], parameters: { binary_data_size: 6 } },
        ],
      },
      multi,
      binary.subarray(0),
    );
    assert.deepEqual(Array.from(req.feeds.ids!.data as BigInt64Array), Array.from(ids));
    assert.deepEqual(Array.from(req.feeds.mask!.data as Uint8Array), [1, 0, 1, 0, 0, 1]);
    assert.deepEqual(Array.from(req.feeds.pos!.data as Int32Array), [4, 5]);
  });

  it('copies unaligned binary data into an aligned array', () => {
    const padded = new Uint8Array(65);
    padded.set(bytesOf(twoRows), 1);
    const req = parseInferRequest({ inputs: [binaryFeatures()] }, fraud, padded.subarray(1));
    assert.deepEqual(req.feeds.features!.data, twoRows);
  });

  const errors: Array<{ name: string; body: unknown; binary: Uint8Array | undefined; error: RegExp }> = [
    { name: 'size that does not match the shape', body: { inputs: [binaryFeatures(60)] }, binary: new Uint8Array(60), error: /input 'features': parameters.binary_data_size must be 64 \(shape \[2, 8\] of FP32, 4 bytes each, little-endian\), got number 60/ },
    { name: 'no binary part', body: { inputs: [binaryFeatures()] }, binary: undefined, error: /input 'features': parameters.binary_data_size is set but the request has no binary part; send the JSON length in the Inference-Header-Content-Length header/ },
    { name: 'both data and binary', body: { inputs: [{ ...binaryFeatures(), data: [1] }] }, binary: new Uint8Array(64), error: /input 'features': give either "data" or parameters.binary_data_size, not both/ },
    { name: 'binary part too short', body: { inputs: [binaryFeatures()] }, binary: new Uint8Array(32), error: /input 'features': needs 64 bytes of binary data at offset 0, but the binary part has only 32 left/ },
    { name: 'bytes left over', body: { inputs: [binaryFeatures()] }, binary: new Uint8Array(70), error: /the request carries 70 bytes of binary tensor data after its JSON header, but its inputs declare 64/ },
  ];
  for (const c of errors) {
    it(`rejects ${c.name}`, () => {
      assert.throws(() => parseInferRequest(c.body, fraud, c.binary), (err: unknown) => err instanceof InvalidRequestError && c.error.test(err.message));
    });
  }

  it('returns outputs as binary when asked, for all outputs or one', () => {
    const outputs = {
      score: { data: new Float64Array([0.5, 0.25]), dims: [2] },
      label: { data: new BigInt64Array([7n, 8n]), dims: [2] },
    };
    const ids = { name: 'ids', datatype: 'INT64', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] };
    const mask = { name: 'mask', datatype: 'BOOL', shape: [2, 3], data: [true, true, true, false, false, false] };
    const pos = { name: 'pos', datatype: 'INT32', shape: [2], data: [0, 1] };

    const all = parseInferRequest({ inputs: [ids, mask, pos], parameters: { binary_data_output: true } }, multi);
    const encoded = encodeInferResponse('m', '1', all, outputs, multi.outputs);
    assert.deepEqual(JSON.parse(encoded.json).outputs, [
      { name: 'score', datatype: 'FP64', shape: [2], parameters: { binary_data_size: 16 } },
      { name: 'label', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } },
    ]);
    assert.deepEqual(new Float64Array(Uint8Array.from(encoded.binary[0]!).buffer), outputs.score.data);
    assert.deepEqual(new BigInt64Array(Uint8Array.from(encoded.binary[1]!).buffer), outputs.label.data);

    const one = parseInferRequest({ inputs: [ids, mask, pos], outputs: [{ name: 'label', parameters: { binary_data: true } }, { name: 'score' }] }, multi);
    const mixed = encodeInferResponse('m', '1', one, outputs, multi.outputs);
    assert.deepEqual(JSON.parse(mixed.json).outputs, [
      { name: 'label', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } },
      { name: 'score', datatype: 'FP64', shape: [2], data: [0.5, 0.25] },
    ]);
    assert.equal(mixed.binary.length, 1);
  });
});

describe('encodeInferResponse', () => {
  it('writes valid OIP JSON with id, version, datatypes and shapes', () => {
    const { json: text, binary } = encodeInferResponse(
      'scorer',
      '1',
      { id: 'abc', outputs: undefined, binaryOutputs: new Set() },
      {
        score: { data: new Float64Array([0.25, NaN, -Infinity]), dims: [3] },
        label: { data: new BigInt64Array([1n, 9007199254740993n, -3n]), dims: [3] },
      },
      multi.outputs,
    );
    assert.deepEqual(binary, []);
    assert.match(text, /"label","datatype":"INT64","shape":\[3\],"data":\[1,9007199254740993,-3\]/);
    assert.deepEqual(JSON.parse(text), {
      model_name: 'scorer',
      model_version: '1',
      id: 'abc',
      outputs: [
        { name: 'score', datatype: 'FP64', shape: [3], data: [0.25, null, null] },
        { name: 'label', datatype: 'INT64', shape: [3], data: [1, 9007199254740992, -3] },
      ],
    });
  });

  it('keeps FP32 values exact and honours the outputs filter', () => {
    const values = new Float32Array([0.1, 1 / 3, -2.5e-8]);
    const { json: text } = encodeInferResponse('fraud', '1', { id: undefined, outputs: ['probability'], binaryOutputs: new Set() }, { probability: { data: values, dims: [3, 1] } }, fraud.outputs);
    const body = JSON.parse(text);
    assert.equal(body.id, undefined);
    assert.deepEqual(body.outputs[0].shape, [3, 1]);
    assert.deepEqual(Float32Array.from(body.outputs[0].data as number[]), values);
  });

  it('writes BOOL outputs as true/false', () => {
    const spec = [{ name: 'flag', datatype: 'BOOL' as const, shape: [-1] }];
    const { json: text } = encodeInferResponse('m', '1', { id: undefined, outputs: undefined, binaryOutputs: new Set() }, { flag: { data: new Uint8Array([1, 0]), dims: [2] } }, spec);
    assert.deepEqual(JSON.parse(text).outputs[0].data, [true, false]);
  });
});

describe('modelMetadata', () => {
  it('describes the model with dynamic dimensions as -1', () => {
    assert.deepEqual(modelMetadata('fraud-v1', ['1'], fraud), {
      name: 'fraud-v1',
      versions: ['1'],
      platform: 'onnxruntime',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 8] }],
      outputs: [{ name: 'probability', datatype: 'FP32', shape: [-1, 1] }],
    });
  });
});
