import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { binomialUpperTail } from './binomial.ts';

/** Direct sum of the probability mass, for small n. */
function exactTail(k: number, n: number, p: number): number {
  let total = 0;
  for (let i = k; i <= n; i++) {
    let c = 1;
    for (let j = 1; j <= i; j++) c = (c * (n - i + j)) / j;
    total += c * p ** i * (1 - p) ** (n - i);
  }
  return total;
}

describe('binomialUpperTail', () => {
  const cases: Array<[k: number, n: number, p: number]> = [
    [1, 50, 0.007],
    [3, 50, 0.05],
    [10, 50, 0.005],
    [0, 10, 0.3],
    [10, 10, 0.3],
    [5, 20, 0.5],
  ];
  for (const [k, n, p] of cases) {
    it(`P(X ≥ ${k}) for n=${n}, p=${p} matches the direct sum`, () => {
      const got = binomialUpperTail(k, n, p);
      const want = exactTail(k, n, p);
      assert.ok(Math.abs(got - want) <= 1e-9 + want * 1e-9, `got ${got}, want ${want}`);
    });
  }

  it('handles the edges: p = 0, p = 1, k > n', () => {
    assert.equal(binomialUpperTail(1, 100, 0), 0, 'no failure is possible at p = 0');
    assert.equal(binomialUpperTail(0, 100, 0), 1);
    assert.equal(binomialUpperTail(100, 100, 1), 1);
    assert.equal(binomialUpperTail(101, 100, 0.5), 0);
  });

  it('stays finite and monotone for large n', () => {
    const a = binomialUpperTail(600, 10_000, 0.05);
    const b = binomialUpperTail(550, 10_000, 0.05);
    assert.ok(a > 0 && a < 1e-4, `600 of 10,000 at 5% is very unlikely (got ${a})`);
    assert.ok(b > a && b < 0.02, `550 is likelier than 600 (got ${b})`);
    assert.ok(binomialUpperTail(480, 10_000, 0.05) > 0.8);
  });
});
