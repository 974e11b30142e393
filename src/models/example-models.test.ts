import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { DEFAULT_SEED, EXAMPLE_MODEL_FILES, trainFraudModels, type FraudTraining } from './example-models.ts';
import { EXAMPLE_TRANSACTIONS, FRAUD_FEATURES, FRAUD_FEATURE_COUNT, toFeatureRows } from './fraud-data.ts';
import { readModelMetadata } from './onnx-writer.ts';
import { predict, type FraudModel } from './train.ts';
import { WIDE_MLP_LAYER_SIZES, wideMlpForwardRow, wideMlpLayers } from './wide-mlp.ts';
import { seededRandom } from '../util/prng.ts';

const run = promisify(execFile);
const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/make-models.ts');

let outDir = '';
let scriptOutput = '';
let training: FraudTraining;
const sessions = new Map<string, ort.InferenceSession>();

before(async () => {
  outDir = await mkdtemp(path.join(tmpdir(), 'karb-models-'));
  // The real command, as `npm start` and `npm test` run it.
  const { stdout } = await run(process.execPath, [SCRIPT, '--out', outDir], { timeout: 60_000 });
  scriptOutput = stdout;
  training = trainFraudModels(DEFAULT_SEED);
  for (const file of EXAMPLE_MODEL_FILES) sessions.set(file, await ort.InferenceSession.create(path.join(outDir, file)));
});

after(async () => {
  for (const session of sessions.values()) await session.release();
  if (outDir !== '') await rm(outDir, { recursive: true, force: true });
});

function session(file: string): ort.InferenceSession {
  const s = sessions.get(file);
  assert.ok(s, `no session for ${file}`);
  return s;
}

async function score(file: string, rows: Float32Array): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const n = rows.length / FRAUD_FEATURE_COUNT;
  const out = await session(file).run({ features: new ort.Tensor('float32', rows, [n, FRAUD_FEATURE_COUNT]) });
  const probability = out['probability'];
  assert.ok(probability, 'output "probability" missing');
  return { data: probability.data as Float32Array, dims: probability.dims };
}

const fraudFiles: Array<[string, () => FraudModel]> = [
  ['fraud-v1.onnx', () => training.logistic.model],
  ['fraud-v2.onnx', () => training.mlp.model],
];

test('the script prints one line per model with the held-out AUCs', () => {
  assert.match(scriptOutput, new RegExp(`fraud-v1\\.onnx .*AUC ${training.logistic.heldoutAuc.toFixed(4)}`));
  assert.match(scriptOutput, new RegExp(`fraud-v2\\.onnx .*AUC ${training.mlp.heldoutAuc.toFixed(4)}`));
  assert.match(scriptOutput, /wide-mlp\.onnx /);
});

test('--if-missing leaves existing models alone', async () => {
  const file = path.join(outDir, 'fraud-v1.onnx');
  const before = (await stat(file)).mtimeMs;
  const { stdout } = await run(process.execPath, [SCRIPT, '--out', outDir, '--if-missing'], { timeout: 60_000 });
  assert.match(stdout, /nothing to do/);
  assert.equal((await stat(file)).mtimeMs, before);
});

test('a bad flag is a usage error (exit 2)', async () => {
  await assert.rejects(run(process.execPath, [SCRIPT, '--no-such-flag'], { timeout: 60_000 }), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr ?? '', /usage:/);
    return true;
  });
});

