import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { binOf, ksBinned, psi, PSI_FLOOR } from './stats.ts';

describe('psi', () => {
  it('is 0 for the same distribution, whatever the count', () => {
    assert.equal(psi([0.25, 0.25, 0.5], [25, 25, 50]), 0);
    assert.equal(psi([0.25, 0.25, 0.5], [1, 1, 2]), 0);
  });

  it('matches the formula Σ (a − e) ln(a / e) on a known shift', () => {
    // e = (0.5, 0.5), a = (0.8, 0.2): 0.3 ln 1.6 + (−0.3) ln 0.4
    const expected = 0.3 * Math.log(1.6) - 0.3 * Math.log(0.4);
    assert.ok(Math.abs(psi([0.5, 0.5], [80, 20]) - expected) < 1e-12);
  });

  it('floors empty bins so that an unseen bin gives a large finite value, not infinity', () => {
    const p = psi([0.5, 0.5, 0], [0, 50, 50]);
    assert.ok(Number.isFinite(p) && p > 1, `got ${p}`);
    const byHand = (PSI_FLOOR - 0.5) * Math.log(PSI_FLOOR / 0.5) + 0 + (0.5 - PSI_FLOOR) * Math.log(0.5 / PSI_FLOOR);
    assert.ok(Math.abs(p - byHand) < 1e-12);
  });

  it('is NaN with nothing counted (no data is not "no drift")', () => {
    assert.ok(Number.isNaN(psi([0.5, 0.5], [0, 0])));
  });

  it('reads bins at an offset of a shared count array', () => {
    assert.equal(psi([0.5, 0.5], [9, 9, 10, 10], 2), 0);
  });
});

describe('ksBinned', () => {
  it('is the largest gap between the two binned CDFs', () => {
    // CDFs: e = 0.25, 0.5, 1; a = 0.5, 0.9, 1 → gaps 0.25, 0.4, 0
    assert.ok(Math.abs(ksBinned([0.25, 0.25, 0.5], [50, 40, 10]) - 0.4) < 1e-12);
  });

  it('is 0 for the same distribution and 1 for disjoint ones', () => {
    assert.equal(ksBinned([0.5, 0.5], [5, 5]), 0);
    assert.ok(Math.abs(ksBinned([1, 0], [0, 7]) - 1) < 1e-12);
  });
});

describe('binOf', () => {
  it('puts a value equal to an edge in the bin above it', () => {
    const edges = [1, 2, 3];
    assert.deepEqual([-5, 0.99, 1, 1.5, 2, 3, 99].map((v) => binOf(edges, v)), [0, 0, 1, 1, 2, 3, 3]);
    assert.equal(binOf([], 42), 0);
  });
});
