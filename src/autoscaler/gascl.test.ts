import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeciderState, ScaleResult, Signals } from './types.ts';
import { GASCL_NODE_SCALE_DOWN_DELAY_MS, gascl } from './gascl.ts';
import { BURST_FIRST_HOLD_MS } from './bursts.ts';
import { baseSpec, driver, signalsOf } from './test-support.ts';

const NOW = 3_000_000_000;
const s = (seconds: number) => NOW + seconds * 1000;

function expectScale(r: ScaleResult, want: { desiredReplicas: number; reason?: string; panic?: boolean; message?: string; desiredNodes?: number }): void {
  assert.ok(r.valid, r.message);
  assert.equal(r.desiredReplicas, want.desiredReplicas, r.message);
  if (want.reason !== undefined) assert.equal(r.reason, want.reason, r.message);
  if (want.panic !== undefined) assert.equal(r.panic, want.panic, r.message);
  if (want.message !== undefined) assert.equal(r.message, want.message);
  if ('desiredNodes' in want) assert.equal(r.desiredNodes, want.desiredNodes, r.message);
}

/** Serving `concurrency` with nothing waiting, `ready` of `current` replicas ready. */
function load(ready: number, concurrency: number, extra: Partial<Signals> = {}, current = ready): Signals {
  return signalsOf({ ready, current }, { concurrency, queueDepth: 0, requestRate: concurrency * 10, p50Ms: 100, p95Ms: 150 }, extra);
}

test('concurrency: the panic window says how many replicas the in-flight requests need', () => {
  expectScale(gascl(load(3, 40), baseSpec(), undefined, NOW).result, {
    desiredReplicas: 5,
    reason: 'Concurrency',
    panic: false,
    message: '3→5: concurrency 40 needs 5 at 8 per replica',
  });
  // Waiting requests are not counted twice: 40 in flight of which 24 wait.
  const withQueue = signalsOf({ ready: 2 }, { concurrency: 40, queueDepth: 24, requestRate: 400, p50Ms: 40, p95Ms: 60 });
  expectScale(gascl(withQueue, baseSpec(), undefined, NOW).result, { desiredReplicas: 2, reason: 'Concurrency', message: '2→2: concurrency 16 needs 2 at 8 per replica' });
});

test('panic: enter at 2× ready capacity, never scale down inside, leave after a calm stable window', () => {
  const g = driver(gascl, baseSpec());
  expectScale(g.at(s(0), load(2, 48)), { desiredReplicas: 6, reason: 'Concurrency', panic: true, message: '2→6: concurrency 48 needs 6 at 8 per replica (panic)' });
  expectScale(g.at(s(2), load(2, 48, {}, 6)), { desiredReplicas: 6, panic: true });
  // The burst is over, but panic holds what it asked for.
  expectScale(g.at(s(10), load(6, 16)), { desiredReplicas: 6, reason: 'Panic', panic: true, message: '6→6: holding 6 in panic (entered 10 s ago) (panic)' });
  expectScale(g.at(s(61), load(6, 16)), { desiredReplicas: 6, reason: 'Panic', panic: true }); // 59 s since the last panic demand
  // A stable window without panic demand: out of panic, into scale-down stabilization.
  expectScale(g.at(s(62), load(6, 16)), { desiredReplicas: 6, reason: 'ScaleDownStabilized', panic: false });
  expectScale(g.at(s(301), load(6, 16)), { desiredReplicas: 6, reason: 'ScaleDownStabilized' }); // the 6 from 2 s is 299 s old
  // Then down at a bounded rate: at most half per step, steps 30 s apart.
  expectScale(g.at(s(302), load(6, 16)), { desiredReplicas: 3, reason: 'ScaleDownLimit', message: '6→3: removing at most half of 6 replicas per step' });
  expectScale(g.at(s(320), load(3, 16)), { desiredReplicas: 3, reason: 'ScaleDownLimit' });
  expectScale(g.at(s(332), load(3, 16)), { desiredReplicas: 2, reason: 'Concurrency' });
  expectScale(g.at(s(400), load(2, 16)), { desiredReplicas: 2, reason: 'Concurrency' });
});

test('bounded scale-down: 20 → 10 → 5 → 3 → 2 → 1, 30 s apart', () => {
  const g = driver(gascl, baseSpec());
  let replicas = 20;
  const seen: number[] = [];
  for (let t = 0; t <= 600; t += 5) {
    const r = g.at(s(t), load(replicas, 4));
    assert.ok(r.valid);
    if (r.desiredReplicas !== replicas) seen.push(r.desiredReplicas);
    replicas = r.desiredReplicas;
  }
  assert.deepEqual(seen, [10, 5, 3, 2, 1]);
});