for (const [file, model] of fraudFiles) {
  test(`${file}: input/output names and shapes`, () => {
    const s = session(file);
    assert.deepEqual(s.inputNames, ['features']);
    assert.deepEqual(s.outputNames, ['probability']);
    assert.deepEqual(s.inputMetadata[0], { name: 'features', isTensor: true, type: 'float32', shape: ['batch', FRAUD_FEATURE_COUNT] });
    assert.deepEqual(s.outputMetadata[0], { name: 'probability', isTensor: true, type: 'float32', shape: ['batch', 1] });
  });

  test(`${file}: metadata names the features, version and held-out AUC`, async () => {
    const meta = readModelMetadata(await readFile(path.join(outDir, file)));
    const expected = model();
    assert.equal(meta['feature_names'], FRAUD_FEATURES.join(','));
    assert.equal(meta['version'], file === 'fraud-v1.onnx' ? '1' : '2');
    const auc = expected === training.logistic.model ? training.logistic.heldoutAuc : training.mlp.heldoutAuc;
    assert.equal(meta['heldout_auc'], auc.toFixed(4));
  });

  test(`${file}: ONNX Runtime agrees with the TypeScript forward pass`, async () => {
    const rows = training.test.features.slice(0, 500 * FRAUD_FEATURE_COUNT);
    const { data, dims } = await score(file, rows);
    assert.deepEqual(dims, [500, 1]);
    const reference = predict(model(), rows);
    for (let i = 0; i < 500; i++) {
      const p = data[i]!;
      assert.ok(p > 0 && p < 1, `row ${i}: probability ${p} outside (0, 1)`);
      assert.ok(Math.abs(p - reference[i]!) <= 1e-4, `row ${i}: ONNX Runtime ${p}, TypeScript ${reference[i]}`);
    }
  });

  test(`${file}: a risky transaction scores clearly higher than a benign one`, async () => {
    const { data } = await score(file, toFeatureRows([EXAMPLE_TRANSACTIONS.benign, EXAMPLE_TRANSACTIONS.risky]));
    const [benign, risky] = [data[0]!, data[1]!];
    assert.ok(benign < 0.05, `benign scored ${benign}`);
    assert.ok(risky > 0.5, `risky scored ${risky}`);
    assert.ok(risky > 10 * benign, `risky ${risky} vs benign ${benign}`);
  });

  test(`${file}: a batch of N rows gives N answers`, async () => {
    for (const n of [1, 3, 64]) {
      const rows = training.test.features.slice(0, n * FRAUD_FEATURE_COUNT);
      const { data, dims } = await score(file, rows);
      assert.deepEqual(dims, [n, 1]);
      assert.equal(data.length, n);
    }
  });
}

test('fraud-v1 and fraud-v2 give different answers', async () => {
  const rows = training.test.features.slice(0, 50 * FRAUD_FEATURE_COUNT);
  const v1 = (await score('fraud-v1.onnx', rows)).data;
  const v2 = (await score('fraud-v2.onnx', rows)).data;
  assert.ok(v1.some((p, i) => Math.abs(p - v2[i]!) > 0.01));
});

test('wide-mlp.onnx: a batch of 32 gives [32, 16] matching the reference forward pass', async () => {
  const [inputs, , , outputs] = WIDE_MLP_LAYER_SIZES;
  const s = session('wide-mlp.onnx');
  assert.deepEqual(s.inputNames, ['x']);
  assert.deepEqual(s.outputNames, ['y']);
  const rng = seededRandom(3);
  const x = Float32Array.from({ length: 32 * inputs }, () => rng.normal());
  const result = await s.run({ x: new ort.Tensor('float32', x, [32, inputs]) });
  const y = result['y'];
  assert.ok(y, 'output "y" missing');
  assert.deepEqual(y.dims, [32, outputs]);
  const data = y.data as Float32Array;
  assert.ok(data.every(Number.isFinite));

  const reference = wideMlpForwardRow(wideMlpLayers(DEFAULT_SEED), x.subarray(0, inputs));
  for (let j = 0; j < outputs; j++) {
    const tolerance = 1e-3 * Math.max(1, Math.abs(reference[j]!));
    assert.ok(Math.abs(data[j]! - reference[j]!) <= tolerance, `y[0, ${j}]: ONNX Runtime ${data[j]}, reference ${reference[j]}`);
  }
  assert.notDeepEqual(data.subarray(0, outputs), data.subarray(outputs, 2 * outputs), 'different rows give different outputs');
});
