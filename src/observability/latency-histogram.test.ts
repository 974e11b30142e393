import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LATENCY_BINS, binMiddle, histogramQuantile, latencyBin } from './latency-histogram.ts';
import { seededRandom } from '../util/prng.ts';

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

test('bins grow monotonically and cover tiny, huge and odd values', () => {
  let last = -1;
  for (let ms = 0.05; ms < 3_000_000; ms *= 1.03) {
    const bin = latencyBin(ms);
    assert.ok(bin >= last, `bin for ${ms} went backwards`);
    assert.ok(bin >= 0 && bin < LATENCY_BINS);
    last = bin;
  }
  assert.equal(latencyBin(0), 0);
  assert.equal(latencyBin(-5), 0, 'a negative latency (clock skew) lands in the first bin');
  assert.equal(latencyBin(Number.NaN), 0);
  assert.equal(latencyBin(1e12), LATENCY_BINS - 1);
});

test('a bin middle reads back within 4.5% of any value in the bin', () => {
  for (let ms = 0.2; ms < 1_000_000; ms *= 1.011) {
    const mid = binMiddle(latencyBin(ms));
    assert.ok(Math.abs(mid - ms) / ms <= 0.045, `${ms} read as ${mid}`);
  }
});

test('quantiles stay within 4.5% of the exact nearest-rank quantile', () => {
  const random = seededRandom(7).next;
  for (const shape of ['uniform', 'lognormal', 'bimodal'] as const) {
    const bins = new Uint32Array(LATENCY_BINS);
    const samples: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const u = random();
      const ms = shape === 'uniform' ? 1 + 499 * u : shape === 'lognormal' ? Math.exp(3 + 1.2 * Math.sqrt(-2 * Math.log(u || 1e-12)) * Math.cos(2 * Math.PI * random())) : u < 0.9 ? 5 + 5 * random() : 800 + 400 * random();
      samples.push(ms);
      bins[latencyBin(ms)]! += 1;
    }
    samples.sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = exactQuantile(samples, q);
      const read = histogramQuantile(bins, samples.length, q, samples[0]!, samples.at(-1)!)!;
      assert.ok(Math.abs(read - exact) / exact <= 0.045, `${shape} q${q}: ${read} vs exact ${exact}`);
    }
  }
});

test('quantiles are clamped to the values seen, so a constant latency reads exactly', () => {
  const bins = new Uint32Array(LATENCY_BINS);
  bins[latencyBin(100)] = 10;
  assert.equal(histogramQuantile(bins, 10, 0.95, 100, 100), 100);
  assert.equal(histogramQuantile(new Uint32Array(LATENCY_BINS), 0, 0.5, Infinity, -Infinity), undefined, 'no samples, no quantile');
});
