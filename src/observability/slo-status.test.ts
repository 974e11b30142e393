import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { History, pointView, quantiles, sparse, windowTotals, type RevisionPoint, type ServicePoint } from './history.ts';
import { RequestTally } from './request-tally.ts';
import { sloStatus } from './slo-status.ts';

/** A second of `requests` requests on revision v1, `slow` of them at 500 ms and the rest at 20 ms, `errors` of them 503. */
function second(t: number, requests: number, slow = 0, errors = 0): ServicePoint {
  const tally = new RequestTally();
  for (let i = 0; i < requests; i++) tally.requestFinished('svc', 'v1', 'e', i < slow ? 500 : 20, i >= requests - errors ? 503 : 200, -1);
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
    for (const status of [200, 404, 429, 503, 0]) tally.requestFinished('svc', 'v1', 'e', 10, status, -1);
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
});

describe('History', () => {
  it('keeps at most capacity points, oldest dropped first, and reads a range', () => {
    const h = new History({ capacity: 3 });
    for (let t = 1; t <= 5; t++) h.record('ns/a', second(t * 1000, 1));
    assert.deepEqual(h.points('ns/a').map((p) => p.t), [3000, 4000, 5000]);
    assert.deepEqual(h.points('ns/a', 3000).map((p) => p.t), [4000, 5000]);
    h.retain(new Set());
    assert.deepEqual(h.services(), []);
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