test('cold-start lead: a queue that will breach the SLO before a replica could start asks for replicas now', () => {
  // 3 ready replicas serve 100/s each; with p50 50 ms they may hold 3 × 100 × 0.2 s = 60 queued.
  // The queue is 20 and grows 60/s: it breaches in 0.67 s, and a replica takes 4 s to start.
  const rising = (coldStartMs: number, queueGrowthPerSec = 60) =>
    signalsOf(
      { ready: 3 },
      { concurrency: 36, queueDepth: 20, requestRate: 280, p50Ms: 50, p95Ms: 120 },
      { replicaCapacityRps: 100, coldStartMs, panicWindow: { concurrency: 36, queueDepth: 20, requestRate: 280, p50Ms: 50, p95Ms: 120, queueGrowthPerSec } },
    );
  // Needed when ready: serve 340/s (280 + 60 growth) and drain the 260 queued by then within 4 s → 4.05 → 5.
  expectScale(gascl(rising(4_000), baseSpec(), undefined, NOW).result, {
    desiredReplicas: 5,
    reason: 'ColdStartLead',
    panic: false,
    message: '3→5: queue 20 would breach p95 250 ms in 0.67 s; 340/s arriving, 100/s per replica',
  });
  // The queue never holds more than the gateway keeps: with room for 100, 100 to drain → 3.65 → 4.
  expectScale(gascl(rising(4_000), baseSpec({ queueLimit: 100 }), undefined, NOW).result, {
    desiredReplicas: 4,
    reason: 'ColdStartLead',
    message: '3→4: queue 20 would breach p95 250 ms in 0.67 s; 340/s arriving, 100/s per replica, at most 100 waiting',
  });
  // With 0.5 s cold starts there is time to react later: no lead, and a fresh state does not scale down at once.
  expectScale(gascl(rising(500), baseSpec(), undefined, NOW).result, { desiredReplicas: 3, reason: 'ScaleDownStabilized' });
  // 20/s of growth at 280/s is within what Poisson arrivals show by chance over 3 s halves (3σ ≈ 41/s): no projection.
  expectScale(gascl(rising(4_000, 20), baseSpec(), undefined, NOW).result, { desiredReplicas: 3, reason: 'ScaleDownStabilized' });
});

test('cold-start lead: requests turned away at a full queue count as arrivals, and as a breach now', () => {
  // The queue sits at its limit (no growth to see) while 200/s are refused: 500/s arrive, not the 300/s served.
  const refusing = signalsOf(
    { ready: 3 },
    { concurrency: 120, queueDepth: 100, requestRate: 300, p50Ms: 50, p95Ms: 900 },
    { replicaCapacityRps: 100, coldStartMs: 4_000, panicWindow: { concurrency: 120, queueDepth: 100, requestRate: 300, refusedRate: 200, p50Ms: 50, p95Ms: 900, queueGrowthPerSec: 0 } },
  );
  // (500 + 100 / 4 s) / 100 → 5.25 → 6.
  expectScale(gascl(refusing, baseSpec({ queueLimit: 100 }), undefined, NOW).result, {
    desiredReplicas: 6,
    reason: 'ColdStartLead',
    panic: true,
    message: '3→6: queue 100 would breach p95 250 ms now; 500/s arriving (200/s turned away), 100/s per replica (panic)',
  });
});

test('cold-start lead in a burst: a queue already past what ready replicas drain asks in panic', () => {
  const burst = signalsOf(
    { ready: 3 },
    { concurrency: 164, queueDepth: 140, requestRate: 300, p50Ms: 50, p95Ms: 900 },
    { replicaCapacityRps: 100, coldStartMs: 2_000, panicWindow: { concurrency: 164, queueDepth: 140, requestRate: 300, p50Ms: 50, p95Ms: 900, queueGrowthPerSec: 150 } },
  );
  // Serve 450/s and drain 140 + 2 s × 150 = 440 within 2 s: (450 + 220) / 100 → 7.
  expectScale(gascl(burst, baseSpec(), undefined, NOW).result, {
    desiredReplicas: 7,
    reason: 'ColdStartLead',
    panic: true,
    message: '3→7: queue 140 would breach p95 250 ms now; 450/s arriving, 100/s per replica (panic)',
  });
});

test('queue drain: a standing queue is sized to drain within the SLO budget or one cold start', () => {
  const standing = signalsOf({ ready: 2 }, { concurrency: 20, queueDepth: 400, requestRate: 200, p50Ms: 50, p95Ms: 400, queueGrowthPerSec: 0 }, { replicaCapacityRps: 100 });
  // 400 queued, 100/s per replica, within max(200 ms, 2 s) → 2.
  expectScale(gascl(standing, baseSpec(), undefined, NOW).result, { desiredReplicas: 2, reason: 'QueueDrain' });
  const bigger = signalsOf({ ready: 2 }, { concurrency: 20, queueDepth: 1000, requestRate: 200, p50Ms: 50, p95Ms: 400, queueGrowthPerSec: 0 }, { replicaCapacityRps: 100 });
  expectScale(gascl(bigger, baseSpec(), undefined, NOW).result, { desiredReplicas: 5, reason: 'QueueDrain', message: '2→5: queue 1000 drains within 2 s at 100/s per replica (panic)' });
});

