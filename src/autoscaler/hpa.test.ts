import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PodSignal, ScaleResult } from './types.ts';
import { cpuReplicas, usageRatioReplicas, averageValueReplicas } from './hpa-replicas.ts';
import { defaultScaleDown, defaultScaleUp, emptyHistory, normalizeWithBehaviors, scaleUpLimit, type HpaHistory } from './hpa-behavior.ts';
import { HPA_SYNC_PERIOD_MS, hpaCpu, hpaService, reconcileHpa } from './hpa.ts';
import { baseSpec, driver, podsAt, signalsOf } from './test-support.ts';
import { step } from './steps.ts';

const NOW = 1_000_000_000;

function pod(name: string, fields: Partial<PodSignal>): PodSignal {
  return { name, ready: true, startedAt: NOW - 3_600_000, readyChangedAt: NOW - 3_590_000, ...fields };
}

function valid(r: ScaleResult): Extract<ScaleResult, { valid: true }> {
  assert.ok(r.valid, `expected a decision, got ${r.message}`);
  return r;
}

test('replica calculator: the HPA edge cases', () => {
  const cases: { name: string; current: number; pods: PodSignal[]; target: number; expected: number }[] = [
    // Cases from kube-controller-manager's replica_calculator_test.go, with requests of 1 core.
    { name: 'scale up: 50% against 30%', current: 3, pods: podsAt(0.3, 0.5, 0.7), target: 0.3, expected: 5 },
    { name: 'scale down: 28% against 50%', current: 5, pods: podsAt(0.1, 0.3, 0.5, 0.25, 0.25), target: 0.5, expected: 3 },
    { name: 'tolerance band: 106% against 100% is no change', current: 3, pods: podsAt(1.01, 1.09, 1.08), target: 1, expected: 3 },
    // |1 − 1.1| is 0.1000…09 in floating point, just outside the band, in Kubernetes too.
    { name: 'tolerance edge: exactly 110% against 100% scales', current: 3, pods: podsAt(1.1, 1.1, 1.1), target: 1, expected: 4 },
    { name: 'tolerance edge: 109% against 100% does not', current: 3, pods: podsAt(1.09, 1.09, 1.09), target: 1, expected: 3 },
    { name: 'integer percent: 29% reads as 29, not 28', current: 10, pods: podsAt(...Array<number>(10).fill(0.29)), target: 0.5, expected: 6 },
    {
      name: 'unready pods ignored on scale-up: ready ones at 60% of 30% → 0% for the unready one → 40% → 4',
      current: 3,
      pods: [pod('a', { ready: false, cpuUtilization: 0.3, startedAt: NOW - 60_000, readyChangedAt: NOW - 60_000 }), ...podsAt(0.5, 0.7)],
      target: 0.3,
      expected: 4,
    },
    {
      name: 'unready pods left out on scale-down: only ready ones count (33% of 50% over 3)',
      current: 5,
      pods: [
        pod('a', { ready: false, cpuUtilization: 0.1, startedAt: NOW - 60_000, readyChangedAt: NOW - 60_000 }),
        pod('b', { ready: false, cpuUtilization: 0.3, startedAt: NOW - 60_000, readyChangedAt: NOW - 60_000 }),
        ...podsAt(0.5, 0.25, 0.25),
      ],
      target: 0.5,
      expected: 2,
    },
    {
      name: 'unready pods would flip the direction: 1 ready at 120% and 3 unready → no change',
      current: 4,
      pods: [...podsAt(0.6), ...[1, 2, 3].map((i) => pod(`u${i}`, { ready: false, pending: true }))],
      target: 0.5,
      expected: 4,
    },
    {
      name: 'missing metrics on scale-down count as 100%: 40% of 50% with one missing → 55% → within tolerance',
      current: 4,
      pods: podsAt(0.4, 0.4, 0.4, undefined),
      target: 0.5,
      expected: 4,
    },
    { name: 'the same without the missing pod scales down', current: 3, pods: podsAt(0.4, 0.4, 0.4), target: 0.5, expected: 3 },
    {
      name: 'missing metrics on scale-up count as 0%: 90% of 50% with one missing → 67% → ceil(1.34 × 4)',
      current: 4,
      pods: podsAt(0.9, 0.9, 0.9, undefined),
      target: 0.5,
      expected: 6,
    },
    {
      name: 'CPU initialization: a pod ready for 5 s (sample not a full window since) is left out',
      current: 3,
      pods: [pod('new', { cpuUtilization: 1.0, startedAt: NOW - 20_000, readyChangedAt: NOW - 5_000 }), ...podsAt(0.5, 0.5)],
      target: 0.5,
      expected: 3,
    },
    {
      name: 'CPU initialization: ready for 30 s inside the period counts',
      current: 3,
      pods: [pod('new', { cpuUtilization: 1.0, startedAt: NOW - 40_000, readyChangedAt: NOW - 30_000 }), ...podsAt(0.5, 0.5)],
      target: 0.5,
      expected: 4,
    },
    {
      name: 'past initialization: unready but ready once (changed long after start) still counts',
      current: 2,
      pods: [pod('flaky', { ready: false, cpuUtilization: 1.0, startedAt: NOW - 600_000, readyChangedAt: NOW - 60_000 }), ...podsAt(1.0)],
      target: 0.5,
      expected: 4,
    },
  ];
  for (const c of cases) {
    const p = cpuReplicas(c.current, c.pods, c.target, NOW);
    assert.ok(p.ok, c.name);
    assert.equal(p.replicas, c.expected, c.name);
  }
  assert.deepEqual(cpuReplicas(2, [pod('x', { ready: false, pending: true })], 0.5, NOW).ok, false, 'no ready pod with metrics: no proposal');
});

