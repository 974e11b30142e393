/**
 * The drift monitor on known distributions: traffic drawn like the reference reads as no drift,
 * one shifted feature is exactly the one past the threshold, a learned reference works the same.
 * A wide input is watched only up to maxColumns; the smallest window the spec allows, once judged,
 * stays judged.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_COLUMNS, DriftMonitor, judgedOnLearnedReference, observableTensors, type DriftReport } from './monitor.ts';
import { DriftReferenceError, referenceColumns, type DriftReference } from './reference.ts';
import { DEFAULT_MIN_ROWS, driftVerdict } from './verdict.ts';
import { validateInferenceService } from '../../api/index.ts';
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
    assert.equal(judgedOnLearnedReference(report), false, 'a given reference is not a learned one');
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
    assert.ok(judgedOnLearnedReference(calm), calm.reference.source);
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

describe('DriftMonitor on a wide input', () => {
  const WIDE = 4096;
  /** `n` rows of `cols` columns, column c drawn from N(c, 1). */
  const wide = (rng: Random, n: number, cols: number): Float32Array => {
    const out = new Float32Array(n * cols);
    for (let r = 0; r < n; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = c + rng.normal();
    return out;
  };
  const wideTensors = [{ name: 'x', role: 'input' as const, cols: WIDE }, { name: 'y', role: 'output' as const, cols: 2 }];

  it(`watches the first ${DEFAULT_MAX_COLUMNS} columns by default, inputs first, and says how many it left`, () => {
    const rng = seededRandom(20);
    const monitor = new DriftMonitor({ tensors: wideTensors, learnRows: 500 });
    assert.equal(monitor.unwatchedColumns, WIDE + 2 - DEFAULT_MAX_COLUMNS);
    monitor.observe('y', new Float32Array(500 * 2), 500);
    monitor.observe('x', wide(rng, 500, WIDE), 500);
    assert.equal(monitor.reference?.inputs.length, DEFAULT_MAX_COLUMNS);
    assert.deepEqual(monitor.reference?.outputs, [], 'the inputs took the whole budget');
    assert.equal(monitor.reference?.inputs.at(-1)!.name, `x[${DEFAULT_MAX_COLUMNS - 1}]`);
    // Learned from the right values: rows like the first read as no drift on every watched column.
    monitor.observe('x', wide(rng, 1000, WIDE), 1000);
    const report = monitoring(monitor.report());
    assert.equal(report.inputs.length, DEFAULT_MAX_COLUMNS);
    assert.equal(report.unwatchedColumns, WIDE + 2 - DEFAULT_MAX_COLUMNS);
    for (const f of report.inputs) assert.ok(f.psi! < PSI_WARN, `${f.name} PSI ${f.psi}`);
  });

  it('watches more when asked', () => {
    const monitor = new DriftMonitor({ tensors: wideTensors, learnRows: 20, maxColumns: WIDE + 2 });
    monitor.observe('y', new Float32Array(20 * 2).map((_, i) => i), 20);
    monitor.observe('x', wide(seededRandom(21), 20, WIDE), 20);
    assert.equal(monitor.unwatchedColumns, 0);
    assert.equal(monitor.reference?.inputs.length, WIDE);
    assert.equal(monitor.reference?.outputs.length, 2);
    assert.equal(monitoring(monitor.report()).unwatchedColumns, undefined);
  });

  it("watches a reference file's first columns too, but refuses the file whole when a later column does not fit", () => {
    const rng = seededRandom(22);
    const columns = referenceColumns(wide(rng, 500, 300), 500, 300, 'x');
    const file: DriftReference = { kind: 'DriftReference', version: 1, rows: 500, inputs: columns, outputs: [] };
    const monitor = new DriftMonitor({ tensors: [{ name: 'x', role: 'input', cols: 300 }], reference: file });
    assert.equal(monitor.reference?.inputs.length, DEFAULT_MAX_COLUMNS);
    assert.equal(monitor.unwatchedColumns, 300 - DEFAULT_MAX_COLUMNS);
    assert.throws(() => new DriftMonitor({ tensors: [{ name: 'x', role: 'input', cols: 299 }], reference: file }), /column 299 of 'x', which has 299 columns/);
  });
});

describe('the smallest drift window', () => {
  const MIN_WINDOW = 2 * DEFAULT_MIN_ROWS;
  const spec = (windowRows: number) => ({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'm' }, spec: { model: { uri: 'file://m.onnx', drift: { windowRows } } } });

  /** Feeds rows one request at a time and returns the verdict's reason after each row, from the first judged one on. */
  const reasonsOnceJudged = (windowRows: number): string[] => {
    const rng = seededRandom(30);
    const monitor = new DriftMonitor({ tensors, reference: reference(rng), windowRows });
    const reasons: string[] = [];
    for (let i = 0; i < 3 * windowRows; i++) {
      monitor.observe('x', rows(rng, 1), 1);
      const { reason } = driftVerdict([{ source: 'r1', report: monitor.report() }]);
      if (reasons.length > 0 || reason !== 'TooFewRows') reasons.push(reason);
    }
    return reasons;
  };

  it(`is what the spec allows: ${MIN_WINDOW} rows, twice the rows a verdict needs`, () => {
    assert.equal(validateInferenceService(spec(MIN_WINDOW)).ok, true);
    const refused = validateInferenceService(spec(MIN_WINDOW - 1));
    assert.ok(!refused.ok && refused.errors.some((e) => e.path === 'spec.model.drift.windowRows' && /at least 400 rows: the window keeps as few as half/.test(e.message)));
  });

  it('once judged, stays judged at the smallest window', () => {
    const reasons = reasonsOnceJudged(MIN_WINDOW);
    assert.ok(reasons.length > 2 * MIN_WINDOW, 'judged from about the 200th row on');
    assert.ok(!reasons.includes('TooFewRows'), 'the window never fell below the rows a verdict needs');
  });

  it('would fall back to TooFewRows at each half-window with one row less (why the spec refuses it)', () => {
    assert.ok(reasonsOnceJudged(MIN_WINDOW - 1).includes('TooFewRows'));
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
