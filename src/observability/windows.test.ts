import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignalRecorder } from './windows.ts';
import { seededRandom } from '../util/prng.ts';
import { LATENCY_BINS, latencyBin } from './latency-histogram.ts';

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

/** The exact nearest-rank quantile q of `values`. */
function nearestRank(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

test('waitP95Ms: absent without waits, however many requests finished', () => {
  const r = new SignalRecorder();
  for (let i = 0; i < 50; i++) r.recordRequest(T0 + i * 100, 20, 200);
  const { stable, panic } = r.windows(T0 + 5_000);
  assert.ok(stable.p95Ms !== undefined);
  assert.equal(stable.waitP95Ms, undefined);
  assert.equal(panic.waitP95Ms, undefined);
  assert.equal(r.windows(T0 + 5_000).stable.waitP95Ms, undefined, 'reading a window records nothing');
});

test('waitP95Ms is the p95 of the recorded waits within ±4.5%, apart from the latency quantiles', () => {
  const r = new SignalRecorder();
  const random = seededRandom(7).next;
  const waits: number[] = [];
  // 20 s of 50 waits a second spread over 0.5..500 ms (log-uniform); the requests' latencies are all 1 s.
  for (let i = 0; i < 1_000; i++) {
    const at = T0 + i * 20;
    const wait = 0.5 * 1_000 ** random();
    waits.push(wait);
    r.recordWait(at, wait);
    r.recordRequest(at, 1_000, 200);
  }
  const now = T0 + 19_999;
  const exact = nearestRank(waits, 0.95);
  const { stable } = r.windows(now);
  near(stable.waitP95Ms, exact, exact * 0.045, 'stable wait p95');
  near(stable.p95Ms, 1_000, 1e-9, 'latency p95 is the latencies, not the waits');
  // The panic window holds the last 6 s of waits only.
  near(r.windows(now).panic.waitP95Ms, nearestRank(waits.slice(-300), 0.95), nearestRank(waits.slice(-300), 0.95) * 0.045, 'panic wait p95');
  // A zero wait (a request begun at once) counts, and pulls the quantile down.
  const quick = new SignalRecorder();
  for (let i = 0; i < 100; i++) quick.recordWait(T0 + i, i < 96 ? 0 : 300);
  near(quick.windows(T0 + 100).panic.waitP95Ms, 0.1, 0.1 * 0.045, 'p95 of 96 zero waits is in the lowest bin');
  quick.recordWait(T0 + 200, -1);
  quick.recordWait(T0 + 200, Number.NaN);
  near(quick.windows(T0 + 200).panic.waitP95Ms, 0.1, 0.1 * 0.045, 'a negative or NaN wait is ignored');
});

test('waitP95Ms counts only waits within the window', () => {
  const r = new SignalRecorder();
  // Long waits early on, short ones in the last 6 s.
  for (let i = 0; i < 100; i++) r.recordWait(T0 + i * 100, 800);
  for (let i = 0; i < 60; i++) r.recordWait(T0 + 54_000 + i * 100, 10);
  const now = T0 + 59_999;
  near(r.windows(now).panic.waitP95Ms, 10, 10 * 0.045, 'the panic window sees only the short waits');
  near(r.windows(now).stable.waitP95Ms, 800, 800 * 0.045, 'the stable window sees both');
  // Ten seconds later the stable window starts after the last long wait.
  near(r.windows(T0 + 69_999).stable.waitP95Ms, 10, 10 * 0.045, 'the long waits aged out');
  assert.equal(r.windows(T0 + 200_000).stable.waitP95Ms, undefined, 'no waits in the window: absent again');
});

test('recordWaits adds another gateway\'s sparse wait histogram: its bins count as their middles', () => {
  const r = new SignalRecorder();
  r.recordWaits(T0, []);
  assert.equal(r.windows(T0).stable.waitP95Ms, undefined, 'an empty histogram is no data');
  r.recordWaits(T0 + 100, [
    [latencyBin(5), 90],
    [latencyBin(400), 10],
    [LATENCY_BINS, 1_000], // out of range: ignored
    [latencyBin(9_000), 0],
  ]);
  const w = r.windows(T0 + 500).panic;
  near(w.waitP95Ms, 400, 400 * 0.045, 'p95 of 90 × 5 ms and 10 × 400 ms');
  // Mixed with this process's own waits in the same window.
  for (let i = 0; i < 900; i++) r.recordWait(T0 + 200, 5);
  near(r.windows(T0 + 500).panic.waitP95Ms, 5, 5 * 0.045, 'now 990 of 1000 waits are 5 ms');
});

test('refusedRate: absent without refusals, however many requests finished', () => {
  const r = new SignalRecorder({ startedAt: T0 });
  for (let i = 0; i < 100; i++) r.recordRequest(T0 + i * 100, 10, i % 10 === 0 ? 503 : 200);
  r.recordRefused(T0 + 5_000, 0);
  r.recordRefused(T0 + 5_000, -2);
  r.recordRefused(T0 + 5_000, Number.NaN);
  const { stable, panic } = r.windows(T0 + 9_999);
  assert.ok((stable.requestRate ?? 0) > 0, 'the requests are there');
  assert.equal(stable.refusedRate, undefined, 'no refusal: absent, not 0 (a zero, negative or NaN count is none)');
  assert.equal(panic.refusedRate, undefined);
  assert.equal(new SignalRecorder({ startedAt: T0 }).windows(T0 + 30_000).stable.refusedRate, undefined, 'a quiet recorder: absent too');
});

test('refusedRate is the refusals in the window ÷ its observed length, apart from the completed rate', () => {
  const r = new SignalRecorder({ startedAt: T0 });
  // A minute of 10 completions and 5 refusals a second (3 + 1 + 1: counts add up).
  for (let s = 0; s < 60; s++) {
    for (let i = 0; i < 10; i++) r.recordRequest(T0 + s * 1000 + i * 100, 20, 200);
    r.recordRefused(T0 + s * 1000 + 50, 3);
    r.recordRefused(T0 + s * 1000 + 450);
    r.recordRefused(T0 + s * 1000 + 950);
  }
  const now = T0 + 59_999;
  const { stable, panic } = r.windows(now);
  near(stable.refusedRate, 300 / 59.999, 1e-9, 'stable: 300 refusals over the 59.999 s observed');
  near(panic.refusedRate, 30 / 5.999, 1e-9, 'panic: the last 6 buckets, 30 refusals over 5.999 s');
  near(stable.requestRate, 600 / 59.999, 1e-9, 'the completed rate does not count refusals');
  assert.equal(stable.errorRate, 0, 'refusals are not errors of completed requests');
  // Younger than the window: divided by the time observed, as the completed rate is.
  const young = new SignalRecorder();
  for (let i = 0; i < 10; i++) young.recordRefused(T0 + i * 500);
  near(young.windows(T0 + 5_000).stable.refusedRate, 10 / 5, 1e-9, '10 refusals in the first 5 s');
});

test('refusedRate counts only refusals within the window', () => {
  const r = new SignalRecorder({ startedAt: T0 });
  for (let i = 0; i < 20; i++) r.recordRefused(T0 + i * 500); // the first 10 s
  for (let i = 0; i < 6; i++) r.recordRefused(T0 + 54_000 + i * 1000); // the last 6 s
  const now = T0 + 59_999;
  near(r.windows(now).panic.refusedRate, 6 / 5.999, 1e-9, 'the panic window sees the late ones only');
  near(r.windows(now).stable.refusedRate, 26 / 59.999, 1e-9, 'the stable window sees both');
  near(r.windows(T0 + 69_999).stable.refusedRate, 6 / 59.999, 1e-9, 'ten seconds later the early ones aged out');
  assert.equal(r.windows(T0 + 200_000).stable.refusedRate, undefined, 'none in the window: absent again');
  assert.equal(r.windows(T0 + 200_000).stable.requestRate, 0, 'while the completed rate is 0: the recorder observes');
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
