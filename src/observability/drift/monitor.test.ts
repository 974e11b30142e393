/**
 * The drift monitor on known distributions: traffic drawn like the reference reads as no drift,
 * one shifted feature is exactly the one past the threshold, a learned reference works the same.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DriftMonitor, observableTensors, type DriftReport } from './monitor.ts';
import { DriftReferenceError, referenceColumns, type DriftReference } from './reference.ts';
import { driftVerdict } from './verdict.ts';
import { PSI_DRIFT, PSI_WARN } from './stats.ts';
import { seededRandom, type Random } from '../../util/prng.ts';

const NAMES = ['normal', 'uniform', 'flag'];

/** Rows of three features: N(0,1), U(0,10), a 30% flag; `shift` adds to the first. */
function rows(rng: Random, n: number, shift = 0): Float32Array {
  const out = new Float32Array(n * 3);
  for (let r = 0; r < n; r++) {
    out[r * 3] = rng.normal() + shift;
    out[r * 3 + 1] = rng.uniform(0, 10);
    out[r * 3 + 2] = rng.chance(0.3) ? 1 : 0;
  }
  return out;
}

function reference(rng: Random): DriftReference {
  return { kind: 'DriftReference', version: 1, rows: 20_000, inputs: referenceColumns(rows(rng, 20_000), 20_000, 3, 'x', NAMES), outputs: [] };
}

const tensors = [{ name: 'x', role: 'input' as const, cols: 3 }];

function monitoring(report: DriftReport) {
  assert.equal(report.state, 'monitoring');
  return report as Extract<DriftReport, { state: 'monitoring' }>;
}

/** Feeds `n` rows in requests of `batch` rows, as the server would. */
function feed(monitor: DriftMonitor, data: Float32Array, batch = 4): void {
  for (let r = 0; r * 3 < data.length; r += batch) {
    const end = Math.min(data.length / 3, r + batch);
    monitor.observe('x', data.subarray(r * 3, end * 3), end - r);
  }
}

