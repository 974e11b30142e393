import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../util/prng.ts';
import { LatencyHistogram } from './histogram.ts';

/** Nearest-rank percentile of sorted values: the value at rank ceil(p/100 · n). */
function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

test('percentiles are within 1% of the exact values across six orders of magnitude', () => {
  const rng = seededRandom(42);
  const h = new LatencyHistogram();
  const values: number[] = [];
  for (let i = 0; i < 50_000; i++) {
    // Log-uniform from 1 µs to 100 s, rounded to the microsecond the histogram keeps.
    const ms = Math.round(10 ** rng.uniform(-3, 5) * 1000) / 1000;
    values.push(ms);
    h.record(ms);
  }
  values.sort((a, b) => a - b);
  let worst = 0;
  for (const p of [0.1, 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100]) {
    const exact = exactPercentile(values, p);
    const got = h.percentile(p);
    const relative = Math.abs(got - exact) / exact;
    worst = Math.max(worst, relative);
    assert.ok(relative <= 0.01, `p${p}: got ${got} ms, exact ${exact} ms (${(relative * 100).toFixed(3)}% off)`);
  }
  // The bucket layout promises better than the 1% it must meet.
  assert.ok(worst <= 0.005, `worst relative error ${worst}`);
  assert.equal(h.count, values.length);
  assert.equal(h.max, values[values.length - 1]);
  assert.equal(h.min, values[0]);
});

test('values below 256 µs are exact', () => {
  const h = new LatencyHistogram();
  for (const ms of [0.001, 0.002, 0.1, 0.255]) h.record(ms);
  assert.equal(h.percentile(25), 0.001);
  assert.equal(h.percentile(50), 0.002);
  assert.equal(h.percentile(75), 0.1);
  assert.equal(h.percentile(100), 0.255);
});

test('a single value is reported as itself, and mean and max are exact', () => {
  const h = new LatencyHistogram();
  h.record(123.456);
  assert.equal(h.percentile(50), 123.456); // clamped to the exact min and max
  h.record(200);
  h.record(300);
  assert.equal(h.max, 300);
  assert.ok(Math.abs(h.mean - (123.456 + 200 + 300) / 3) < 1e-9);
  assert.deepEqual(Object.keys(h.summary()), ['count', 'p50', 'p95', 'p99', 'max', 'mean']);
});

test('an empty histogram reports zeros; negative values count as 0', () => {
  const h = new LatencyHistogram();
  assert.deepEqual(h.summary(), { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
  h.record(-5);
  assert.equal(h.percentile(99), 0);
});

test('merge equals recording everything in one; reset empties', () => {
  const rng = seededRandom(7);
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  const all = new LatencyHistogram();
  for (let i = 0; i < 2000; i++) {
    const ms = rng.uniform(0, 500);
    (i % 2 === 0 ? a : b).record(ms);
    all.record(ms);
  }
  b.record(90_000); // b grows past a's buckets
  all.record(90_000);
  a.merge(b);
  assert.deepEqual(a.summary(), all.summary());
  assert.equal(a.min, all.min);
  a.reset();
  assert.equal(a.count, 0);
  a.record(5);
  assert.equal(a.percentile(50), 5);
});
