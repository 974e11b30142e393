import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../util/clock.ts';
import { latencyBin } from './latency-histogram.ts';
import { REMOTE_GAUGE_STALE_MS, SignalHub } from './hub.ts';
import { SignalReporter } from './signal-reporter.ts';
import { parseSignalReport } from './signal-report.ts';

describe('SignalReporter', () => {
  it('reports what finished since the last report and the gauges now, then starts over', () => {
    const r = new SignalReporter('gw-1');
    let queued = 3;
    r.countGatewayQueue(() => queued);
    r.requestStarted('svc', 'svc-00001');
    r.requestStarted('svc', 'svc-00001');
    r.requestFinished('svc', 'svc-00001', 'http://a', 12, 200, 4);
    r.requestAnswered('svc', 'svc-00001', 200, 15);
    r.heldChanged('cold', 2);
    const first = r.take();
    assert.equal(first.gateway, 'gw-1');
    assert.deepEqual(first.revisions, [{ service: 'svc', revision: 'svc-00001', requests: 1, errors: 0, latency: [[latencyBin(12), 1]], inFlight: 1, replicaQueue: 4 }]);
    assert.deepEqual(first.sli, [{ service: 'svc', revision: 'svc-00001', requests: 1, serverErrors: 0, answered: [[latencyBin(15), 1]] }]);
    assert.deepEqual(first.services.sort((a, b) => a.service.localeCompare(b.service)), [{ service: 'cold', waiting: 2 + 3 }, { service: 'svc', waiting: 3 }]);

    r.requestFinished('svc', 'svc-00001', 'http://a', 40, 503, -1);
    r.requestAnswered('svc', 'svc-00001', 503, 41);
    queued = 0;
    const second = r.take();
    assert.deepEqual(second.revisions, [{ service: 'svc', revision: 'svc-00001', requests: 1, errors: 1, latency: [[latencyBin(40), 1]], inFlight: 0, replicaQueue: 0 }], 'only the request since the first report');
    assert.deepEqual(second.sli, [{ service: 'svc', revision: 'svc-00001', requests: 1, serverErrors: 1, answered: [] }]);
    r.heldChanged('cold', 0);
    assert.deepEqual(r.take(), { gateway: 'gw-1', revisions: [], sli: [], services: [] }, 'an idle revision is dropped after it reported');
  });
});

describe('SignalReporter waits', () => {
  it('sends a sparse histogram of the answered requests’ waits, only when there were some', () => {
    const r = new SignalReporter('gw-1');
    for (let i = 0; i < 4; i++) r.requestStarted('svc', 'svc-00001');
    r.requestFinished('svc', 'svc-00001', 'http://a', 12, 200, -1, 3);
    r.requestFinished('svc', 'svc-00001', 'http://a', 14, 200, -1, 3.1);
    r.requestFinished('svc', 'svc-00001', 'http://a', 900, 200, -1, 850);
    r.requestFinished('svc', 'svc-00001', 'http://b', 5, 503, -1, -1);
    const first = r.take();
    assert.deepEqual(first.revisions[0]!.wait, [
      [latencyBin(3), 2],
      [latencyBin(850), 1],
    ]);
    r.requestStarted('svc', 'svc-00001');
    r.requestFinished('svc', 'svc-00001', 'http://b', 5, 0, -1);
    assert.equal(r.take().revisions[0]!.wait, undefined, 'no answered request since the last report: no wait field');
  });
});

describe('SignalReporter refusals', () => {
  it('counts the requests refused per service since the last report, then starts over', () => {
    const r = new SignalReporter('gw-1');
    for (let i = 0; i < 3; i++) r.requestRefused('svc');
    r.requestRefused('cold');
    const first = r.take();
    assert.deepEqual(first.services.sort((a, b) => a.service.localeCompare(b.service)), [
      { service: 'cold', waiting: 0, refused: 1 },
      { service: 'svc', waiting: 0, refused: 3 },
    ]);
    r.requestRefused('svc');
    assert.deepEqual(r.take().services, [{ service: 'svc', waiting: 0, refused: 1 }], 'only the one since the first report');
    assert.deepEqual(r.take().services, [], 'none since: the service is not named');
  });
});

