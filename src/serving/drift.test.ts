/**
 * Drift in a real model server (fraud-v1 in ONNX Runtime, real HTTP): rows like the reference read
 * as no drift; shifting one feature moves exactly that feature's PSI past the threshold, in the
 * metrics and in GET /v2/models/{name}/drift. The example model's own reference fits the model,
 * and a bad reference stops `karb serve` with a message saying what is wrong. A wide input makes
 * gauges for its first columns only, unless more are asked for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadOnnxModel, type ModelSession } from './onnx-model.ts';
import { startModelServer, type ModelServer } from './server.ts';
import { Registry } from 'prom-client';
import { createDriftMonitor, referencePathFor, registerDriftMetrics } from './drift.ts';
import { DEFAULT_MAX_COLUMNS } from '../observability/drift/monitor.ts';
import { ensureModels, metricValue, MODELS, runKarb } from './test-helpers.ts';
import { DriftReferenceError } from '../observability/drift/reference.ts';
import { PSI_DRIFT, PSI_WARN } from '../observability/drift/stats.ts';
import { seededRandom, type Random } from '../util/prng.ts';

/** `n` rows of 8 features, each N(c, 1) for column c; `shift` moves column `column`. */
function rows(rng: Random, n: number, shift = 0, column = 3): number[][] {
  return Array.from({ length: n }, () => Array.from({ length: 8 }, (_, c) => c + rng.normal() + (c === column ? shift : 0)));
}

/** GET /v2/models/fraud/drift; the shape is DriftReport's, checked by the assertions. */
async function driftOf(url: string): Promise<any> {
  return (await fetch(`${url}/v2/models/fraud/drift`)).json();
}

