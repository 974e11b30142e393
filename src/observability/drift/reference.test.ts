import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DriftReferenceError, parseDriftReference, referenceColumn, referenceColumns } from './reference.ts';
import { seededRandom } from '../../util/prng.ts';

describe('referenceColumn', () => {
  it('cuts a continuous column at its deciles, about a tenth of the data in each bin', () => {
    const rng = seededRandom(1);
    const values = Array.from({ length: 10_000 }, () => rng.normal());
    const c = referenceColumn(values, { name: 'x', tensor: 'in', column: 0 });
    assert.equal(c.kind, 'continuous');
    assert.equal(c.edges.length, 9);
    assert.equal(c.proportions.length, 10);
    for (const p of c.proportions) assert.ok(Math.abs(p - 0.1) < 0.002, `bin share ${p}`);
    // The median of a standard normal sits near 0.
    assert.ok(Math.abs(c.edges[4]!) < 0.05, `median edge ${c.edges[4]}`);
  });

  it('gives a flag or a small count one bin per value (discrete)', () => {
    const c = referenceColumn([0, 1, 1, 1, 0, 1, 1, 1], { name: 'is_foreign', tensor: 'in', column: 5 });
    assert.equal(c.kind, 'discrete');
    assert.deepEqual(c.edges, [0.5]);
    assert.deepEqual(c.proportions, [0.25, 0.75]);
  });

  it('never makes an empty bin from repeated quantiles (a column mostly zero)', () => {
    const values = [...new Array(900).fill(0), ...Array.from({ length: 100 }, (_, i) => i + 1)];
    const c = referenceColumn(values, { name: 'x', tensor: 'in', column: 0 });
    assert.ok(c.proportions.every((p) => p > 0), JSON.stringify(c.proportions));
    assert.ok(Math.abs(c.proportions[0]! - 0.9) < 1e-9, 'the zeros share one bin');
    assert.ok(Math.abs(c.proportions.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  });

  it('names matrix columns after the given names, or tensor[i]', () => {
    const cols = referenceColumns([1, 2, 3, 4, 5, 6], 3, 2, 'features');
    assert.deepEqual(cols.map((c) => [c.name, c.column]), [['features[0]', 0], ['features[1]', 1]]);
    assert.deepEqual(referenceColumns([1, 2], 2, 1, 'score', ['p']).map((c) => c.name), ['p']);
  });
});

describe('parseDriftReference', () => {
  const good = {
    kind: 'DriftReference',
    version: 1,
    rows: 100,
    inputs: [{ name: 'a', tensor: 'in', column: 0, kind: 'continuous', edges: [1, 2], proportions: [0.3, 0.3, 0.4] }],
    outputs: [],
  };

  it('accepts a valid reference', () => {
    assert.equal(parseDriftReference(good, 'ref.json').inputs[0]!.name, 'a');
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', [], /must be a JSON object/],
    ['wrong kind', { ...good, kind: 'Other' }, /kind must be "DriftReference"/],
    ['edges out of order', { ...good, inputs: [{ ...good.inputs[0], edges: [2, 1] }] }, /inputs\[0\]\.edges must be strictly ascending/],
    ['proportions of the wrong length', { ...good, inputs: [{ ...good.inputs[0], proportions: [0.5, 0.5] }] }, /one more entry than edges \(3\), got 2/],
    ['proportions not summing to 1', { ...good, inputs: [{ ...good.inputs[0], proportions: [0.5, 0.5, 0.5] }] }, /must sum to 1, got 1\.5000/],
    ['a column twice', { ...good, inputs: [good.inputs[0], good.inputs[0]] }, /listed twice/],
    ['no columns', { ...good, inputs: [] }, /at least one column/],
    ['too many bins', { ...good, inputs: [{ ...good.inputs[0], edges: Array.from({ length: 64 }, (_, i) => i), proportions: new Array(65).fill(1 / 65) }] }, /at most 63 edges \(got 64\)/],
  ];
  for (const [what, value, message] of bad) {
    it(`refuses ${what}, saying which field and how to fix it`, () => {
      assert.throws(() => parseDriftReference(value, 'ref.json'), (err: unknown) => err instanceof DriftReferenceError && err.code === 'INVALID_DRIFT_REFERENCE' && message.test(err.message) && err.message.includes('ref.json'));
    });
  }
});
