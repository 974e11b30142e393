import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { History, nestedWindowTotals, pointView, quantiles, windowTotals, type RevisionPoint, type ServicePoint } from './history.ts';
import { sparse } from './latency-histogram.ts';
import { RequestTally } from './request-tally.ts';
import { sloStatus } from './slo-status.ts';

/** A second of `requests` requests on revision v1, `slow` of them at 500 ms and the rest at 20 ms, `errors` of them 503. */
function second(t: number, requests: number, slow = 0, errors = 0): ServicePoint {
  const tally = new RequestTally();
  for (let i = 0; i < requests; i++) tally.requestAnswered('svc', 'v1', i >= requests - errors ? 503 : 200, i < slow ? 500 : 20);
  const [r] = tally.take();
  const revisions: Record<string, RevisionPoint> = {};
  if (r) {
    revisions.v1 = {
      requests: r.requests, rps: r.requests, errors: r.serverErrors, ready: 1, traffic: 100,
      answered: sparse(r.answered), minMs: r.minMs, maxMs: r.maxMs, ...quantiles(r.answered, r.requests - r.serverErrors, r.minMs, r.maxMs),
    };
  }
  return { t, ready: 1, desired: 1, queueDepth: 0, held: 0, coldStarts: [], revisions };
}

describe('RequestTally', () => {
  it('counts as the SLIs count: 5xx and no answer are server errors, 429 is not answered, 404 is', () => {
    const tally = new RequestTally();
    for (const status of [200, 404, 429, 503, 0]) tally.requestAnswered('svc', 'v1', status, 10);
    const [t] = tally.take();
    assert.equal(t!.requests, 5);
    assert.equal(t!.serverErrors, 2);
    assert.equal(t!.answered.reduce((a, b) => a + b, 0), 2);
    assert.deepEqual(tally.take(), [], 'take starts afresh');
  });

  it('adds a standalone gateway report: its SLI counts, or its errors and latencies from an older gateway', () => {
    const tally = new RequestTally();
    const base = { service: 'svc', inFlight: 0, replicaQueue: 0 };
    tally.ingest({
      gateway: 'g',
      services: [],
      revisions: [
        { ...base, revision: 'v1', requests: 10, errors: 3, latency: [[40, 10]], serverErrors: 1, answered: [[40, 7]] },
        { ...base, revision: 'v2', requests: 4, errors: 1, latency: [[50, 4]] },
      ],
    });
    const [v1, v2] = tally.take();
    assert.deepEqual([v1!.requests, v1!.serverErrors, v1!.answered[40]], [10, 1, 7]);
    assert.deepEqual([v2!.requests, v2!.serverErrors, v2!.answered[50]], [4, 1, 4]);
    assert.ok(v1!.minMs > 0 && v1!.minMs === v1!.maxMs, 'clamped to the bin read');
  });

  it('reads a report’s per-request sli rather than its attempts', () => {
    const tally = new RequestTally();
    tally.ingest({
      gateway: 'g',
      services: [],
      // Three attempts, two of them failed and retried; two requests, one a 503 the gateway made.
      revisions: [{ service: 'svc', revision: 'v1', requests: 3, errors: 2, latency: [[40, 3]], inFlight: 0, replicaQueue: 0 }],
      sli: [{ service: 'svc', revision: 'v1', requests: 2, serverErrors: 1, answered: [[41, 1]] }],
    });
    const [v1] = tally.take();
    assert.deepEqual([v1!.requests, v1!.serverErrors, v1!.answered[41], v1!.answered[40]], [2, 1, 1, 0]);
  });
});

