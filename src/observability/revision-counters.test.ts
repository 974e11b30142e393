import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { latencyBin } from './latency-histogram.ts';
import { RevisionCounters } from './revision-counters.ts';
import { SignalReporter } from './signal-reporter.ts';

const total = (bins: Uint32Array) => bins.reduce((a, b) => a + b, 0);

describe('RevisionCounters: the SLI counts the guard after promotion reads', () => {
  it('counts as the SLIs count: 5xx and no answer are server errors; 429 is neither an error nor answered; other 4xx are answered', () => {
    const c = new RevisionCounters();
    for (const status of [200, 404, 429, 500, 503, 0]) c.requestAnswered('svc', 'v1', status, 10);
    const s = c.sliSnapshot('v1');
    assert.equal(s.requests, 6);
    assert.equal(s.serverErrors, 3);
    assert.equal(total(s.answered), 2);
  });

  it('keeps the SLI counts (one per request) apart from the attempts analysis counts', () => {
    const c = new RevisionCounters();
    // One request: a 503 attempt, retried, then a 200 attempt; the caller saw the 200.
    c.requestFinished('svc', 'v1', 'http://a', 5, 503);
    c.requestFinished('svc', 'v1', 'http://b', 12, 200);
    c.requestAnswered('svc', 'v1', 200, 20);
    assert.deepEqual([c.snapshot('v1').requests, c.snapshot('v1').errors], [2, 1], 'analysis sees both attempts');
    const s = c.sliSnapshot('v1');
    assert.deepEqual([s.requests, s.serverErrors, total(s.answered)], [1, 0, 1], 'the SLIs see one good request');
  });

  it('counts a standalone gateway’s report the same way as its own requests', () => {
    const direct = new RevisionCounters();
    const reported = new RevisionCounters();
    const reporter = new SignalReporter('gw');
    for (const [status, ms] of [[200, 5], [429, 1], [503, 40], [200, 900]] as const) {
      direct.requestAnswered('svc', 'v1', status, ms);
      reporter.requestAnswered('svc', 'v1', status, ms);
      // An attempt the SLIs do not count (retried): only analysis sees it, on both sides.
      direct.requestFinished('svc', 'v1', 'http://a', ms, 502);
      reporter.requestStarted('svc', 'v1');
      reporter.requestFinished('svc', 'v1', 'http://a', ms, 502, -1);
    }
    reported.ingest(reporter.take());
    assert.deepEqual(reported.sliSnapshot('v1'), direct.sliSnapshot('v1'));
    assert.deepEqual(reported.snapshot('v1'), direct.snapshot('v1'));
  });

  it('reads a gateway’s report from before per-request outcomes by its attempts’ SLI counts', () => {
    const c = new RevisionCounters();
    c.ingest({ gateway: 'old', revisions: [{ service: 'svc', revision: 'v1', requests: 10, errors: 3, latency: [[latencyBin(5), 10]], serverErrors: 2, answered: [[latencyBin(5), 7]], inFlight: 0, replicaQueue: 0 }], services: [] });
    const s = c.sliSnapshot('v1');
    assert.deepEqual([s.requests, s.serverErrors, total(s.answered)], [10, 2, 7]);
  });

  it('reads an older gateway’s report (no SLI fields) as an upper bound: its errors as server errors', () => {
    const c = new RevisionCounters();
    c.ingest({ gateway: 'old', revisions: [{ service: 'svc', revision: 'v1', requests: 10, errors: 3, latency: [[latencyBin(5), 10]], inFlight: 0, replicaQueue: 0 }], services: [] });
    const s = c.sliSnapshot('v1');
    assert.deepEqual([s.requests, s.serverErrors, total(s.answered)], [10, 3, 10]);
  });

  it('forgets the SLI counts of revisions it no longer retains', () => {
    const c = new RevisionCounters();
    c.requestAnswered('svc', 'v1', 200, 10);
    c.requestAnswered('svc', 'v2', 200, 10);
    c.retain(new Set(['v2']));
    assert.equal(c.sliSnapshot('v1').requests, 0);
    assert.equal(c.sliSnapshot('v2').requests, 1);
  });
});