test('object and average-value metrics', () => {
  assert.equal(usageRatioReplicas(4, 1.05, 4), 4, 'within tolerance');
  assert.equal(usageRatioReplicas(4, 1.5, 3), 5, 'ceil(ratio × ready pods)');
  assert.equal(usageRatioReplicas(0, 2.3, 0), 3, 'from zero: ceil(ratio), no tolerance');
  assert.equal(averageValueReplicas(2, 20, 8), 3, '20 queued at 8 per replica');
  assert.equal(averageValueReplicas(2, 17, 8), 2, '17 is within tolerance of 2 × 8');
  assert.equal(averageValueReplicas(3, 0, 8), 0, 'nothing queued proposes zero (min/stabilization decide)');
});

test('scale-up rate: the default policies allow max(+100%, +4) per 15 s', () => {
  const up = defaultScaleUp();
  const h = emptyHistory();
  assert.equal(scaleUpLimit(3, h, up, NOW), 7, '3 + 4 beats 2 × 3');
  assert.equal(scaleUpLimit(10, h, up, NOW), 20, '2 × 10 beats 10 + 4');
  const justScaled: HpaHistory = { ...h, scaleUpEvents: [{ at: NOW - 10_000, value: 4 }] };
  assert.equal(scaleUpLimit(7, justScaled, up, NOW), 7, 'the 4 added 10 s ago used this period: the period started at 3 → max(6, 7)');
  assert.equal(scaleUpLimit(7, justScaled, up, NOW + 5_001), 14, 'after 15 s the period starts from 7');
});