test('latency: p95 over 80% of the SLO without a backlog scales ready replicas up, and is remembered on the way down', () => {
  const g = driver(gascl, baseSpec());
  const hot = signalsOf({ ready: 4 }, { concurrency: 16, queueDepth: 0, requestRate: 100, p50Ms: 120, p95Ms: 300 });
  expectScale(g.at(s(0), hot), { desiredReplicas: 6, reason: 'LatencySlo', message: '4→6: p95 300 ms over 200 ms (80% of the 250 ms SLO)' });
  const cool = signalsOf({ ready: 6 }, { concurrency: 16, queueDepth: 0, requestRate: 100, p50Ms: 80, p95Ms: 190 });
  expectScale(g.at(s(100), cool), { desiredReplicas: 6, reason: 'ScaleDownStabilized' });
  // Five minutes on, concurrency alone would say 2; 4 replicas at 25/s each broke the headroom, so 5 stay.
  expectScale(g.at(s(400), cool), { desiredReplicas: 5, reason: 'LatencySlo' });
  // Once p95 is well under the headroom at that per-replica rate, the memory is dropped.
  const relaxed = signalsOf({ ready: 4 }, { concurrency: 16, queueDepth: 0, requestRate: 100, p50Ms: 40, p95Ms: 90 });
  g.at(s(431), relaxed);
  expectScale(g.at(s(462), relaxed), { desiredReplicas: 2, reason: 'Concurrency' });
});

test('scale to zero after scaleToZeroAfter idle, and activation from zero when requests wait', () => {
  const spec = baseSpec({ minReplicas: 0, scaleToZeroAfterMs: 300_000 });
  const g = driver(gascl, spec);
  const idle = (replicas: number, lastRequestSecond: number) =>
    signalsOf({ ready: replicas }, { concurrency: 0, queueDepth: 0, requestRate: 0 }, { lastRequestAt: s(lastRequestSecond) });
  expectScale(g.at(s(0), idle(2, -10)), { desiredReplicas: 2, reason: 'ScaleDownStabilized' });
  // A last request at 250 s; the count from start has left the stabilization window at 301 s.
  expectScale(g.at(s(301), idle(2, 250)), { desiredReplicas: 1, reason: 'Cooldown', message: '2→1: idle for 51 s; scaling to zero after 300 s' });
  expectScale(g.at(s(549), idle(1, 250)), { desiredReplicas: 1, reason: 'Cooldown' });
  expectScale(g.at(s(550), idle(1, 250)), { desiredReplicas: 0, reason: 'ScaleToZero', message: '1→0: no requests for 300 s' });
  expectScale(g.at(s(600), idle(0, 250)), { desiredReplicas: 0, reason: 'ScaleToZero' });
  // Straight from several replicas when idle long enough: no half-per-step limit for zero load.
  expectScale(gascl(idle(6, -400), spec, undefined, NOW).result, { desiredReplicas: 0, reason: 'ScaleToZero' });
  // Two requests held at the gateway: activate.
  const held = signalsOf({ ready: 0 }, { concurrency: 2, queueDepth: 2, requestRate: 0 }, { lastRequestAt: s(250) });
  expectScale(g.at(s(610), held), { desiredReplicas: 1, reason: 'Activation', message: '0→1: activating: queue 2 drains at 8 per replica' });
  // A burst held at zero: activation sized by the queue, in panic.
  const burst = signalsOf({ ready: 0 }, { concurrency: 40, queueDepth: 40 });
  expectScale(gascl(burst, spec, undefined, NOW).result, { desiredReplicas: 5, reason: 'Activation', panic: true });
});

test('node requests: replicas beyond the pool ask for nodes, capped at maxNodes', () => {
  const spec = baseSpec({ capacity: { replicasPerNode: 4, currentNodes: 2, maxNodes: 5 } });
  expectScale(gascl(load(8, 80), spec, undefined, NOW).result, {
    desiredReplicas: 10,
    desiredNodes: 3,
    reason: 'Concurrency',
    message: '8→10: concurrency 80 needs 10 at 8 per replica; needs 3 nodes (2 now)',
  });
  expectScale(gascl(load(8, 240), spec, undefined, NOW).result, {
    desiredReplicas: 20,
    desiredNodes: 5,
    reason: 'NodeLimit',
    message: '8→20: 30 replicas need 8 nodes; the pool allows 5 (4 per node) (panic)',
  });
  expectScale(gascl(load(8, 60), spec, undefined, NOW).result, { desiredReplicas: 8, desiredNodes: undefined });
});

test('min and max replicas bound the result', () => {
  expectScale(gascl(load(10, 400), baseSpec(), undefined, NOW).result, { desiredReplicas: 30, reason: 'MaxReplicas' });
  const g = driver(gascl, baseSpec({ minReplicas: 3 }));
  expectScale(g.at(s(0), load(2, 4)), { desiredReplicas: 3, reason: 'MinReplicas' });
});

