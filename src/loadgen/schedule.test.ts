import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatedSchedule, replaySchedule, ScheduleError, type Arrival, type Schedule, type ShapeSpec } from './schedule.ts';
import { parseArrivalCsv } from './trace.ts';

function times(schedule: Iterable<Arrival>): number[] {
  return [...schedule].map((a) => a.atMs);
}

function countIn(ts: number[], fromMs: number, toMs: number): number {
  return ts.filter((t) => t >= fromMs && t < toMs).length;
}

/** A Poisson count with mean m lies within 4 standard deviations of m. */
function assertPoissonCount(count: number, mean: number, what: string): void {
  const slack = 4 * Math.sqrt(mean);
  assert.ok(Math.abs(count - mean) <= slack, `${what}: ${count} arrivals, expected ${mean} ± ${slack.toFixed(0)}`);
}

function assertOrderedWithin(schedule: Schedule): void {
  let prev = -Infinity;
  for (const { atMs } of schedule) {
    assert.ok(atMs >= prev, `arrivals out of order: ${atMs} after ${prev}`);
    assert.ok(atMs >= 0 && atMs < schedule.durationMs, `arrival at ${atMs} outside [0, ${schedule.durationMs})`);
    prev = atMs;
  }
}

test('constant, uniform: exactly rate × duration arrivals, evenly spaced, each in the middle of its slot', () => {
  const ts = times(generatedSchedule({ shape: 'constant', rate: 50 }, { durationMs: 2000, arrivals: 'uniform' }));
  assert.equal(ts.length, 100);
  ts.forEach((t, i) => assert.ok(Math.abs(t - (i * 20 + 10)) < 1e-9, `arrival ${i} at ${t}`));
});

test('constant, poisson: count and rate within tolerance, exponential gaps (coefficient of variation ≈ 1)', () => {
  const schedule = generatedSchedule({ shape: 'constant', rate: 100 }, { durationMs: 600_000, seed: 3 });
  const ts = times(schedule);
  assertPoissonCount(ts.length, 60_000, 'whole run');
  for (let m = 0; m < 10; m++) assertPoissonCount(countIn(ts, m * 60_000, (m + 1) * 60_000), 6000, `minute ${m}`);
  const gaps = ts.slice(1).map((t, i) => t - ts[i]!);
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
  assert.ok(Math.abs(mean - 10) < 0.2, `mean gap ${mean} ms, expected 10`);
  assert.ok(Math.abs(sd / mean - 1) < 0.03, `coefficient of variation ${sd / mean}, expected 1 for Poisson arrivals`);
  assertOrderedWithin(schedule);
});

test('the same seed gives the same arrivals on every iteration; another seed differs', () => {
  const spec: ShapeSpec = { shape: 'burst', rate: 20, factor: 4, startMs: 1000, forMs: 1000 };
  const a = generatedSchedule(spec, { durationMs: 5000, seed: 11 });
  const first = times(a);
  assert.deepEqual(times(a), first);
  assert.deepEqual(times(generatedSchedule(spec, { durationMs: 5000, seed: 11 })), first);
  assert.notDeepEqual(times(generatedSchedule(spec, { durationMs: 5000, seed: 12 })), first);
});

test('step: the rate changes at the step, exactly at the boundary', () => {
  const spec: ShapeSpec = { shape: 'step', rate: 10, toRate: 50, atMs: 30_000 };
  const uniform = times(generatedSchedule(spec, { durationMs: 60_000, arrivals: 'uniform' }));
  assert.equal(countIn(uniform, 0, 30_000), 300);
  assert.equal(countIn(uniform, 30_000, 60_000), 1500);

  const poisson = generatedSchedule(spec, { durationMs: 600_000, seed: 5 });
  const ts = times(poisson);
  // Long after the step the rate is 50/s; before it, 10/s.
  assertPoissonCount(countIn(ts, 0, 30_000), 300, 'before the step');
  assertPoissonCount(countIn(ts, 30_000, 600_000), 50 * 570, 'after the step');
  assert.equal(poisson.rateAt(29_999), 10);
  assert.equal(poisson.rateAt(30_000), 50);
  assert.ok(Math.abs(poisson.expectedBy(60_000) - 1800) < 1e-9);
});

test('burst: factor × the rate inside the window, the base rate around it', () => {
  const spec: ShapeSpec = { shape: 'burst', rate: 20, factor: 5, startMs: 10_000, forMs: 5_000 };
  const uniform = times(generatedSchedule(spec, { durationMs: 30_000, arrivals: 'uniform' }));
  assert.equal(countIn(uniform, 0, 10_000), 200);
  assert.equal(countIn(uniform, 10_000, 15_000), 500);
  assert.equal(countIn(uniform, 15_000, 30_000), 300);

  const ts = times(generatedSchedule(spec, { durationMs: 30_000, seed: 9 }));
  const before = countIn(ts, 0, 10_000);
  const during = countIn(ts, 10_000, 15_000);
  assertPoissonCount(during, 500, 'during the burst');
  // Per second, the burst is about 5× the base rate.
  const ratio = during / 5 / (before / 10);
  assert.ok(ratio > 3.5 && ratio < 7, `burst/base ratio ${ratio}`);
});