test('normalization: stabilization keeps the highest recommendation for the window, then clamps', () => {
  const args = { min: 1, max: 30, up: defaultScaleUp(0), down: defaultScaleDown(300) };
  const proposal = (n: number) => step(n, 'CpuUtilization', `proposal ${n}`);
  let history = { ...emptyHistory(), recommendations: [{ at: NOW, value: 10 }] };
  const at = (t: number, current: number, desired: number) => {
    const r = normalizeWithBehaviors(history, { ...args, current, desired, proposal: proposal(desired) }, NOW + t);
    history = r.history;
    return r.step;
  };
  assert.deepEqual(at(15_000, 10, 4), step(10, 'ScaleDownStabilized', 'recent recommendations were higher than current one, applying the highest recent recommendation'));
  assert.equal(at(150_000, 10, 6).value, 10, 'still within 300 s of the 10');
  assert.equal(at(300_001, 10, 5).value, 6, 'the 10 expired; the highest left is 6');
  assert.equal(at(450_001, 6, 5).value, 5);
  assert.equal(history.recommendations.every((r) => r.at > NOW + 450_001 - 300_000 - 1), true, 'old recommendations are dropped');
  const clamped = normalizeWithBehaviors(emptyHistory(), { ...args, current: 20, desired: 50, proposal: proposal(50) }, NOW);
  assert.deepEqual(clamped.step, step(30, 'MaxReplicas', 'the desired replica count is more than the maximum replica count'));
  const floor = normalizeWithBehaviors(emptyHistory(), { ...args, min: 3, current: 5, desired: 1, proposal: proposal(1) }, NOW);
  assert.deepEqual(floor.step, step(3, 'MinReplicas', 'the desired replica count is less than the minimum replica count'));
});

test('hpa-cpu scenario: ramps at the allowed rate, holds for the stabilization window, then scales down', () => {
  const spec = baseSpec({ policy: 'hpa-cpu', maxReplicas: 20, targetCpuUtilization: 0.5 });
  const hpa = driver(hpaCpu, spec);
  const at = (t: number, replicas: number, cpu: number) => hpa.at(NOW + t, signalsOf({ ready: replicas }, {}, { pods: podsAt(...Array<number>(replicas).fill(cpu)) }));
  const expectScale = (r: ScaleResult, desiredReplicas: number, reason?: string) => {
    const v = valid(r);
    assert.equal(v.desiredReplicas, desiredReplicas, v.message);
    if (reason) assert.equal(v.reason, reason, v.message);
  };
  // 2 replicas at 250% of a 50% target want 10; the first step may add 4.
  expectScale(at(0, 2, 2.5), 6, 'ScaleUpLimit');
  assert.match(valid(at(0, 2, 2.5)).message, /^2→6: cpu utilization 250% \(target 50%\) over 2 ready → 10; the desired replica count is increasing faster/);
  // Called again within the 15 s sync period: the HPA has not looked again.
  expectScale(at(5_000, 6, 0.9), 6);
  expectScale(at(15_000, 6, 0.9), 11, 'CpuUtilization'); // 90% of 50% over 6 → ceil(10.8)
  expectScale(at(30_000, 11, 0.5), 11, 'WithinTolerance');
  // Load halves: 25% of 50% → 6, but 11 was recommended within the last 300 s.
  expectScale(at(45_000, 11, 0.25), 11, 'ScaleDownStabilized');
  expectScale(at(329_000, 11, 0.25), 11, 'ScaleDownStabilized'); // the 11 from t = 30 s is 299 s old
  expectScale(at(345_000, 11, 0.25), 6, 'CpuUtilization');
});

test('hpa-cpu: out-of-range counts are pulled back, and no metrics is no decision', () => {
  const spec = baseSpec({ policy: 'hpa-cpu', minReplicas: 2, maxReplicas: 5 });
  const high = valid(hpaCpu(signalsOf({ ready: 8 }, {}, { pods: podsAt(0.1) }), spec, undefined, NOW).result);
  assert.deepEqual([high.desiredReplicas, high.reason, high.message], [5, 'MaxReplicas', '8→5: Current number of replicas above Spec.MaxReplicas']);
  const low = valid(hpaCpu(signalsOf({ ready: 1 }, {}, { pods: podsAt(0.1) }), spec, undefined, NOW).result);
  assert.deepEqual([low.desiredReplicas, low.reason], [2, 'MinReplicas']);
  const none = hpaCpu(signalsOf({ ready: 3 }, {}), spec, undefined, NOW).result;
  assert.equal(none.valid, false);
  assert.match(none.message, /unable to compute the replica count: no CPU metrics/);
  // Without per-pod data the window average over ready replicas stands in.
  const avg = valid(hpaCpu(signalsOf({ ready: 2, current: 3 }, { cpuUtilization: 1.6 }), spec, undefined, NOW).result);
  assert.equal(avg.desiredReplicas, 4, '160% of 80% on 2 ready; the starting one counts as 0% → 106% → ceil(1.325 × 3)');
});

