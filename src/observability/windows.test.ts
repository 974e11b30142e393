import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignalRecorder } from './windows.ts';
import { seededRandom } from '../util/prng.ts';

const T0 = 1_700_000_000_000; // any epoch works; buckets align to multiples of the bucket width

function near(actual: number | undefined, expected: number, tolerance: number, what: string): void {
  assert.ok(actual !== undefined, `${what} is missing`);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected} ± ${tolerance}`);
}

test('a recorder that has seen nothing reports no data, never zeros', () => {
  const r = new SignalRecorder();
  const { stable, panic } = r.windows(T0);
  assert.deepEqual(stable, { windowSeconds: 60 });
  assert.deepEqual(panic, { windowSeconds: 6 });
  assert.equal(r.lastRequestAt, undefined);
  assert.equal(r.coldStartMs, undefined);
});

test('request rate, error rate and latency quantiles per window', () => {
  const r = new SignalRecorder();
  // 50 s of 10 requests per second at 20 ms, then 10 s of 10/s at 200 ms with one 503 a second.
  for (let s = 0; s < 60; s++) {
    for (let i = 0; i < 10; i++) {
      const slow = s >= 50;
      r.recordRequest(T0 + s * 1000 + i * 100, slow ? 200 : 20, slow && i === 0 ? 503 : 200);
    }
  }
  const now = T0 + 59_999;
  const { stable, panic } = r.windows(now);
  near(stable.requestRate, 10, 0.01, 'stable rate');
  near(panic.requestRate, 10, 0.01, 'panic rate');
  near(stable.errorRate, 10 / 600, 1e-9, 'stable error rate');
  near(panic.errorRate, 0.1, 1e-9, 'panic error rate (only slow seconds)');
  near(stable.p50Ms, 20, 20 * 0.045, 'stable p50');
  near(stable.p95Ms, 200, 200 * 0.045, 'stable p95 (the slow sixth)');
  near(panic.p50Ms, 200, 200 * 0.045, 'panic p50');
  assert.equal(r.lastRequestAt, T0 + 59_900);
});

test('requests age out of the windows and the ring is reused after a long gap', () => {
  const r = new SignalRecorder();
  for (let i = 0; i < 100; i++) r.recordRequest(T0 + i * 10, 5, 200);
  assert.equal(r.windows(T0 + 5_000).panic.p50Ms, 5);
  const later = r.windows(T0 + 10_000);
  assert.equal(later.panic.requestRate, 0, 'rate 0 is data: the recorder was observing');
  assert.equal(later.panic.p50Ms, undefined, 'no completions, no latency');
  assert.equal(later.panic.errorRate, undefined, 'no completions, no error rate');
  assert.ok((later.stable.requestRate ?? 0) > 0);

  // An hour later the same slots hold new buckets; nothing old leaks in.
  const hour = T0 + 3_600_000;
  r.recordRequest(hour, 50, 500);
  const w = r.windows(hour + 500);
  assert.equal(w.stable.p50Ms, 50);
  assert.equal(w.stable.errorRate, 1);
  near(w.stable.requestRate, 1 / 59.5, 1e-9, 'one request over the window: 59 whole buckets and half the current one');
});

test('while younger than a window, the rate divides by the time observed, not the whole window', () => {
  const r = new SignalRecorder();
  for (let i = 0; i < 100; i++) r.recordRequest(T0 + i * 100, 10, 200);
  near(r.windows(T0 + 10_000).stable.requestRate, 10, 0.01, 'rate after 10 s of a 60 s window');
});

test('startedAt makes a quiet recorder report a rate of 0 rather than no data', () => {
  const quiet = new SignalRecorder({ startedAt: T0 });
  assert.equal(quiet.windows(T0 + 30_000).stable.requestRate, 0);
  assert.equal(new SignalRecorder().windows(T0 + 30_000).stable.requestRate, undefined);
});

test('gauges are time-weighted: how often they are sampled does not matter', () => {
  // 0 in flight for 30 s (one sample), then 10 for 30 s (sampled every 100 ms).
  const sparse = new SignalRecorder();
  sparse.recordConcurrency(T0, 0);
  const dense = new SignalRecorder();
  dense.recordConcurrency(T0, 0);
  for (let t = 30_000; t < 60_000; t += 100) dense.recordConcurrency(T0 + t, 10);
  sparse.recordConcurrency(T0 + 30_000, 10);
  for (const r of [sparse, dense]) {
    const { stable, panic } = r.windows(T0 + 59_999);
    near(stable.concurrency, 5, 0.01, 'stable concurrency');
    near(panic.concurrency, 10, 1e-9, 'panic concurrency');
  }
});

test('a gauge sampled just now counts, and a gauge gone quiet for too long is missing', () => {
  const r = new SignalRecorder({ gaugeStaleMs: 10_000 });
  r.recordQueueDepth(T0 + 500, 7);
  assert.equal(r.windows(T0 + 500).panic.queueDepth, 7, 'held for no time yet, still the current value');
  near(r.windows(T0 + 5_000).panic.queueDepth, 7, 1e-9, 'held value');
  assert.equal(r.windows(T0 + 30_000).panic.queueDepth, undefined, 'stale after 10 s without a sample');
  near(r.windows(T0 + 30_000).stable.queueDepth, 7, 1e-9, 'the stable window still saw it');
});

test('queue growth: a queue rising by 5 per second reads as +5/s, a draining one as negative', () => {
  const rising = new SignalRecorder();
  const draining = new SignalRecorder();
  for (let t = 0; t <= 20_000; t += 100) {
    rising.recordQueueDepth(T0 + t, (5 * t) / 1000);
    draining.recordQueueDepth(T0 + t, 200 - (5 * t) / 1000);
  }
  near(rising.windows(T0 + 20_000).panic.queueGrowthPerSec, 5, 0.2, 'rising');
  near(draining.windows(T0 + 20_000).panic.queueGrowthPerSec, -5, 0.2, 'draining');
});

test('CPU is averaged per replica, then across replicas; GPU stays missing without samples', () => {
  const r = new SignalRecorder();
  // replica a: 4 samples at 0.2; replica b: 1 sample at 0.8 — the mean of averages is 0.5, not 0.32.
  for (let i = 0; i < 4; i++) r.recordCpu(T0 + i * 1000, 'a', 0.2);
  r.recordCpu(T0 + 2_000, 'b', 0.8);
  const { stable } = r.windows(T0 + 5_000);
  near(stable.cpuUtilization, 0.5, 1e-9, 'cpu');
  assert.equal(stable.gpuUtilization, undefined);
  assert.deepEqual([...r.podCpu(T0 + 5_000)].sort(), [['a', 0.2], ['b', 0.8]]);
  r.recordGpu(T0 + 5_000, 'a', 0.9);
  near(r.windows(T0 + 5_500).panic.gpuUtilization, 0.9, 1e-9, 'gpu');
});

test('cold starts: the slowest of the last five', () => {
  const r = new SignalRecorder();
  for (const [i, ms] of [9_000, 1_000, 1_200, 900, 1_100, 1_300].entries()) r.recordColdStart(T0 + i, ms);
  assert.equal(r.coldStartMs, 1_300, 'the 9 s outlier has left the last five');
});

test('memory stays bounded: a day of traffic keeps only the last window', () => {
  const r = new SignalRecorder({ stableWindowMs: 10_000, panicWindowMs: 2_000 });
  const random = seededRandom(3).next;
  const day = 86_400_000;
  for (let t = 0; t < day; t += 997) {
    r.recordRequest(T0 + t, 1 + 99 * random(), 200);
    r.recordConcurrency(T0 + t, 3);
    r.recordCpu(T0 + t, `replica-${Math.floor(t / 60_000)}`, 0.5); // replicas come and go
  }
  const w = r.windows(T0 + day);
  near(w.stable.requestRate, 1, 0.15, 'rate');
  assert.equal(r.podCpu(T0 + day).size, 1, 'replicas gone for longer than the window are forgotten');
});

test('options are checked', () => {
  assert.throws(() => new SignalRecorder({ bucketMs: 0 }), RangeError);
  assert.throws(() => new SignalRecorder({ panicWindowMs: 90_000 }), RangeError);
  assert.throws(() => new SignalRecorder({ stableWindowMs: 60_500 }), /whole multiples/);
});

test('signals: both windows plus what the runtime knows, ready for a decider', () => {
  const r = new SignalRecorder();
  r.recordRequest(T0 + 100, 12, 200);
  r.recordConcurrency(T0, 2);
  r.recordColdStart(T0, 1_500);
  const s = r.signals(T0 + 1_000, { ready: 1, current: 2, replicaCapacityRps: 40 });
  assert.equal(s.readyReplicas, 1);
  assert.equal(s.currentReplicas, 2);
  assert.equal(s.replicaCapacityRps, 40);
  assert.equal(s.coldStartMs, 1_500);
  assert.equal(s.lastRequestAt, T0 + 100);
  assert.equal(s.panic.p50Ms, 12);
  assert.equal(s.stable.concurrency, 2);
  assert.equal(s.pods, undefined);
});