describe('History', () => {
  it('keeps recent points as sampled, older ones as one rollup per span, and drops what is older than its span', () => {
    const h = new History({ fullResolutionMs: 5_000, rollupMs: 10_000, spanMs: 30_000 });
    for (let t = 1; t <= 60; t++) h.record('ns/a', second(t * 1000, 10, 1));
    const points = h.points('ns/a');
    // Rollups end at their last second: (30, 40], (40, 50] and (50, 55] so far; (20, 30] is past the span.
    assert.deepEqual(points.map((p) => p.t), [40_000, 50_000, 55_000, 56_000, 57_000, 58_000, 59_000, 60_000]);
    assert.deepEqual(points.map((p) => p.seconds ?? 1), [10, 10, 5, 1, 1, 1, 1, 1]);
    const rollup = points[0]!.revisions.v1!;
    assert.deepEqual([rollup.requests, rollup.rps, rollup.answered.reduce((n, [, c]) => n + c, 0)], [100, 10, 100]);
    assert.ok(rollup.p95Ms! > 450 && rollup.p95Ms! <= 500, `one slow in ten: the minute's p95 is slow, got ${rollup.p95Ms}`);
    assert.ok(rollup.p50Ms! < 25, `p50 ${rollup.p50Ms}`);
    assert.equal(windowTotals(points, 30_000, 60_000).requests, 300, 'nothing kept is lost or counted twice');
    assert.deepEqual(h.points('ns/a', 55_000).map((p) => p.t), [56_000, 57_000, 58_000, 59_000, 60_000]);
    h.retain(new Set());
    assert.deepEqual(h.points('ns/a'), [], 'a service no longer known is forgotten');
  });

  it('a rollup keeps the gauges\' maximum, every cold start and its scale changes as one mark', () => {
    const h = new History({ fullResolutionMs: 1_000, rollupMs: 60_000, spanMs: 3_600_000 });
    const points = [1, 2, 3].map((s) => second(s * 1000, 1));
    Object.assign(points[0]!, { ready: 1, desired: 3, queueDepth: 7, scale: { from: 1, to: 3, reason: 'Panic', message: 'up' } });
    Object.assign(points[1]!, { ready: 3, desired: 2, coldStarts: [900, 950], scale: { from: 3, to: 2, reason: 'ScaleDown', message: 'down' } });
    for (const p of points) h.record('ns/a', p);
    h.record('ns/a', second(10_000, 1));
    const [rollup] = h.points('ns/a');
    assert.equal(rollup!.seconds, 3);
    assert.deepEqual([rollup!.ready, rollup!.desired, rollup!.queueDepth, rollup!.coldStarts], [3, 3, 7, [900, 950]]);
    assert.deepEqual(rollup!.scale, { from: 1, to: 2, reason: 'ScaleDown', message: 'down', changes: 2 });
    assert.equal(points[0]!.scale!.to, 3, 'the sampled point is copied, not changed');
  });

  it('stays bounded however long it runs', () => {
    const h = new History();
    const start = 1_700_000_000_000;
    for (let s = 1; s <= 2 * 3600; s++) h.record('ns/a', second(start + s * 1000, 2));
    const points = h.points('ns/a');
    assert.ok(points.length <= 300 + 61, `${points.length} points`);
    assert.equal(points.filter((p) => (p.seconds ?? 1) === 1).length, 300, 'five minutes as sampled');
    const hour = windowTotals(points, start + 3600_000, start + 7200_000);
    assert.ok(Math.abs(hour.requests - 7200) <= 120, `the last hour, to the minute: ${hour.requests} requests`);
  });

  it('keeps at most maxServices histories', () => {
    const h = new History({ maxServices: 1 });
    assert.equal(h.record('ns/a', second(1000, 1)), true);
    assert.equal(h.record('ns/b', second(1000, 1)), false);
    assert.equal(h.refuses('ns/b'), true);
    assert.deepEqual(h.points('ns/b'), []);
    h.retain(new Set(['ns/b']));
    assert.equal(h.record('ns/b', second(2000, 1)), true, 'room again once a service is forgotten');
    assert.equal(h.refuses('ns/a'), true);
  });

  it('serves points without their histograms', () => {
    const view = pointView(second(1000, 4, 1));
    assert.equal('answered' in view.revisions.v1!, false);
    assert.equal(view.revisions.v1!.requests, 4);
  });

  it('merges histograms over a window for the p95', () => {
    const points = [second(1000, 90), second(2000, 10, 10)];
    const w = windowTotals(points, 0, 2000);
    assert.equal(w.requests, 100);
    assert.ok(w.p95Ms! > 450 && w.p95Ms! <= 500, `p95 ${w.p95Ms}`);
    assert.equal(windowTotals(points, 1000, 2000).requests, 10, 'from is exclusive');
    assert.equal(windowTotals(points, 0, 1000).requests, 90, 'to is inclusive');
  });

  it('reads nested windows in one walk, each as windowTotals reads it alone', () => {
    const points = Array.from({ length: 20 }, (_, i) => second((i + 1) * 1000, 10 + i, i % 3, i % 5 === 0 ? 1 : 0));
    const froms = [15_000, 8_000, -Infinity];
    const nested = nestedWindowTotals(points, 18_000, froms);
    froms.forEach((from, i) => assert.deepEqual(nested[i], windowTotals(points, from, 18_000)));
    assert.deepEqual(nested.map((w) => w.seconds), [3, 10, 18]);
    assert.throws(() => nestedWindowTotals(points, 18_000, [8_000, 15_000]), RangeError);
  });
});

describe('sloStatus', () => {
  const slo = { latencyP95Ms: 250, errorRate: 0.01 };
  const now = 3_600_000;

  it('says NoData without requests in the last 5 minutes', () => {
    const s = sloStatus([second(now - 10 * 60_000, 10)], slo, now);
    assert.equal(s.state, 'NoData');
    assert.equal(s.latency.budgetLeft, 1, 'the old requests still count for the budget');
  });

  it('is Met when both SLIs spend slower than their budgets', () => {
    const points = Array.from({ length: 60 }, (_, i) => second(now - 59_000 + i * 1000, 100, 2));
    const s = sloStatus(points, slo, now);
    assert.equal(s.state, 'Met', s.message);
    assert.ok(Math.abs(s.latency.burn5m! - 0.4) < 1e-9, `2% slow of a 5% budget burns 0.4×, got ${s.latency.burn5m}`);
    assert.ok(Math.abs(s.latency.budgetLeft! - 0.6) < 1e-9);
    assert.equal(s.availability.errorRate, 0);
    assert.ok(s.latency.p95Ms! < 250);
    assert.equal(s.rps, 100);
  });

  it('is Breaching when the error rate burns the availability budget too fast', () => {
    const points = [second(now - 1000, 100, 0, 2), second(now, 100, 0, 2)];
    const s = sloStatus(points, slo, now);
    assert.equal(s.state, 'Breaching');
    assert.ok(Math.abs(s.availability.burn5m! - 2) < 1e-9, `2% errors of a 1% budget burns 2×, got ${s.availability.burn5m}`);
    assert.ok(Math.abs(s.availability.budgetLeft! - -1) < 1e-9, 'overspent: below zero');
    assert.match(s.message, /error rate 2% against 1%/);
    assert.equal(s.latency.burn5m! > 0, true, 'a 5xx is not answered: it spends the latency budget too');
  });

  it('tells the short window from the long one', () => {
    const old = Array.from({ length: 10 }, (_, i) => second(now - 30 * 60_000 + i * 1000, 100, 50));
    const recent = [second(now, 100)];
    const s = sloStatus([...old, ...recent], slo, now);
    assert.equal(s.latency.burn5m, 0);
    assert.ok(s.latency.burn1h! > 9, `half slow an hour ago still burns the 1 h window: ${s.latency.burn1h}`);
    assert.equal(s.state, 'Met');
  });
});