test('scale-up stabilization (upSeconds) takes the lowest need of the window, except in panic', () => {
  const g = driver(gascl, baseSpec({ stabilization: { upSeconds: 30, downSeconds: 300 } }));
  expectScale(g.at(s(0), load(4, 24)), { desiredReplicas: 4 });
  expectScale(g.at(s(10), load(4, 48)), { desiredReplicas: 4, reason: 'ScaleUpStabilized' });
  expectScale(g.at(s(31), load(4, 48)), { desiredReplicas: 6, reason: 'Concurrency' });
  expectScale(g.at(s(32), load(4, 80, {}, 6)), { desiredReplicas: 10, panic: true }); // 10 ≥ 2 × 4: panic skips it
});

test('no signals is no decision; a state from another decider is replaced', () => {
  const none = gascl(signalsOf({ ready: 2 }, {}), baseSpec(), undefined, NOW);
  assert.equal(none.result.valid, false);
  assert.match(none.result.message, /no concurrency, queue, request rate or latency signal in the last 60 s/);
  const fromHpa = gascl(load(2, 16), baseSpec(), { decider: 'hpa-cpu', history: {} }, NOW);
  assert.equal(fromHpa.next.decider, 'gascl');
  assert.equal(JSON.stringify(JSON.parse(JSON.stringify(fromHpa.next))), JSON.stringify(fromHpa.next), 'state is plain JSON');
});

test('node release: nodes no longer needed are given back once a whole node delay agrees', () => {
  const spec = (currentNodes: number) => baseSpec({ capacity: { replicasPerNode: 4, currentNodes, maxNodes: 10 } });
  let state: DeciderState | undefined;
  const at = (seconds: number, signals: Signals, nodes: number): ScaleResult => {
    const d = gascl(signals, spec(nodes), state, s(seconds));
    state = JSON.parse(JSON.stringify(d.next)) as DeciderState;
    return d.result;
  };
  // p95 near the headroom throughout, so the target concurrency stays the spec's 8 (nothing to learn from).
  const load = (ready: number, concurrency: number): Signals =>
    signalsOf({ ready }, { concurrency, queueDepth: 0, requestRate: concurrency * 10, p50Ms: 100, p95Ms: 190 });
  // 8 replicas on 5 nodes: 2 are needed, but a fresh state has not watched for a whole delay yet.
  expectScale(at(0, load(8, 64), 5), { desiredReplicas: 8, desiredNodes: undefined });
  expectScale(at(59, load(8, 64), 5), { desiredReplicas: 8, desiredNodes: undefined });
  const released = at(60, load(8, 64), 5);
  expectScale(released, { desiredReplicas: 8, desiredNodes: 2 });
  assert.match(released.message, /; 2 of 5 nodes needed for 60 s$/);
  // Growing asks for nodes at once, and that need then holds the nodes for the delay.
  expectScale(at(70, load(8, 96), 2), { desiredReplicas: 12, desiredNodes: 3 });
  expectScale(at(100, load(12, 64), 3), { desiredNodes: undefined, desiredReplicas: 12 });
  expectScale(at(131, load(12, 64), 3), { desiredNodes: undefined, desiredReplicas: 12 });
  assert.equal(GASCL_NODE_SCALE_DOWN_DELAY_MS, 60_000);
});

test('no scale-down while the ready replicas cannot drain the queue within the SLO', () => {
  const g = driver(gascl, baseSpec());
  expectScale(g.at(s(0), load(10, 80)), { desiredReplicas: 10 });
  // 400 s on, demand reads low only because 4 of 10 replicas are ready and the queue is capped.
  const capped = signalsOf({ ready: 4, current: 10 }, { concurrency: 1032, queueDepth: 1000, requestRate: 320, p50Ms: 100, p95Ms: 3000, queueGrowthPerSec: 0 }, { replicaCapacityRps: 80 });
  expectScale(g.at(s(400), capped), { desiredReplicas: 10, reason: 'QueueDrain', message: '10→10: queue 1000 is more than 4 ready replicas drain within the SLO; no scale-down' });
});

