import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { readModelMetadata } from '../onnx-writer.ts';
import { LM_METADATA_KEYS, TINY_LM_CONFIG, tinyLmForward, tinyLmToOnnx, tinyLmWeights } from './tiny-lm.ts';

const SEED = 7;
const weights = tinyLmWeights(SEED);
const bytes = tinyLmToOnnx(weights, SEED);

async function run(session: ort.InferenceSession, rows: number[][]): Promise<ort.InferenceSession.OnnxValueMapType> {
  const seq = rows[0]!.length;
  const ids = BigInt64Array.from(rows.flat(), (v) => BigInt(v));
  return session.run({ input_ids: new ort.Tensor('int64', ids, [rows.length, seq]) });
}

function maxAbsDiff(actual: Float32Array, expected: Float64Array, offset = 0): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[offset + i]! - expected[i]!));
  return worst;
}

test('ONNX Runtime logits and embeddings equal the TypeScript reference forward pass', async () => {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const prompts = [
      [TINY_LM_CONFIG.bos, ...Buffer.from('hello, karb')],
      [TINY_LM_CONFIG.bos],
      // A full context window exercises the whole position table and causal mask.
      Array.from({ length: TINY_LM_CONFIG.contextLength }, (_, i) => (i * 37) % 256),
    ];
    for (const ids of prompts) {
      const out = await run(session, [ids]);
      const ref = tinyLmForward(weights, ids);
      assert.deepEqual(out.logits!.dims, [1, ids.length, TINY_LM_CONFIG.vocabSize]);
      assert.deepEqual(out.embedding!.dims, [1, TINY_LM_CONFIG.dModel]);
      assert.ok(maxAbsDiff(out.logits!.data as Float32Array, ref.logits) < 1e-3, `logits differ for a prompt of ${ids.length} tokens`);
      assert.ok(maxAbsDiff(out.embedding!.data as Float32Array, ref.embedding) < 1e-4, `embedding differs for a prompt of ${ids.length} tokens`);
    }
  } finally {
    await session.release();
  }
});

test('a batch of two sequences gives each its own reference answer (attention stays within a row, and causal)', async () => {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const a = [TINY_LM_CONFIG.bos, ...Buffer.from('abcdef')];
    const b = [TINY_LM_CONFIG.bos, ...Buffer.from('zyxwvu')];
    const out = await run(session, [a, b]);
    const logits = out.logits!.data as Float32Array;
    const rowSize = a.length * TINY_LM_CONFIG.vocabSize;
    assert.ok(maxAbsDiff(logits, tinyLmForward(weights, a).logits, 0) < 1e-3);
    assert.ok(maxAbsDiff(logits, tinyLmForward(weights, b).logits, rowSize) < 1e-3);
    // Causal: the logits of the first three positions do not depend on later tokens.
    const prefix = (await run(session, [a.slice(0, 3)])).logits!.data as Float32Array;
    assert.ok(maxAbsDiff(logits, Float64Array.from(prefix)) < 1e-4);
  } finally {
    await session.release();
  }
});

test('the same seed gives the same bytes; metadata tells the server how to tokenize', () => {
  assert.deepEqual(tinyLmToOnnx(tinyLmWeights(SEED), SEED), bytes);
  assert.notDeepEqual(tinyLmToOnnx(tinyLmWeights(SEED + 1), SEED + 1), bytes);
  const meta = readModelMetadata(bytes);
  assert.equal(meta[LM_METADATA_KEYS.tokenizer], 'bytes');
  assert.equal(meta[LM_METADATA_KEYS.contextLength], String(TINY_LM_CONFIG.contextLength));
  assert.equal(meta[LM_METADATA_KEYS.bos], '256');
  assert.equal(meta[LM_METADATA_KEYS.eos], '257');
});