async function send(url: string, data: number[][]): Promise<void> {
  for (let i = 0; i < data.length; i += 20) {
    const batch = data.slice(i, i + 20);
    const res = await fetch(`${url}/v2/models/fraud/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [batch.length, 8], data: batch.flat() }] }),
    });
    assert.equal(res.status, 200, await res.text());
  }
}

describe('drift in the model server', () => {
  let model: ModelSession;
  let server: ModelServer;
  const rng = seededRandom(42);

  before(async () => {
    await ensureModels();
    model = await loadOnnxModel(MODELS.fraudV1);
    const drift = createDriftMonitor(model, { learnRows: 500, windowRows: 2000 });
    assert.ok(drift);
    server = await startModelServer({ model, name: 'fraud', port: 0, drift });
  });

  after(async () => {
    await server?.close();
    await model?.close();
  });

  it('learns a reference from the first rows, then reads rows like them as no drift', async () => {
    await send(server.url, rows(rng, 300));
    const learning = await driftOf(server.url);
    assert.deepEqual(learning, { model: 'fraud', state: 'learning', learnedRows: 300, learnRows: 500 });
    await send(server.url, rows(rng, 200 + 1000));
    const report = await driftOf(server.url);
    assert.equal(report.state, 'monitoring');
    assert.equal(report.inputs.length, 8);
    assert.deepEqual(report.outputs.map((o: { name: string }) => o.name), ['probability']);
    for (const f of report.inputs) assert.ok(f.psi < PSI_WARN, `${f.name} PSI ${f.psi}`);
  });

  it('moves exactly the shifted feature past the threshold, in the metrics and the JSON', async () => {
    await send(server.url, rows(rng, 2000, 1.5, 3));
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (let c = 0; c < 8; c++) {
      const value = metricValue(text, 'karb_serving_feature_psi', { feature: `features[${c}]` });
      assert.ok(value !== undefined, `a PSI for features[${c}]`);
      if (c === 3) assert.ok(value > PSI_DRIFT, `shifted feature PSI ${value}`);
      else assert.ok(value < PSI_WARN, `features[${c}] PSI ${value}`);
    }
    assert.ok(metricValue(text, 'karb_serving_feature_ks', { feature: 'features[3]' })! > 0.3);
    const report = await driftOf(server.url);
    assert.deepEqual(report.inputs.filter((f: { psi: number }) => f.psi > PSI_DRIFT).map((f: { name: string }) => f.name), ['features[3]']);
  });

  it('answers 405 for a POST to the drift route', async () => {
    const res = await fetch(`${server.url}/v2/models/fraud/drift`, { method: 'POST' });
    assert.equal(res.status, 405);
  });
});

describe('drift references for the model server', () => {
  it("finds the example model's reference beside it, which names its features", async () => {
    await ensureModels();
    assert.equal(referencePathFor(MODELS.fraudV1, undefined), MODELS.fraudV1Reference);
    const model = await loadOnnxModel(MODELS.fraudV1);
    try {
      const monitor = createDriftMonitor(model, { referencePath: MODELS.fraudV1Reference })!;
      assert.equal(monitor.reference?.inputs[0]!.name, 'amount_usd');
      assert.deepEqual(monitor.reference?.outputs.map((o) => o.name), ['probability']);
    } finally {
      await model.close();
    }
  });

  it('refuses a reference that does not fit the model, naming the column', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'karb-drift-'));
    try {
      const file = path.join(dir, 'ref.json');
      writeFileSync(file, JSON.stringify({ kind: 'DriftReference', version: 1, rows: 10, inputs: [{ name: 'x', tensor: 'features', column: 8, kind: 'discrete', edges: [], proportions: [1] }], outputs: [] }));
      const spec = { inputs: [{ name: 'features', datatype: 'FP32' as const, shape: [-1, 8] }], outputs: [] };
      assert.throws(() => createDriftMonitor(spec, { referencePath: file }), (e: unknown) => e instanceof DriftReferenceError && /column 8 of 'features', which has 8 columns/.test(e.message));
      assert.throws(() => createDriftMonitor(spec, { referencePath: path.join(dir, 'missing.json') }), (e: unknown) => e instanceof DriftReferenceError && /cannot read the drift reference .*ENOENT/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('karb serve exits 1 on a reference it cannot use, and says why', async () => {
    await ensureModels();
    const result = await runKarb(['serve', '--model', MODELS.fraudV1, '--port', '0', '--drift-reference', '/nonexistent/ref.json']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot read the drift reference \/nonexistent\/ref\.json: ENOENT; name an existing file/);
  });
});

describe('drift gauges of a wide input', () => {
  const COLS = 4096;
  const spec = { inputs: [{ name: 'embedding', datatype: 'FP32' as const, shape: [-1, COLS] }], outputs: [{ name: 'score', datatype: 'FP32' as const, shape: [-1, 1] }] };

  /** Series per gauge after the monitor learned from 50 rows and saw 50 more. */
  async function seriesOf(maxColumns?: number): Promise<Record<string, number>> {
    const monitor = createDriftMonitor(spec, { learnRows: 50, ...(maxColumns === undefined ? {} : { maxColumns }) })!;
    const registry = new Registry();
    registerDriftMetrics(registry, monitor);
    const rng = seededRandom(5);
    for (let i = 0; i < 2; i++) {
      monitor.observe('score', Float32Array.from({ length: 50 }, () => rng.uniform(0, 1)), 50);
      monitor.observe('embedding', Float32Array.from({ length: 50 * COLS }, () => rng.normal()), 50);
    }
    const text = await registry.metrics();
    const count = (name: string) => text.split('\n').filter((line) => line.startsWith(`${name}{`)).length;
    return { psi: count('karb_serving_feature_psi'), ks: count('karb_serving_feature_ks'), output: count('karb_serving_output_psi') };
  }

  it(`makes series for the first ${DEFAULT_MAX_COLUMNS} columns only, by default`, async () => {
    assert.deepEqual(await seriesOf(), { psi: DEFAULT_MAX_COLUMNS, ks: DEFAULT_MAX_COLUMNS, output: 0 });
  });

  it('makes series for every column when asked to watch them all', async () => {
    assert.deepEqual(await seriesOf(COLS + 1), { psi: COLS, ks: COLS, output: 1 });
  });
});