describe('SignalHub.ingest', () => {
  it('feeds a standalone gateway’s waits to the windows; a report without them adds none', () => {
    const clock = new ManualClock(1_000_000);
    const hub = new SignalHub({ clock });
    hub.track('svc', ['svc-00001'], { stableWindowMs: 10_000, panicWindowMs: 6_000 });
    const reporter = new SignalReporter('gw-1');
    for (let i = 0; i < 20; i++) {
      reporter.requestStarted('svc', 'svc-00001');
      reporter.requestFinished('svc', 'svc-00001', 'http://a', 700, 200, -1, i < 18 ? 10 : 600);
    }
    hub.ingest({ gateway: 'old', revisions: [{ service: 'svc', revision: 'svc-00001', requests: 5, errors: 0, latency: [[latencyBin(20), 5]], inFlight: 0, replicaQueue: 0 }], services: [] });
    assert.equal(hub.recorder('svc-00001')!.windows(clock.now()).panic.waitP95Ms, undefined, 'an older gateway’s report has no waits');
    hub.ingest(reporter.take());
    const w = hub.recorder('svc-00001')!.windows(clock.now()).panic;
    // 25 requests counted, 20 waits: the p95 (rank 19) is one of the two 600 ms waits.
    assert.ok(Math.abs(w.waitP95Ms! - 600) <= 600 * 0.045, `wait p95 ${w.waitP95Ms}`);
  });


  it('feeds a standalone gateway’s refusals to the revisions serving the service; a report without them adds none', () => {
    const clock = new ManualClock(1_000_000);
    const hub = new SignalHub({ clock });
    hub.track('svc', ['svc-00001'], { stableWindowMs: 10_000, panicWindowMs: 6_000 });
    hub.ingest({ gateway: 'old', revisions: [], services: [{ service: 'svc', waiting: 2 }] });
    clock.advance(1_000);
    assert.equal(hub.recorder('svc-00001')!.windows(clock.now()).stable.refusedRate, undefined, 'an older gateway’s report has no refusals');
    const reporter = new SignalReporter('gw-1');
    for (let i = 0; i < 4; i++) reporter.requestRefused('svc');
    hub.ingest(parseSignalReport(JSON.stringify(reporter.take())));
    clock.advance(1_000);
    // 4 refusals, 2 s after the hub began observing the revision.
    assert.equal(hub.recorder('svc-00001')!.windows(clock.now()).stable.refusedRate, 4 / 2);
  });

  it('adds a standalone gateway’s requests to the windows and its gauges until it stops reporting', () => {
    const clock = new ManualClock(1_000_000);
    const hub = new SignalHub({ clock });
    hub.track('svc', ['svc-00001'], { stableWindowMs: 10_000, panicWindowMs: 6_000 });
    hub.ingest({ gateway: 'gw-1', revisions: [{ service: 'svc', revision: 'svc-00001', requests: 30, errors: 3, latency: [[latencyBin(20), 30]], inFlight: 4, replicaQueue: 2 }], services: [{ service: 'svc', waiting: 1 }] });
    clock.advance(1_000);
    hub.sample();
    const w = hub.recorder('svc-00001')!.windows(clock.now()).panic;
    assert.equal(w.errorRate, 0.1);
    assert.ok(w.p95Ms! > 19 && w.p95Ms! < 21.5, `p95 ${w.p95Ms}`);
    assert.ok(w.requestRate! > 0);
    assert.equal(w.concurrency, 5, '4 at replicas + 1 waiting at that gateway');
    assert.equal(w.queueDepth, 3, '2 at replicas + 1 at the gateway');

    clock.advance(REMOTE_GAUGE_STALE_MS + 1);
    hub.sample();
    clock.advance(6_000);
    hub.sample();
    const later = hub.recorder('svc-00001')!.windows(clock.now()).panic;
    assert.equal(later.concurrency, 0, 'a gateway that stopped reporting no longer counts');
  });
});