test('ramp: linear from the start rate to the end rate, then held', () => {
  const schedule = generatedSchedule({ shape: 'ramp', rate: 0, toRate: 100, overMs: 10_000 }, { durationMs: 15_000, arrivals: 'uniform' });
  const ts = times(schedule);
  // (0 + 100) / 2 · 10 s during the ramp, then 100/s for 5 s.
  assert.equal(countIn(ts, 0, 10_000), 500);
  assert.equal(countIn(ts, 10_000, 15_000), 500);
  // The first half of the ramp holds a quarter of its arrivals.
  assert.equal(countIn(ts, 0, 5_000), 125);
  assert.equal(schedule.rateAt(5_000), 50);
  assertOrderedWithin(schedule);
});

test('ramp down to zero and a zero rate send nothing after the rate reaches zero', () => {
  const ts = times(generatedSchedule({ shape: 'ramp', rate: 100, toRate: 0, overMs: 2_000 }, { durationMs: 10_000, arrivals: 'uniform' }));
  assert.equal(ts.length, 100);
  assert.ok(ts.every((t) => t < 2_000));
  assert.equal(times(generatedSchedule({ shape: 'constant', rate: 0 }, { durationMs: 10_000 })).length, 0);
});

test('sine: the mean rate over whole periods, peaks a quarter period in, troughs at three quarters', () => {
  const schedule = generatedSchedule({ shape: 'sine', rate: 50, amplitude: 40, periodMs: 20_000 }, { durationMs: 60_000, arrivals: 'uniform' });
  const ts = times(schedule);
  assert.equal(ts.length, 3000);
  const peak = countIn(ts, 4_000, 6_000);
  const trough = countIn(ts, 14_000, 16_000);
  assert.ok(peak > 170 && trough < 30, `peak ${peak}, trough ${trough} arrivals in 2 s`);
  assert.ok(Math.abs(schedule.rateAt(5_000) - 90) < 1e-9);
  assert.ok(Math.abs(schedule.rateAt(15_000) - 10) < 1e-9);
  // Arrivals agree with the integral of the rate.
  for (const t of [1_234, 7_777, 13_000, 42_424]) {
    assert.ok(Math.abs(countIn(ts, 0, t) - schedule.expectedBy(t)) <= 1, `at ${t}: ${countIn(ts, 0, t)} vs ${schedule.expectedBy(t)}`);
  }
  const poisson = times(generatedSchedule({ shape: 'sine', rate: 50, amplitude: 50, periodMs: 20_000 }, { durationMs: 600_000, seed: 2 }));
  assertPoissonCount(poisson.length, 30_000, 'sine, poisson');
});

test('impossible specs are refused with the field that is wrong', () => {
  const cases: Array<[ShapeSpec, number, RegExp]> = [
    [{ shape: 'constant', rate: -1 }, 1000, /rate must be a number ≥ 0/],
    [{ shape: 'constant', rate: Number.NaN }, 1000, /rate must be/],
    [{ shape: 'constant', rate: 1 }, 0, /durationMs must be a number > 0/],
    [{ shape: 'sine', rate: 10, amplitude: 20, periodMs: 1000 }, 1000, /amplitude \(20\) must not exceed the mean rate \(10\)/],
    [{ shape: 'sine', rate: 10, amplitude: 5, periodMs: 0 }, 1000, /periodMs must be a number > 0/],
    [{ shape: 'burst', rate: 10, factor: -2, startMs: 0, forMs: 10 }, 1000, /factor must be/],
    [{ shape: 'step', rate: 10, toRate: 20, atMs: -5 }, 1000, /atMs must be/],
  ];
  for (const [spec, durationMs, message] of cases) {
    assert.throws(() => generatedSchedule(spec, { durationMs }), (err: unknown) => err instanceof ScheduleError && message.test(err.message) && err.code === 'INVALID_SCHEDULE');
  }
});

test('replay: arrival times from the trace, scaled, with their fields', () => {
  const trace = parseArrivalCsv('t,tokens_in,tokens_out\n0,10,100\n0.5,20,200\n1.25,30,300\n4,40,400\n');
  const schedule = replaySchedule(trace);
  assert.equal(schedule.durationMs, 5000);
  assert.deepEqual([...schedule], [
    { atMs: 0, fields: { tokens_in: 10, tokens_out: 100 } },
    { atMs: 500, fields: { tokens_in: 20, tokens_out: 200 } },
    { atMs: 1250, fields: { tokens_in: 30, tokens_out: 300 } },
    { atMs: 4000, fields: { tokens_in: 40, tokens_out: 400 } },
  ]);
  assert.equal(schedule.rateAt(200), 2);
  assert.equal(schedule.expectedBy(1250), 2);

  const faster = replaySchedule(trace, { timeScale: 0.5 });
  assert.deepEqual(times(faster), [0, 250, 625, 2000]);
  assert.equal(faster.durationMs, 3000);
  const slower = replaySchedule(trace, { timeScale: 2 });
  assert.deepEqual(times(slower), [0, 1000, 2500, 8000]);

  const capped = replaySchedule(trace, { durationMs: 1000 });
  assert.deepEqual(times(capped), [0, 500]);
  assert.throws(() => replaySchedule(trace, { timeScale: 0 }), /timeScale must be a number > 0/);
});

test('a two-hour schedule at hundreds of requests per second has exactly the expected count', () => {
  // The scale a simulator runs at: millions of arrivals, generated lazily.
  const schedule = generatedSchedule({ shape: 'sine', rate: 300, amplitude: 200, periodMs: 3_600_000 }, { durationMs: 7_200_000, arrivals: 'uniform' });
  let n = 0;
  for (const _ of schedule) n++;
  assert.equal(n, 300 * 7200);
});
