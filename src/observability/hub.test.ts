import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../util/clock.ts';
import { REMOTE_GAUGE_STALE_MS, SignalHub } from './hub.ts';

describe('SignalHub', () => {
  it('turns gateway reports into a revision’s windows: rate, latency, concurrency, queue', () => {
    const clock = new ManualClock(1_000_000);
    const hub = new SignalHub({ clock });
    hub.track('svc', ['svc-00001'], { stableWindowMs: 10_000, panicWindowMs: 6_000 });
    hub.requestStarted('svc', 'svc-00001');
    hub.requestStarted('svc', 'svc-00001');
    clock.advance(1_000);
    hub.requestFinished('svc', 'svc-00001', 'http://a', 120, 200, 3);
    assert.equal(hub.inFlight('svc-00001'), 1);
    clock.advance(1_000);
    hub.requestFinished('svc', 'svc-00001', 'http://a', 80, 503, 0);
    clock.advance(1_000);

    const w = hub.recorder('svc-00001')!.windows(clock.now()).panic;
    assert.equal(w.errorRate, 0.5);
    assert.ok(w.p95Ms! > 100 && w.p95Ms! < 130, `p95 ${w.p95Ms}`);
    // 2 in flight for 1 s, 1 for 1 s, 0 for 1 s.
    assert.equal(w.concurrency, 1);
    // The queue is first sampled at the first answer: the replica said 3 waiting for 1 s, then nothing once none is in flight.
    assert.equal(w.queueDepth, 1.5);
    assert.equal(hub.recorder('svc-00001')!.lastRequestAt, 1_002_000);
  });

  it('records the wait of each answered request, and none for an attempt without one', () => {
    const clock = new ManualClock(1_000_000);
    const hub = new SignalHub({ clock });
    hub.track('svc', ['svc-00001'], { stableWindowMs: 10_000, panicWindowMs: 6_000 });
    for (let i = 0; i < 3; i++) hub.requestStarted('svc', 'svc-00001');
    hub.requestFinished('svc', 'svc-00001', 'http://a', 120, 200, 0);
    hub.requestFinished('svc', 'svc-00001', 'http://a', 80, 503, 0, -1);
    assert.equal(hub.recorder('svc-00001')!.windows(clock.now()).panic.waitP95Ms, undefined, 'no wait given: none recorded');
    hub.requestFinished('svc', 'svc-00001', 'http://a', 300, 200, 0, 250);
    const w = hub.recorder('svc-00001')!.windows(clock.now()).panic;
    assert.ok(Math.abs(w.waitP95Ms! - 250) <= 250 * 0.045, `wait p95 ${w.waitP95Ms}`);
  });

  it('counts held requests and the gateway wait queue as waiting work of the tracked revision', () => {
    const clock = new ManualClock(0);
    const hub = new SignalHub({ clock });
    let waiting = 0;
    hub.countGatewayQueue(() => waiting);
    hub.track('svc', ['svc-00002']);
    hub.heldChanged('svc', 4);
    waiting = 2;
    hub.sample();
    clock.advance(1_000);
    const w = hub.recorder('svc-00002')!.windows(clock.now()).panic;
    assert.equal(w.queueDepth, 6);
    assert.equal(w.concurrency, 6);
    assert.equal(hub.held('svc'), 4);
  });

  it('records a refused request on each revision serving its service, and on no other', () => {
    const clock = new ManualClock(1_000_000);
    const hub = new SignalHub({ clock });
    hub.track('svc', ['svc-00001', 'svc-00002'], { stableWindowMs: 10_000, panicWindowMs: 2_000 });
    hub.track('other', ['other-00001'], { stableWindowMs: 10_000, panicWindowMs: 2_000 });
    hub.requestStarted('untracked', 'untracked-00001');
    for (let i = 0; i < 3; i++) hub.requestRefused('svc');
    clock.advance(2_000);
    for (const revision of ['svc-00001', 'svc-00002']) {
      const w = hub.recorder(revision)!.windows(clock.now());
      assert.equal(w.stable.refusedRate, 3 / 2, `${revision}: 3 refusals over the 2 s observed`);
      assert.equal(w.stable.requestRate, 0, 'none completed');
    }
    assert.equal(hub.recorder('other-00001')!.windows(clock.now()).stable.refusedRate, undefined);
    hub.requestRefused('untracked');
    assert.equal(hub.recorder('untracked-00001')!.windows(clock.now()).stable.refusedRate, undefined, 'a revision the loop does not track is not serving');
  });

  it('keeps refusals of a service no revision is tracked for until the loop tracks one, as held requests wait for it', () => {
    const clock = new ManualClock(1_000_000);
    const hub = new SignalHub({ clock });
    hub.requestRefused('cold');
    hub.requestRefused('cold');
    clock.advance(500);
    hub.requestRefused('cold');
    hub.requestRefused('gone');
    clock.advance(1_500);
    hub.retainServices(new Set(['cold']));
    hub.track('cold', ['cold-00001'], { stableWindowMs: 10_000, panicWindowMs: 2_000 });
    hub.track('gone', ['gone-00001'], { stableWindowMs: 10_000, panicWindowMs: 2_000 });
    hub.track('cold', ['cold-00001'], { stableWindowMs: 10_000, panicWindowMs: 2_000 });
    clock.advance(1_000);
    const w = hub.recorder('cold-00001')!.windows(clock.now());
    assert.equal(w.stable.refusedRate, 3 / 3, 'the 3 refusals, once, at when they happened: 3 s ago');
    assert.equal(w.panic.refusedRate, undefined, 'the panic window (the last 2 s) holds none of them');
    assert.equal(hub.recorder('gone-00001')!.windows(clock.now()).stable.refusedRate, undefined, 'a deleted service’s refusals are dropped');
  });

  it('counts the gateways it hears from: its own process, and standalone ones until they stop reporting', () => {
    const clock = new ManualClock(1_000_000);
    const hub = new SignalHub({ clock });
    assert.equal(hub.gateways(), 0);
    hub.countGatewayQueue(() => 0);
    assert.equal(hub.gateways(), 1);
    for (const gateway of ['a', 'b']) hub.ingest({ gateway, revisions: [], services: [] });
    assert.equal(hub.gateways(), 3);
    clock.advance(REMOTE_GAUGE_STALE_MS + 1);
    assert.equal(hub.gateways(), 1, 'standalone gateways that stopped reporting no longer count');
  });

  it('keeps a recorder while its windows stay the same and forgets revisions no longer tracked', () => {
    const clock = new ManualClock(0);
    const hub = new SignalHub({ clock });
    hub.track('svc', ['svc-00001']);
    const first = hub.recorder('svc-00001');
    hub.track('svc', ['svc-00001']);
    assert.equal(hub.recorder('svc-00001'), first);
    hub.track('svc', ['svc-00001'], { stableWindowMs: 10_000 });
    assert.notEqual(hub.recorder('svc-00001'), first);
    hub.requestStarted('svc', 'svc-00009');
    hub.forget('svc', new Set(['svc-00001']));
    assert.equal(hub.recorder('svc-00009'), undefined);
    assert.ok(hub.recorder('svc-00001'));
  });
});
