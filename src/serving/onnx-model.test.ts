import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { loadOnnxModel, ModelLoadError, ModelRuntimeError } from './onnx-model.ts';
import { ensureModels, MODELS } from './test-helpers.ts';

describe('loadOnnxModel', () => {
  before(() => ensureModels());

  for (const thread of ['worker', 'main'] as const) {
    it(`(${thread} thread) describes the model and computes what ONNX Runtime computes`, async () => {
      const model = await loadOnnxModel(MODELS.wideMlp, { thread, intraOpThreads: 1 });
      const reference = await InferenceSession.create(MODELS.wideMlp, { intraOpNumThreads: 1 });
      try {
        assert.deepEqual(model.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, 256] }]);
        assert.deepEqual(model.outputs, [{ name: 'y', datatype: 'FP32', shape: [-1, 16] }]);
        assert.equal(model.batchable, true);
        assert.equal(model.alive, true);

        const x = Float32Array.from({ length: 3 * 256 }, (_, i) => Math.cos(i / 9));
        const want = (await reference.run({ x: new Tensor('float32', x.slice(), [3, 256]) })).y!;
        const got = await model.run({ x: { data: x, dims: [3, 256] } });
        assert.deepEqual(got.y!.dims, [3, 16]);
        assert.deepEqual(Array.from(got.y!.data as Float32Array), Array.from(want.data as Float32Array));
      } finally {
        await model.close();
        await reference.release();
      }
      assert.equal(model.alive, false);
      await assert.rejects(model.run({ x: { data: new Float32Array(256), dims: [1, 256] } }));
    });

    it(`(${thread} thread) refuses a file that is not a model with a ModelLoadError naming it`, async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'karb-onnx-'));
      const file = path.join(dir, 'broken.onnx');
      writeFileSync(file, 'this is not an ONNX model');
      try {
        await assert.rejects(loadOnnxModel(file, { thread }), (err: unknown) => {
          assert.ok(err instanceof ModelLoadError);
          assert.equal(err.code, 'MODEL_LOAD_FAILED');
          assert.match(err.message, /cannot load ONNX model '.*broken\.onnx': /);
          return true;
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('reports a failed run as an error of that run only', async () => {
    const model = await loadOnnxModel(MODELS.fraudV1);
    try {
      await assert.rejects(model.run({ features: { data: new Float32Array(7), dims: [1, 7] } }));
      const ok = await model.run({ features: { data: new Float32Array(16), dims: [2, 8] } });
      assert.deepEqual(ok.probability!.dims, [2, 1]);
      assert.equal(model.alive, true);
    } finally {
      await model.close();
    }
    await assert.rejects(model.run({ features: { data: new Float32Array(8), dims: [1, 8] } }), ModelRuntimeError);
  });
});
