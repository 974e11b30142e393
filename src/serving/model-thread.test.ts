import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadWhereCheapest, trialFeeds } from './model-thread.ts';
import { ensureModels, MODELS } from './test-helpers.ts';

/** A stopwatch that moves `stepMs` each time it is read, so each timed run takes exactly that. */
function steppingStopwatch(stepMs: number): () => number {
  let t = 0;
  return () => (t += stepMs);
}

describe('trialFeeds', () => {
  it('builds zeros of a full batch, fixed dimensions as declared', () => {
    const feeds = trialFeeds([{ name: 'features', datatype: 'FP32', shape: [-1, 8] }, { name: 'ids', datatype: 'INT64', shape: [-1, 2] }], 32);
    assert.ok(typeof feeds !== 'string');
    assert.deepEqual(feeds.features!.dims, [32, 8]);
    assert.ok(feeds.features!.data instanceof Float32Array && feeds.features!.data.length === 256);
    assert.ok(feeds.ids!.data instanceof BigInt64Array && feeds.ids!.data.length === 64);
  });

  it('says why a model cannot be judged by one batch of zeros', () => {
    assert.match(String(trialFeeds([{ name: 'input_ids', datatype: 'INT64', shape: [-1, -1] }], 32)), /input 'input_ids' has a dynamic dimension past the batch/);
    assert.match(String(trialFeeds([{ name: 'image', datatype: 'FP32', shape: [-1, 3, 1024, 1024] }], 32)), /input 'image' holds 100663296 elements per batch/);
  });
});

describe('loadWhereCheapest', () => {
  before(() => ensureModels());

  it('keeps a model whose full batch computes within the budget in the calling thread, and it computes what the worker computes', async () => {
    const choice = await loadWhereCheapest(MODELS.fraudV1, { batchRows: 32, intraOpThreads: 1, stopwatch: steppingStopwatch(0.1) });
    const reference = await loadWhereCheapest(MODELS.fraudV1, { batchRows: 32, intraOpThreads: 1, budgetMs: 0, stopwatch: steppingStopwatch(0.1) });
    try {
      assert.equal(choice.thread, 'main');
      assert.equal(choice.reason, 'a batch of 32 rows computes in 0.100 ms, within 0.5 ms');
      assert.equal(reference.thread, 'worker');
      assert.equal(reference.reason, 'a batch of 32 rows computes in 0.100 ms, over 0 ms');
      const row = [23.5, 13, 0.1, 3.2, 0, 0, 1, 1460];
      const got = await choice.session.run({ features: { data: Float32Array.from(row), dims: [1, 8] } });
      const want = await reference.session.run({ features: { data: Float32Array.from(row), dims: [1, 8] } });
      assert.deepEqual(Array.from(got.probability!.data as Float32Array), Array.from(want.probability!.data as Float32Array));
    } finally {
      await choice.session.close();
      await reference.session.close();
    }
  });

  it('sends a large model file to the worker without a trial', async () => {
    let read = 0;
    const choice = await loadWhereCheapest(MODELS.wideMlp, { batchRows: 32, intraOpThreads: 1, stopwatch: () => read++ });
    try {
      assert.equal(choice.thread, 'worker');
      assert.match(choice.reason, /^the model file is 18\.\d MiB, over 8\.0 MiB$/);
      assert.equal(read, 0, 'no batch was timed');
    } finally {
      await choice.session.close();
    }
  });

  it('sends a model whose cost depends on the request (a sequence dimension) to the worker', async () => {
    const choice = await loadWhereCheapest(MODELS.tinyLm, { batchRows: 32, intraOpThreads: 1 });
    try {
      assert.equal(choice.thread, 'worker');
      assert.match(choice.reason, /^input 'input_ids' has a dynamic dimension past the batch/);
      assert.equal(choice.session.alive, true);
    } finally {
      await choice.session.close();
    }
  });

  it('fails to load a missing file with the loader\'s own error', async () => {
    await assert.rejects(loadWhereCheapest('models/does-not-exist.onnx', { batchRows: 32 }), /cannot load ONNX model 'models\/does-not-exist\.onnx'/);
  });
});