describe('DriftMonitor', () => {
  it('reads traffic like the reference as no drift: every PSI under the warning level', () => {
    const rng = seededRandom(7);
    const monitor = new DriftMonitor({ tensors, reference: reference(rng) });
    feed(monitor, rows(rng, 2000));
    const report = monitoring(monitor.report());
    assert.ok(report.windowRows >= 1000 && report.windowRows < 2000, `window ${report.windowRows}`);
    for (const f of report.inputs) assert.ok(f.psi! < PSI_WARN, `${f.name} PSI ${f.psi}`);
    assert.equal(report.inputs.find((f) => f.name === 'flag')!.ks, null, 'no KS for a discrete feature');
    assert.equal(driftVerdict([{ source: 'r1', report }]).reason, 'NoDrift');
  });

  it('flags exactly the feature whose distribution moved', () => {
    const rng = seededRandom(8);
    const monitor = new DriftMonitor({ tensors, reference: reference(rng) });
    feed(monitor, rows(rng, 2000, 1.0));
    const report = monitoring(monitor.report());
    const byName = Object.fromEntries(report.inputs.map((f) => [f.name, f]));
    assert.ok(byName.normal!.psi! > PSI_DRIFT, `shifted PSI ${byName.normal!.psi}`);
    assert.ok(byName.normal!.ks! > 0.3, `shifted KS ${byName.normal!.ks}`);
    assert.ok(byName.uniform!.psi! < PSI_WARN && byName.flag!.psi! < PSI_WARN);
    const verdict = driftVerdict([{ source: 'r1', report }]);
    assert.deepEqual([verdict.status, verdict.reason, verdict.features], ['True', 'FeatureDrift', ['normal']]);
  });

  it('forgets old rows: after a shift the window holds only shifted rows, and after a return only normal ones', () => {
    const rng = seededRandom(9);
    const monitor = new DriftMonitor({ tensors, reference: reference(rng), windowRows: 1000 });
    feed(monitor, rows(rng, 1000, 2));
    assert.ok(monitoring(monitor.report()).inputs[0]!.psi! > PSI_DRIFT);
    feed(monitor, rows(rng, 1000));
    const report = monitoring(monitor.report());
    assert.ok(report.windowRows <= 1000);
    assert.ok(report.inputs[0]!.psi! < PSI_WARN, `PSI after the return ${report.inputs[0]!.psi}`);
  });

  it('learns a reference from the first rows when none is given, then judges against it', () => {
    const rng = seededRandom(10);
    const monitor = new DriftMonitor({ tensors, learnRows: 1000, names: { x: NAMES } });
    feed(monitor, rows(rng, 600));
    assert.deepEqual(monitor.report(), { state: 'learning', learnedRows: 600, learnRows: 1000 });
    assert.equal(driftVerdict([{ source: 'r1', report: monitor.report() }]).reason, 'LearningReference');
    feed(monitor, rows(rng, 400));
    assert.equal(monitor.reference?.inputs.map((c) => c.name).join(), NAMES.join());
    feed(monitor, rows(rng, 1500), 8);
    const calm = monitoring(monitor.report());
    for (const f of calm.inputs) assert.ok(f.psi! < PSI_WARN, `${f.name} PSI ${f.psi}`);
    feed(monitor, rows(rng, 2000, 1.5));
    assert.deepEqual(driftVerdict([{ source: 'r1', report: monitor.report() }]).features, ['normal']);
  });

  it('refuses a reference that names a tensor or a column the model has not', () => {
    const ref = reference(seededRandom(11));
    assert.throws(() => new DriftMonitor({ tensors: [{ name: 'y', role: 'input', cols: 3 }], reference: ref }), (e: unknown) => e instanceof DriftReferenceError && /names input tensor 'x'.*the model's are: y/.test(e.message));
    assert.throws(() => new DriftMonitor({ tensors: [{ name: 'x', role: 'input', cols: 2 }], reference: ref }), (e: unknown) => e instanceof DriftReferenceError && /column 2 of 'x', which has 2 columns/.test(e.message));
  });

  it('leaves a column with no finite value while learning unwatched, and never throws', () => {
    const monitor = new DriftMonitor({ tensors: [{ name: 'x', role: 'input', cols: 2 }], learnRows: 10 });
    for (let i = 0; i < 10; i++) monitor.observe('x', new Float32Array([i, NaN]), 1);
    assert.deepEqual(monitor.reference?.inputs.map((c) => c.name), ['x[0]']);
  });

  it('skips NaN values and ignores tensors it does not watch', () => {
    const monitor = new DriftMonitor({ tensors, reference: reference(seededRandom(12)) });
    monitor.observe('other', new Float32Array([1, 2, 3]), 1);
    monitor.observe('x', new Float32Array([NaN, NaN, NaN]), 1);
    const report = monitoring(monitor.report());
    assert.equal(report.windowRows, 1);
    assert.equal(report.inputs[0]!.psi, null);
  });
});

describe('observableTensors', () => {
  it('keeps 2-D float tensors with a fixed column count', () => {
    const specs = [
      { name: 'features', datatype: 'FP32', shape: [-1, 8] },
      { name: 'ids', datatype: 'INT64', shape: [-1, 8] },
      { name: 'image', datatype: 'FP32', shape: [-1, 3, 32, 32] },
      { name: 'dyn', datatype: 'FP32', shape: [-1, -1] },
    ];
    assert.deepEqual(observableTensors(specs, 'input'), [{ name: 'features', role: 'input', cols: 8 }]);
  });
});

describe('driftVerdict', () => {
  const monitoringReport = (windowRows: number, psi: number): DriftReport => ({
    state: 'monitoring',
    reference: { rows: 1, source: 'file' },
    windowRows,
    inputs: [{ name: 'a', kind: 'continuous', psi, ks: 0 }, { name: 'b', kind: 'continuous', psi: 0.01, ks: 0 }],
    outputs: [{ name: 'p', kind: 'continuous', psi: 0.4, ks: 0 }],
  });
  const cases: Array<[string, Parameters<typeof driftVerdict>, string, string[]]> = [
    ['no replica answered', [[]], 'NoReport', []],
    ['too few rows to judge', [[{ source: 'r', report: monitoringReport(50, 3) }]], 'TooFewRows', []],
    ['one replica drifted, one not: drifted', [[{ source: 'r1', report: monitoringReport(500, 0.01) }, { source: 'r2', report: monitoringReport(500, 0.3) }]], 'FeatureDrift', ['a']],
    ['a higher threshold from the spec', [[{ source: 'r', report: monitoringReport(500, 0.3) }], { threshold: 0.5 }], 'NoDrift', []],
  ];
  for (const [what, args, reason, features] of cases) {
    it(what, () => {
      const v = driftVerdict(...args);
      assert.equal(v.reason, reason, v.message);
      assert.deepEqual(v.features, features);
    });
  }

  it('names drifted outputs in the message, but only input features count as features', () => {
    const v = driftVerdict([{ source: 'r', report: monitoringReport(500, 0.3) }]);
    assert.match(v.message, /input features: a; outputs shifted too: p/);
  });
});
