import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TimedValue } from './hpa-behavior.ts';
import { TREND_MAX_GROWTH, TREND_MIN_FIT, TREND_SAMPLES, TREND_SAMPLE_MS, projectRate, recordRate, risingTrend } from './trend.ts';

const NOW = 1_000_000_000;
const MIN = TREND_SAMPLE_MS;

/** One sample a minute from NOW with these rates. */
const series = (...rates: number[]): TimedValue[] => rates.map((value, i) => ({ at: NOW + i * MIN, value }));
/** The rates recorded a minute apart through recordRate. */
function recorded(rates: number[], keep?: number): TimedValue[] {
  return rates.reduce<TimedValue[]>((s, rate, i) => recordRate(s, rate, NOW + i * MIN, keep), []);
}

test('recordRate: one sample per minute; one sooner than a minute after the last is not taken', () => {
  const one = recordRate([], 100, NOW);
  assert.deepEqual(one, [{ at: NOW, value: 100 }]);
  assert.equal(recordRate(one, 120, NOW + MIN - 1), one);
  assert.equal(recordRate(one, 120, NOW), one); // the same moment again
  const two = recordRate(one, 120, NOW + MIN);
  assert.deepEqual(two, [{ at: NOW, value: 100 }, { at: NOW + MIN, value: 120 }]);
  assert.equal(one.length, 1); // the input is left as it was
});

test('recordRate: keeps the last five samples, or the last `keep`', () => {
  assert.equal(TREND_SAMPLES, 5);
  assert.deepEqual(recorded([1, 2, 3, 4, 5, 6, 7]).map((s) => s.value), [3, 4, 5, 6, 7]);
  assert.deepEqual(recorded([1, 2, 3, 4, 5]).map((s) => s.value), [1, 2, 3, 4, 5]);
  assert.deepEqual(recorded([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 8).map((s) => s.value), [3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(recorded([1, 2, 3, 4], 2).map((s) => s.value), [3, 4]);
  assert.deepEqual(recorded([1, 2, 3, 4], 1).map((s) => s.value), [4]);
});

test('recordRate: a clock that went backwards starts afresh', () => {
  const s = series(100, 120, 140);
  assert.deepEqual(recordRate(s, 90, NOW + MIN / 2), [{ at: NOW + MIN / 2, value: 90 }]);
  assert.deepEqual(recordRate(s, 90, NOW + 2 * MIN - 1), [{ at: NOW + 2 * MIN - 1, value: 90 }]);
});

test('risingTrend: the rate gained per second when each of the last five samples rose', () => {
  // 60/s more every minute: 1/s per second.
  assert.equal(risingTrend(series(100, 160, 220, 280, 340)), 1);
  assert.equal(risingTrend(series(100, 130, 220, 250, 340)), 1); // uneven steps: first to last
  assert.equal(risingTrend(series(100, 160, 220, 280)), undefined); // four are not enough
  assert.equal(risingTrend([]), undefined);
});

test('risingTrend: a flat or falling sample anywhere is no trend', () => {
  const rising = [100, 160, 220, 280, 340];
  for (let i = 1; i < rising.length; i++) {
    const flat = rising.slice();
    flat[i] = flat[i - 1]!;
    assert.equal(risingTrend(series(...flat)), undefined, `flat at ${i}: ${flat.join(', ')}`);
    const falling = rising.slice();
    falling[i] = falling[i - 1]! - 1;
    assert.equal(risingTrend(series(...falling)), undefined, `falling at ${i}: ${falling.join(', ')}`);
    const barely = rising.slice();
    barely[i] = barely[i - 1]! + 0.001;
    assert.notEqual(risingTrend(series(...barely)), undefined, `barely rising at ${i}: ${barely.join(', ')}`);
  }
  // A step is one jump and then a plateau, not a climb.
  assert.equal(risingTrend(series(100, 100, 100, 400, 400)), undefined);
  assert.equal(risingTrend(series(100, 400, 400, 400, 400)), undefined);
});

test('risingTrend: five rises in uneven jumps, as a swinging load makes by chance, are no climb', () => {
  // Each higher than the last, but nearly all of the rise in the last minute: far from a line (R² ≈ 0.55).
  assert.equal(risingTrend(series(100, 101, 102, 103, 200)), undefined);
  assert.equal(risingTrend(series(100, 190, 192, 194, 196)), undefined);
  assert.equal(TREND_MIN_FIT, 0.9);
});

test('risingTrend: only the last five samples count', () => {
  // A fall before them does not break the trend…
  assert.equal(risingTrend(series(500, 100, 160, 220, 280, 340)), 1);
  // …and a rise before them does not change its slope (over six samples: 250/300 s).
  assert.equal(risingTrend(series(90, 100, 160, 220, 280, 340)), 1);
});

test('projectRate: the rate now plus the trend over the time ahead, at most twice the rate now', () => {
  assert.equal(TREND_MAX_GROWTH, 2);
  const s = series(100, 160, 220, 280, 340); // 1/s per second
  assert.equal(projectRate(s, 340, 60_000), 400);
  assert.equal(projectRate(s, 340, 0), 340);
  assert.equal(projectRate(s, 340, 340_000), 680); // exactly at the cap
  assert.equal(projectRate(s, 340, 400_000), 680); // 740 capped
  assert.equal(projectRate(s, 100, 60_000), 160); // from the rate now, not the last sample
  assert.equal(projectRate(series(100, 160, 220, 220, 340), 340, 60_000), undefined);
  assert.equal(projectRate(series(100, 160, 220, 280), 280, 60_000), undefined);
});