test('burst headroom: after a first burst its peak need stays ready until the next could show how bursts come', () => {
  const g = driver(gascl, baseSpec({ stabilization: { upSeconds: 0, downSeconds: 60 } }));
  const steady = (ready: number) => signalsOf({ ready }, { concurrency: 16, queueDepth: 0, requestRate: 160, p50Ms: 100, p95Ms: 150 });
  expectScale(g.at(s(0), steady(2)), { desiredReplicas: 2 });
  // The panic window holds 5× the stable window's in-flight requests: a burst needing 10.
  const burst = signalsOf({ ready: 2 }, { concurrency: 16, queueDepth: 0, requestRate: 160, p50Ms: 100, p95Ms: 150 }, { panicWindow: { concurrency: 80, queueDepth: 0, requestRate: 800, p50Ms: 100, p95Ms: 180 } });
  expectScale(g.at(s(2), burst), { desiredReplicas: 10, panic: true });
  // Long after panic and the stabilization window, the 10 stay instead of the 2 the load needs…
  const after = g.at(s(200), steady(10));
  expectScale(after, { desiredReplicas: 10, reason: 'BurstHeadroom' });
  assert.match(after.message, /a burst needed 10 .* ago; keeping them until the next shows how bursts come/);
  expectScale(g.at(s(800), steady(10)), { desiredReplicas: 10, reason: 'BurstHeadroom' });
  // …until BURST_FIRST_HOLD_MS after it began; then scale-down resumes at its bounded rate.
  expectScale(g.at(s(2 + BURST_FIRST_HOLD_MS / 1000 + 1), steady(10)), { desiredReplicas: 5, reason: 'ScaleDownLimit' });
});

test('burst headroom: demand back near the kept headroom is a burst it absorbed, and keeps it longer', () => {
  const g = driver(gascl, baseSpec({ stabilization: { upSeconds: 0, downSeconds: 60 } }));
  const steady = (ready: number, concurrency = 16) => signalsOf({ ready }, { concurrency, queueDepth: 0, requestRate: concurrency * 10, p50Ms: 100, p95Ms: 150 });
  expectScale(g.at(s(0), steady(2)), { desiredReplicas: 2 });
  const burst = signalsOf({ ready: 2 }, { concurrency: 16, queueDepth: 0, requestRate: 160, p50Ms: 100, p95Ms: 150 }, { panicWindow: { concurrency: 80, queueDepth: 0, requestRate: 800, p50Ms: 100, p95Ms: 180 } });
  expectScale(g.at(s(2), burst), { desiredReplicas: 10, panic: true });
  expectScale(g.at(s(200), steady(10)), { desiredReplicas: 10, reason: 'BurstHeadroom' });
  // 10 minutes on, demand climbs to 8 replicas' worth (80% of the 10 kept) with no panic: the headroom met a burst.
  for (let t = 600; t <= 660; t += 2) g.at(s(t), steady(10, 64));
  // The first burst alone would have been let go 15 minutes after it began; two bursts 10 minutes
  // apart are held until 1.5 × 10 minutes after the second.
  const later = g.at(s(2 + BURST_FIRST_HOLD_MS / 1000 + 60), steady(10));
  expectScale(later, { desiredReplicas: 10, reason: 'BurstHeadroom' });
  assert.match(later.message, /bursts came up to 10 min apart and needed 10/);
});

test('burst headroom: bursts at a regular spacing are met by replicas asked for a lead time before the next is due', () => {
  const lead = 40_000 + 120_000; // cold start + the pool's provisioning
  const spec = baseSpec({ stabilization: { upSeconds: 0, downSeconds: 60 }, slo: { latencyP95Ms: 250, coldStartMs: 40_000 }, capacity: { replicasPerNode: 100, currentNodes: 1, maxNodes: 1, provisioningMs: 120_000 } });
  const g = driver(gascl, spec);
  const steady = (ready: number) => signalsOf({ ready }, { concurrency: 16, queueDepth: 0, requestRate: 160, p50Ms: 100, p95Ms: 150 });
  const burst = (ready: number) =>
    signalsOf({ ready }, { concurrency: 16, queueDepth: 0, requestRate: 160, p50Ms: 100, p95Ms: 150 }, { panicWindow: { concurrency: 80, queueDepth: 0, requestRate: 800, p50Ms: 100, p95Ms: 180 } });
  const every = 12 * 60; // seconds; bursts at 12, 24, 36 and 48 min
  let ready = 2;
  let held = 0;
  for (let t = 0; t <= 4 * every; t += 10) {
    const inBurst = t % every === 0 && t > 0;
    const r = g.at(s(t), inBurst ? burst(ready) : steady(ready));
    assert.ok(r.valid, r.message);
    ready = r.desiredReplicas;
    // One spacing says little: the headroom is held from the second burst on through the third.
    if (t === 3 * every - 300) assert.equal(r.reason, 'BurstHeadroom', `5 min before the third burst: ${r.message}`);
    // Two equal spacings are a pattern: between the third and fourth bursts nothing is held…
    if (t === 4 * every - 300) assert.equal(ready, 2, `5 min before the fourth burst: ${r.message}`);
    // …until a lead time (cold start + provisioning, and a scale step) before the fourth is due.
    if (t === 4 * every - (lead + 30_000) / 1000 + 10) {
      assert.equal(r.reason, 'BurstHeadroom', r.message);
      assert.match(r.message, /bursts come every 12 min and need \d+; the next is due in 3 min/);
      held = ready;
    }
  }
  assert.ok(held >= 9, `the burst's need is ready when the fourth begins: ${held}`);
});