test('hpa-cpu: state from another decider or from JSON starts the HPA afresh, and time going backwards resyncs', () => {
  const spec = baseSpec({ policy: 'hpa-cpu' });
  const s = signalsOf({ ready: 4 }, {}, { pods: podsAt(0.8, 0.8, 0.8, 0.8) });
  const first = hpaCpu(s, spec, { decider: 'gascl', since: 0 }, NOW);
  assert.equal(first.next.decider, 'hpa-cpu');
  const back = hpaCpu(s, spec, first.next, NOW - 60_000);
  assert.equal(back.next.lastSyncAt, NOW - 60_000);
  assert.equal(HPA_SYNC_PERIOD_MS, 15_000);
});

test('hpa-service: the larger of the latency and concurrency proposals wins', () => {
  const spec = baseSpec({ policy: 'hpa-service' });
  const run = (w: Parameters<typeof signalsOf>[1], ready = 4) => valid(hpaService(signalsOf({ ready }, w), spec, undefined, NOW).result);
  const latency = run({ p95Ms: 500, concurrency: 32 });
  assert.deepEqual([latency.desiredReplicas, latency.reason], [8, 'LatencySlo'], latency.message); // 500/250 × 4
  const concurrency = run({ p95Ms: 100, concurrency: 56 });
  assert.deepEqual([concurrency.desiredReplicas, concurrency.reason], [7, 'Concurrency'], concurrency.message); // 56 / 8
  const calm = run({ p95Ms: 240, concurrency: 33 });
  assert.deepEqual([calm.desiredReplicas, calm.reason], [4, 'WithinTolerance'], calm.message);
});

test('hpa-service: a missing metric blocks scaling down but not up', () => {
  const spec = baseSpec({ policy: 'hpa-service' });
  const quiet = hpaService(signalsOf({ ready: 4 }, { concurrency: 1 }), spec, undefined, NOW).result;
  assert.equal(quiet.valid, false, 'no p95 (no requests) and concurrency says 1: the HPA does not scale down');
  assert.match(quiet.message, /no p95 latency .*not scaling down on partial metrics/);
  const busy = valid(hpaService(signalsOf({ ready: 4 }, { concurrency: 64 }), spec, undefined, NOW).result);
  assert.equal(busy.desiredReplicas, 8);
});

test('hpa-service from zero (minReplicas 0): ceil(concurrency / target), no tolerance', () => {
  const spec = baseSpec({ policy: 'hpa-service', minReplicas: 0 });
  const r = valid(hpaService(signalsOf({ ready: 0, current: 0 }, { concurrency: 3 }), spec, undefined, NOW).result);
  assert.deepEqual([r.desiredReplicas, r.reason], [1, 'Concurrency']);
});

test('reconcile: the first sync remembers the current count, so a restart does not scale down at once', () => {
  const spec = baseSpec({ policy: 'hpa-cpu' });
  const fresh = hpaCpu(signalsOf({ ready: 6 }, {}, { pods: podsAt(0.1, 0.1, 0.1, 0.1, 0.1, 0.1) }), spec, undefined, NOW);
  assert.deepEqual([valid(fresh.result).desiredReplicas, valid(fresh.result).reason], [6, 'ScaleDownStabilized']);
  const direct = reconcileHpa(emptyHistory(), 6, { min: 1, max: 10 }, spec, () => ({ ok: true, replicas: 1, reason: 'CpuUtilization', detail: 'low' }), NOW);
  assert.equal(valid(direct.result).desiredReplicas, 1, 'with no history there is nothing to stabilize against');
  assert.deepEqual(direct.history.scaleDownEvents, [{ at: NOW, value: 5 }], 'the rescale is remembered for the rate policies');
});
