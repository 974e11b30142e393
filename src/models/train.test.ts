import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildExampleModels, buildFraudModels, trainFraudModels } from './example-models.ts';
import { wideMlpLayers } from './wide-mlp.ts';
import { fitStandardizer, predict, standardize, type LabeledRows } from './train.ts';
import { readModelMetadata } from './onnx-writer.ts';

test('standardization uses training mean and population standard deviation', () => {
  const data: LabeledRows = { rows: 4, cols: 2, features: Float32Array.from([1, 5, 2, 5, 3, 5, 4, 5]), labels: new Uint8Array(4) };
  const s = fitStandardizer(data);
  assert.deepEqual(Array.from(s.mean), [2.5, 5]);
  assert.ok(Math.abs(s.std[0]! - Math.sqrt(1.25)) < 1e-6);
  assert.equal(s.std[1], 1, 'a constant column is left unscaled');
  const z = standardize(s, Float32Array.from([2.5, 7]), 2);
  assert.deepEqual(Array.from(z), [0, 2]);
});

test('same seed gives byte-identical ONNX files; another seed gives different models', () => {
  const first = buildExampleModels(5);
  const second = buildExampleModels(5);
  assert.deepEqual(
    first.map((m) => m.fileName),
    ['fraud-v1.onnx', 'fraud-v2.onnx', 'wide-mlp.onnx', 'tiny-lm.onnx'],
  );
  first.forEach((model, i) => assert.ok(Buffer.compare(model.bytes, second[i]!.bytes) === 0, `${model.fileName} differs between runs`));
  const other = buildFraudModels(6);
  other.forEach((model, i) => assert.ok(Buffer.compare(model.bytes, first[i]!.bytes) !== 0, `${model.fileName} ignores the seed`));
  assert.notDeepEqual(wideMlpLayers(6)[0]!.bias, wideMlpLayers(5)[0]!.bias, 'wide-mlp ignores the seed');
  assert.equal(readModelMetadata(first[0]!.bytes)['heldout_auc'], first[0]!.heldoutAuc!.toFixed(4));
});

test('both fraud models learn the hidden rule and answer differently', () => {
  const training = trainFraudModels();
  assert.ok(training.logistic.heldoutAuc > 0.8, `logistic AUC ${training.logistic.heldoutAuc}`);
  assert.ok(training.mlp.heldoutAuc > 0.8, `MLP AUC ${training.mlp.heldoutAuc}`);
  const rows = training.test.features.subarray(0, 100 * training.test.cols);
  const v1 = predict(training.logistic.model, rows);
  const v2 = predict(training.mlp.model, rows);
  let largestGap = 0;
  for (let i = 0; i < v1.length; i++) largestGap = Math.max(largestGap, Math.abs(v1[i]! - v2[i]!));
  assert.ok(largestGap > 0.01, `v1 and v2 agree to within ${largestGap}`);
});