test('a start under a backlog is not a burst: constant load catching up keeps no headroom', () => {
  const g = driver(gascl, baseSpec({ stabilization: { upSeconds: 0, downSeconds: 60 } }));
  // Both windows saw the backlog: the panic window's in-flight requests are high, but so were the stable window's.
  const backlog = signalsOf({ ready: 2 }, { concurrency: 400, queueDepth: 384, requestRate: 160, p50Ms: 100, p95Ms: 2000 }, { panicWindow: { concurrency: 900, queueDepth: 884, requestRate: 160, p50Ms: 100, p95Ms: 2000 } });
  const r = g.at(s(0), backlog);
  assert.ok(r.valid && r.desiredReplicas > 2 && r.panic, r.message);
  const steady = (ready: number) => signalsOf({ ready }, { concurrency: 16, queueDepth: 0, requestRate: 160, p50Ms: 100, p95Ms: 150 });
  const later = g.at(s(200), steady(r.desiredReplicas));
  assert.ok(later.valid && !/burst headroom/.test(later.message), later.message);
});

test('a backlog on a replica that serves one request at a time asks for what drains it, not for every request in flight', () => {
  // One replica completing 48/s (20 ms per request, one at a time), 72/s arriving: 16 in flight in the
  // gateway's view, 10 of them reported waiting (the replica does not count those it holds for its next
  // batch), the queue growing 24/s. Little's law alone reads 6 "being served" and 2 × 48 / 6 = 16/s per
  // replica, and would ask for (72 + (10 + 24 × 1.4) / 1.4) / 16 → 7 replicas; what the replica really
  // completes, 48/s, says 3.
  const backlog = signalsOf({ ready: 1 }, { concurrency: 16, queueDepth: 10, requestRate: 48, p50Ms: 180, p95Ms: 400, queueGrowthPerSec: 24 }, { coldStartMs: 1_400 });
  const r = gascl(backlog, baseSpec({ targetConcurrency: 2, slo: { latencyP95Ms: 200, coldStartMs: 3_000 } }), undefined, NOW).result;
  assert.ok(r.valid, r.message);
  assert.equal(r.desiredReplicas, 3, r.message);
});

test('replicas that just became ready do not dilute what the busy ones completed', () => {
  // 3 ready now, but two of them only for the last 0.6 s of the 6 s window: the 46/s were done by about 1.2 replicas.
  const pods = [
    { name: 'a', ready: true, startedAt: NOW - 600_000, readyChangedAt: NOW - 600_000 },
    { name: 'b', ready: true, startedAt: NOW - 2_000, readyChangedAt: NOW - 600 },
    { name: 'c', ready: true, startedAt: NOW - 2_000, readyChangedAt: NOW - 600 },
  ];
  const backlog = signalsOf({ ready: 3 }, { concurrency: 40, queueDepth: 30, requestRate: 46, p50Ms: 600, p95Ms: 900, queueGrowthPerSec: 18 }, { coldStartMs: 1_300, pods });
  const r = gascl(backlog, baseSpec({ targetConcurrency: 2, slo: { latencyP95Ms: 200, coldStartMs: 3_000 } }), undefined, NOW).result;
  assert.ok(r.valid, r.message);
  // Per replica 46 / (1 + 2 × 0.1) = 38/s: the lead need is 3, below the 5 concurrency asks for; read as
  // 46 / 3 = 15/s it would have been 7.
  assert.equal(r.desiredReplicas, 5, r.message);
  assert.equal(r.reason, 'Concurrency', r.message);
});

test('latency a request’s own size explains is no reason to scale: only waits more replicas would remove', () => {
  // p95 300 ms against a 250 ms SLO (headroom 200 ms), 4 ready replicas serving 16 with nothing queued.
  const slow = (waitP95Ms: number) => signalsOf({ ready: 4 }, { concurrency: 16, queueDepth: 0, requestRate: 60, p50Ms: 200, p95Ms: 300, waitP95Ms });
  // Requests barely wait (p95 wait 5 ms): their service time is what it is; the count stays.
  expectScale(gascl(slow(5), baseSpec(), undefined, NOW).result, { desiredReplicas: 4 });
  // Requests wait 100 ms (40% of the SLO) before a replica begins them: more replicas would help.
  expectScale(gascl(slow(100), baseSpec(), undefined, NOW).result, { desiredReplicas: 6, reason: 'LatencySlo' });
  // Where no wait is reported, busy replicas (16 / 4 = 4 of a target of 8: half) stand in for it.
  const unreported = signalsOf({ ready: 4 }, { concurrency: 16, queueDepth: 0, requestRate: 60, p50Ms: 200, p95Ms: 300 });
  expectScale(gascl(unreported, baseSpec(), undefined, NOW).result, { desiredReplicas: 6, reason: 'LatencySlo' });
  const idle = signalsOf({ ready: 4 }, { concurrency: 8, queueDepth: 0, requestRate: 30, p50Ms: 200, p95Ms: 300 });
  expectScale(gascl(idle, baseSpec(), undefined, NOW).result, { desiredReplicas: 4 });
});

test('KV cache: where replicas report it (vLLM), its use is kept at 80%, and a full cache makes latency capacity’s to fix', () => {
  // 4 ready replicas serving 12, well under their target of 8 each: concurrency alone asks for 2.
  const cache = (kvCacheUsage: number, p95Ms = 150) => signalsOf({ ready: 4 }, { concurrency: 12, queueDepth: 0, requestRate: 40, p50Ms: 100, p95Ms, kvCacheUsage });
  expectScale(gascl(cache(0.95), baseSpec(), undefined, NOW).result, {
    desiredReplicas: 5,
    reason: 'KvCache',
    message: '4→5: KV cache 95% used across 4 ready replicas, kept at 80%',
  });
  // At 60% the cache asks for 3, no more than the others: the count stays (a fresh state does not scale down at once).
  expectScale(gascl(cache(0.6), baseSpec(), undefined, NOW).result, { desiredReplicas: 4, reason: 'ScaleDownStabilized' });
  // p95 300 ms over the 200 ms headroom with replicas a quarter busy and no wait reported: their own
  // size, unless the cache is full (long sequences crowd it, and new ones wait inside the server).
  expectScale(gascl(cache(0.5, 300), baseSpec(), undefined, NOW).result, { desiredReplicas: 4 });
  expectScale(gascl(cache(0.85, 300), baseSpec(), undefined, NOW).result, { desiredReplicas: 6, reason: 'LatencySlo' });
});

test('learned target: replicas run past targetConcurrency while the SLO allows, and back when it does not', () => {
  const g = driver(gascl, baseSpec({ stabilization: { upSeconds: 0, downSeconds: 0 } }));
  // 10 replicas at their target of 8 each, p95 far under the 200 ms headroom, nothing waiting.
  const atLoad = (ready: number, concurrency: number, p95Ms: number, waitP95Ms: number) =>
    signalsOf({ ready }, { concurrency, queueDepth: 0, requestRate: 800, p50Ms: 100, p95Ms, waitP95Ms });
  // Nothing is learned before three steady minutes have been sampled (at 0, 60 and 120 s; read from 130 s).
  let r = g.at(s(0), atLoad(10, 80, 120, 0));
  for (let t = 10; t <= 120; t += 10) {
    r = g.at(s(t), atLoad(10, 80, 120, 0));
    assert.match(r.message, /at 8 per replica|^10→10/, `${t} s: ${r.message}`);
  }
  // Then a step (×1.1) per stable window.
  r = g.at(s(130), atLoad(10, 80, 120, 0));
  assert.match(r.message, /at 8\.8 per replica/, r.message);
  expectScale(r, { desiredReplicas: 10 }); // within a step of the new target: no move yet
  r = g.at(s(191), atLoad(10, 88, 120, 0));
  assert.match(r.message, /at 9\.68 per replica/, r.message);
  // Requests start to wait (p95 wait over 5% of p50): the climb stops there.
  r = g.at(s(252), atLoad(10, 96, 150, 20));
  assert.match(r.message, /at 9\.68 per replica/, r.message);
  // p95 over the headroom with waits capacity can fix: a step back down, and more replicas now.
  r = g.at(s(313), atLoad(10, 96, 260, 120));
  assert.equal(r.reason, 'LatencySlo', r.message);
  assert.ok(r.valid && r.desiredReplicas > 10, r.message);
  r = g.at(s(374), atLoad(13, 96, 150, 0));
  assert.match(r.message, /at 8\.8 per replica/, r.message);
});

test('learned target: a load that swings from minute to minute keeps its slack', () => {
  const g = driver(gascl, baseSpec({ stabilization: { upSeconds: 0, downSeconds: 0 } }));
  // The same comfortable replicas, but the minute's rate alternates 600 and 1000 req/s.
  for (let t = 0; t <= 600; t += 10) {
    const rate = Math.floor(t / 60) % 2 === 0 ? 600 : 1000;
    const r = g.at(s(t), signalsOf({ ready: 10 }, { concurrency: 80, queueDepth: 0, requestRate: rate, p50Ms: 100, p95Ms: 120, waitP95Ms: 0 }));
    assert.doesNotMatch(r.message, /at 8\.8 per replica/, `${t} s: ${r.message}`);
  }
  assert.equal((g.state as { target?: number }).target, 8);
});

test('learned target: a burst’s backlog teaches nothing', () => {
  const g = driver(gascl, baseSpec());
  const steady = signalsOf({ ready: 4 }, { concurrency: 32, queueDepth: 0, requestRate: 320, p50Ms: 100, p95Ms: 180 });
  g.at(s(0), steady);
  g.at(s(61), steady);
  // A burst: the panic window sees 5× the in-flight requests and a backlog the replicas cannot serve at the target.
  const burst = signalsOf({ ready: 4 }, { concurrency: 32, queueDepth: 0, requestRate: 320, p50Ms: 100, p95Ms: 180 }, { panicWindow: { concurrency: 160, queueDepth: 120, requestRate: 400, p50Ms: 100, p95Ms: 900 } });
  g.at(s(62), burst);
  const after = g.at(s(130), signalsOf({ ready: 20 }, { concurrency: 32, queueDepth: 0, requestRate: 320, p50Ms: 100, p95Ms: 180 }));
  assert.doesNotMatch(after.message, /at [0-7](\.\d+)? per replica/, after.message);
  assert.equal((g.state as { target?: number }).target, 8);
});

test('forecast: a rise seen one period ago is provisioned a lead time before it comes again', () => {
  const period = 60 * 60_000;
  const spec = baseSpec({ seasonalPeriodMs: period, slo: { latencyP95Ms: 250, coldStartMs: 40_000 }, capacity: { replicasPerNode: 100, currentNodes: 1, maxNodes: 1, provisioningMs: 120_000 } });
  const g = driver(gascl, spec);
  const loadOf = (ready: number, concurrency: number) => signalsOf({ ready }, { concurrency, queueDepth: 0, requestRate: concurrency * 10, p50Ms: 100, p95Ms: 190 });
  // Period 1: 2 replicas' worth all along, except 20 replicas' worth from minute 30 to 40.
  const base = Math.floor(NOW / period) * period + period; // the start of a period
  let ready = 2;
  for (let t = 0; t < 2 * period; t += 10_000) {
    const minute = (t % period) / 60_000;
    const busy = minute >= 30 && minute < 40;
    const r = g.at(base + t, loadOf(ready, busy && t >= period ? Math.min(160, ready * 8) : busy ? 160 : 16));
    assert.ok(r.valid, r.message);
    ready = r.desiredReplicas;
    // Period 2, 3 minutes before the rise (within cold start + provisioning + a slot): already asked for.
    if (t === period + 27 * 60_000) {
      assert.equal(r.reason, 'Forecast', r.message);
      assert.match(r.message, /one period \(3600 s\) ago, 20 replicas were needed within the next/);
      assert.equal(ready, 20);
    }
  }
});

test('trend: a load that has risen five minutes in a row is provisioned for where it will be two lead times on', () => {
  const spec = baseSpec({ slo: { latencyP95Ms: 250, coldStartMs: 40_000 }, capacity: { replicasPerNode: 100, currentNodes: 1, maxNodes: 1, provisioningMs: 120_000 } });
  const g = driver(gascl, spec);
  let r: ScaleResult | undefined;
  let ready = 4;
  // +20 req/s a minute from 320 (p50 100 ms: 80 rps per replica at the target of 8).
  for (let t = 0; t <= 6 * 60; t += 10) {
    const rate = 320 + (20 * t) / 60;
    r = g.at(s(t), signalsOf({ ready }, { concurrency: rate / 10, queueDepth: 0, requestRate: rate, p50Ms: 100, p95Ms: 190 }));
    assert.ok(r.valid, r.message);
    ready = r.desiredReplicas;
  }
  assert.equal(r!.reason, 'Forecast', r!.message);
  assert.match(r!.message, /the request rate has risen for 300 s; at that pace 556\.67\/s in 320 s needs 7/);
  // 440/s now, 1/3 req/s gained per second, 350 s ahead (two leads + half a stable window): 556.67/s → 7 at 80/s each.
  assert.equal(ready, 7);
});

test('latency read over a window that saw a burst’s backlog is the burst’s, gone with its queue: no LatencySlo from it', () => {
  const g = driver(gascl, baseSpec({ stabilization: { upSeconds: 0, downSeconds: 0 } }));
  const calm = { concurrency: 24, queueDepth: 0, requestRate: 320, p50Ms: 100, p95Ms: 150, waitP95Ms: 0 };
  // A burst: the panic window holds 18× the stable window's in-flight requests, 400 of them queued.
  const burst = signalsOf({ ready: 4 }, calm, { replicaCapacityRps: 80, panicWindow: { concurrency: 432, queueDepth: 400, requestRate: 320, p50Ms: 100, p95Ms: 2000, waitP95Ms: 1800 } });
  const r0 = g.at(s(0), burst);
  assert.ok(r0.valid && r0.reason !== 'LatencySlo', r0.message);
  // 3 s later the queue is gone, but the panic window still holds the requests that waited in it.
  const after = signalsOf({ ready: 4 }, calm, { replicaCapacityRps: 80, panicWindow: { concurrency: 24, queueDepth: 0, requestRate: 320, p50Ms: 100, p95Ms: 1500, waitP95Ms: 1400 } });
  const r1 = g.at(s(3), after);
  assert.ok(r1.valid && r1.reason !== 'LatencySlo', r1.message);
  assert.doesNotMatch(r1.message, /p95 1500 ms over/);
  // A whole panic window after the backlog, the same reading is fresh: waits capacity can fix.
  const r2 = g.at(s(10), after);
  assert.match(r2.message, /p95 1500 ms over 200 ms/, r2.message);
});
