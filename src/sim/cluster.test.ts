import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Signals, WindowSignals } from '../autoscaler/types.ts';
import { SignalRecorder } from '../observability/windows.ts';
import { SIM_EPOCH_MS, simulate, type ClusterView, type ScaleAction, type ScaleController } from './cluster.ts';
import { summarizeRun } from './report.ts';
import type { ScenarioInput } from './scenario-schema.ts';
import { parseScenario, resolveScenario } from './scenarios.ts';
import { ScriptedController, smallScenario } from './test-support.ts';

test('a cold start delays capacity: requests wait until the new replica has loaded its model', () => {
  const sc = smallScenario({
    pools: [{ name: 'pool', replicasPerNode: 2, costPerHour: 1, minNodes: 1, maxNodes: 1 }],
    service: { serviceTime: { meanMs: 50, p95Ms: 100 }, concurrency: 2, coldStart: { imagePull: '4s', modelLoad: '3s' } },
    scaling: { minReplicas: 0, maxReplicas: 4, initialReplicas: 0 },
  });
  const run = simulate(sc, new ScriptedController([{ atSec: 1, action: { desiredReplicas: 1 } }]), { initialReplicas: 0 });
  // The node started with the image, so only the 3 s model load stands between the ask (1 s) and capacity.
  assert.equal(run.series.readyReplicas[3], 0);
  assert.equal(run.series.readyReplicas[5], 1);
  assert.equal(run.coldStarts, 1);
  assert.equal(run.meanColdStartMs, 3000);
  assert.ok(run.latency.percentile(99, false)! > 2000, 'requests that arrived before 4 s waited for the replica');

  const warm = simulate(sc, new ScriptedController([{ atSec: 1, action: { desiredReplicas: 1 } }]), { initialReplicas: 1 });
  assert.ok(warm.latency.percentile(99, false)! < 300, 'with a ready replica nobody waits');
});

test('a new node takes its provisioning delay, then pulls the image once; later pods on it only load the model', () => {
  const sc = smallScenario({
    pools: [{ name: 'cloud', replicasPerNode: 4, costPerHour: 10, minNodes: 0, maxNodes: 3, provisioningDelay: '20s' }],
    service: { serviceTime: { meanMs: 50, p95Ms: 100 }, concurrency: 2, coldStart: { imagePull: '10s', modelLoad: '5s' } },
    scaling: { minReplicas: 0, maxReplicas: 12, initialReplicas: 0 },
    traffic: { shape: { kind: 'constant', rps: 5 } },
  });
  const ctl = new ScriptedController([
    { atSec: 1, action: { desiredReplicas: 2, desiredNodes: 1 } },
    { atSec: 60, action: { desiredReplicas: 3, desiredNodes: 1 } },
  ]);
  const run = simulate(sc, ctl, { initialReplicas: 0 });
  const s = run.series;
  assert.equal(s.nodes[2], 1, 'the node counts (and bills) from its request');
  assert.equal(s.readyReplicas[35], 0, 'ready no sooner than 1 s + 20 s provisioning + 10 s pull + 5 s load');
  assert.equal(s.readyReplicas[37], 2);
  assert.equal(s.readyReplicas[64], 2);
  assert.equal(s.readyReplicas[66], 3, 'the image is cached on the node: 5 s of model load only');
  assert.equal(run.coldStarts, 3);
  // One node from 1 s to the end (180 s).
  assert.ok(Math.abs(run.gpuNodeHours - 179 / 3600) < 1e-9, `node-hours ${run.gpuNodeHours}`);
  assert.ok(Math.abs(run.costUsd - (179 / 3600) * 10) < 1e-9);
});

/** One replica of one slot offered 5× what it serves, behind a gateway queue of 10. */
function overloadedOneSlot() {
  return smallScenario({
    pools: [{ name: 'pool', replicasPerNode: 1, costPerHour: 1, minNodes: 1, maxNodes: 1 }],
    service: { serviceTime: { meanMs: 100, p95Ms: 200 }, concurrency: 1 },
    gateway: { maxQueue: 10, timeout: '60s' },
    scaling: { minReplicas: 1, maxReplicas: 1, initialReplicas: 1 },
    traffic: { shape: { kind: 'constant', rps: 50 } }, // 5× what one slot serves
  });
}

test('the gateway queue is bounded: beyond maxQueue requests are rejected', () => {
  const sc = overloadedOneSlot();
  const run = simulate(sc, new ScriptedController([]), { initialReplicas: 1 });
  assert.equal(run.maxQueueDepth, 10);
  assert.ok(run.rejected > run.arrivals * 0.7, `rejected ${run.rejected} of ${run.arrivals}`);
  assert.equal(run.timedOut, 0);
  // One slot at ~10 requests/s for 180 s; everything accounted for (at most queue + slot in flight at the end).
  assert.ok(Math.abs(run.succeeded - 1800) < 200, `succeeded ${run.succeeded}`);
  assert.ok(run.arrivals - run.succeeded - run.rejected <= 11);
  const summary = summarizeRun(run, sc.slo.latencyP95Ms);
  assert.equal(summary.sloMinutesPct, 0, 'rejections make every minute miss the SLO');
  assert.ok(summary.rejectRate > 0.7);
});

test('requests waiting longer than the gateway timeout error out', () => {
  const sc = smallScenario({
    pools: [{ name: 'pool', replicasPerNode: 1, costPerHour: 1, minNodes: 1, maxNodes: 1 }],
    service: { serviceTime: { meanMs: 100, p95Ms: 200 }, concurrency: 1 },
    gateway: { maxQueue: 100_000, timeout: '2s' },
    scaling: { minReplicas: 1, maxReplicas: 1, initialReplicas: 1 },
    traffic: { shape: { kind: 'constant', rps: 30 } },
  });
  const run = simulate(sc, new ScriptedController([]), { initialReplicas: 1 });
  assert.equal(run.rejected, 0);
  assert.ok(run.timedOut > run.arrivals / 2, `timed out ${run.timedOut} of ${run.arrivals}`);
  // Nobody who was served had waited past the timeout (+1 s tick granularity, + service time).
  assert.ok(run.latency.percentile(100, false)! < 2000 + 1000 + 1500);
});

test('cluster autoscaler: adds a node for pods pending past 10 s, removes a node empty for emptyFor', () => {
  const sc = smallScenario({
    pools: [{ name: 'pool', replicasPerNode: 2, costPerHour: 1, minNodes: 0, maxNodes: 5, initialNodes: 1, provisioningDelay: '30s' }],
    service: { serviceTime: { meanMs: 50, p95Ms: 100 }, concurrency: 2, coldStart: { imagePull: '2s', modelLoad: '1s' } },
    clusterAutoscaler: { scanInterval: '10s', pendingFor: '10s', emptyFor: '60s' },
    scaling: { minReplicas: 1, maxReplicas: 10, initialReplicas: 2 },
  });
  const ctl = new ScriptedController(
    [
      { atSec: 1, action: { desiredReplicas: 4 } },
      { atSec: 100, action: { desiredReplicas: 2 } },
    ],
    'cluster-autoscaler',
  );
  const run = simulate(sc, ctl, { initialReplicas: 2 });
  const s = run.series;
  // Pending since 1 s: the 10 s scan sees 9 s, the 20 s scan asks for a node; ready at 50 s, pods at 53 s.
  assert.equal(s.nodes[19], 1);
  assert.equal(s.nodes[21], 2);
  assert.equal(s.readyReplicas[52], 2);
  assert.equal(s.readyReplicas[54], 4);
  // Scale-down empties the newer node at 100 s; it goes at the first scan 60 s later.
  assert.equal(s.readyReplicas[101], 2);
  assert.equal(s.nodes[159], 2);
  assert.equal(s.nodes[161], 1);
  assert.ok(Math.abs(run.gpuNodeHours - (180 + 140) / 3600) < 1e-9, `node-hours ${run.gpuNodeHours}`);
  assert.equal(run.scaleEvents, 2);
  assert.equal(run.oscillations, 1, 'down 99 s after up is a reversal within the 2 min window');
});

test('direct node management gives back a node as soon as it is empty and no longer wanted', () => {
  const sc = smallScenario({
    pools: [{ name: 'pool', replicasPerNode: 2, costPerHour: 1, minNodes: 0, maxNodes: 5, initialNodes: 2, provisioningDelay: '30s' }],
    service: { serviceTime: { meanMs: 50, p95Ms: 100 }, concurrency: 2, coldStart: { imagePull: '2s', modelLoad: '1s' } },
    clusterAutoscaler: { scanInterval: '10s', pendingFor: '10s', emptyFor: '600s' },
    scaling: { minReplicas: 1, maxReplicas: 10, initialReplicas: 4 },
  });
  const ctl = new ScriptedController([
    { atSec: 1, action: { desiredReplicas: 4 } },
    { atSec: 100, action: { desiredReplicas: 2, desiredNodes: 1 } },
  ]);
  const run = simulate(sc, ctl, { initialReplicas: 4 });
  const s = run.series;
  assert.equal(s.nodes[99], 2);
  // The two replicas leave at 100 s; their node goes once they have drained, not after the 600 s empty-node rule.
  assert.equal(s.nodes[102], 1);
  assert.equal(s.readyReplicas[150], 2);
  assert.equal(s.nodes[179], 1);
});

test('one run is a pure function of scenario and controller', () => {
  const sc = smallScenario({ traffic: { shape: { kind: 'bursts', baseRps: 20, factor: 4, duration: '20s', at: ['60s'] } } });
  const script = [
    { atSec: 50, action: { desiredReplicas: 6, desiredNodes: 3 } },
    { atSec: 120, action: { desiredReplicas: 2 } },
  ];
  const a = summarizeRun(simulate(sc, new ScriptedController(script), { initialReplicas: 2 }), 250);
  const b = summarizeRun(simulate(sc, new ScriptedController(script), { initialReplicas: 2 }), 250);
  assert.deepEqual(a, b);
  assert.ok(a.requests > 3000);
});

/** Reads the deciders' signals every second and changes nothing. */
class SignalsWatcher implements ScaleController {
  readonly policy = 'watcher';
  readonly periodMs = 1000;
  readonly nodeManagement = 'cluster-autoscaler';
  readonly seen: Array<{ timeMs: number; signals: Signals }> = [];

  decide(view: ClusterView): ScaleAction | undefined {
    this.seen.push({ timeMs: view.timeMs, signals: view.signals() });
    return undefined;
  }
}

/** The signals the traffic decides (CPU and GPU come from the simulated replicas, not the requests). */
const TRAFFIC_SIGNALS = ['windowSeconds', 'requestRate', 'errorRate', 'p50Ms', 'p95Ms', 'concurrency', 'queueDepth', 'queueGrowthPerSec'] as const;

function assertSameWindow(actual: WindowSignals, expected: WindowSignals, where: string): void {
  for (const key of TRAFFIC_SIGNALS) {
    const a = actual[key];
    const e = expected[key];
    if (a === undefined || e === undefined) assert.equal(a, e, `${where} ${key}`);
    // Gauges are integrated in different pieces (the simulator also records each second), so the last bits may differ.
    else assert.ok(Math.abs(a - e) <= 1e-9 * Math.max(1, Math.abs(e)), `${where} ${key}: ${a} vs ${e}`);
  }
}

test('the deciders read what observability\'s windows compute for the same requests, as in the real loop', () => {
  // A scripted stream: no queueing (plenty of slots) and no service-time noise (p95 = mean),
  // so each request finishes exactly meanMs × work after it arrives.
  const times: number[] = [];
  const work: number[] = [];
  const add = (fromMs: number, toMs: number, everyMs: number): void => {
    for (let t = fromMs + 0.37; t < toMs; t += everyMs) {
      times.push(t);
      work.push(0.5 + (times.length % 7) * 0.5); // 20 to 140 ms
    }
  };
  add(0, 40_000, 100); // 10 requests/s
  add(40_000, 70_000, 25); // 40 requests/s
  add(90_000, 120_000, 200); // 5 requests/s after 20 s of silence
  const sc = smallScenario({
    duration: '2m',
    pools: [{ name: 'pool', replicasPerNode: 2, costPerHour: 1, minNodes: 1, maxNodes: 1 }],
    service: { serviceTime: { meanMs: 40, p95Ms: 40 }, concurrency: 16 },
    scaling: { minReplicas: 2, maxReplicas: 2, initialReplicas: 2 },
  });
  sc.traffic = { kind: 'replay', times: Float64Array.from(times), work: Float64Array.from(work), source: 'test', timeScale: 1 };
  const watcher = new SignalsWatcher();
  const run = simulate(sc, watcher, { initialReplicas: 2 });
  assert.equal(run.succeeded, times.length, 'every request served, none queued');
  assert.equal(run.maxQueueDepth, 0);

  // The same requests, reported to a recorder the way the gateway reports them to the signal hub.
  const recorder = new SignalRecorder({ stableWindowMs: 60_000, panicWindowMs: 6_000, startedAt: SIM_EPOCH_MS });
  const events = times.flatMap((t, i) => [
    { at: t, latencyMs: undefined },
    { at: t + 40 * work[i]!, latencyMs: 40 * work[i]! },
  ]);
  events.sort((a, b) => a.at - b.at);
  let next = 0;
  let inFlight = 0;
  recorder.recordConcurrency(SIM_EPOCH_MS, 0);
  recorder.recordQueueDepth(SIM_EPOCH_MS, 0);
  assert.equal(watcher.seen.length, 120);
  for (const { timeMs, signals } of watcher.seen) {
    for (; next < events.length && events[next]!.at < timeMs; next++) {
      const { at, latencyMs } = events[next]!;
      if (latencyMs === undefined) inFlight++;
      else {
        inFlight--;
        recorder.recordRequest(SIM_EPOCH_MS + at, latencyMs, 200);
      }
      recorder.recordConcurrency(SIM_EPOCH_MS + at, inFlight);
      recorder.recordQueueDepth(SIM_EPOCH_MS + at, 0);
    }
    const expected = recorder.windows(SIM_EPOCH_MS + timeMs);
    assertSameWindow(signals.stable, expected.stable, `stable at ${timeMs} ms`);
    assertSameWindow(signals.panic, expected.panic, `panic at ${timeMs} ms`);
    assert.equal(signals.lastRequestAt, recorder.lastRequestAt, `last request at ${timeMs} ms`);
  }
  const at = (sec: number) => watcher.seen[sec - 1]!.signals;
  assert.ok(Math.abs(at(60).stable.requestRate! - (40 * 10 + 19 * 40) / 59) < 1, `stable rate ${at(60).stable.requestRate}`);
  assert.equal(at(85).panic.requestRate, 0, 'silence is a rate of 0, not missing data');
  assert.equal(at(85).panic.p95Ms, undefined, 'and no latency');
});

test('a request turned away at a full queue never reaches the windows: the deciders see it as queue depth, as in the real gateway', () => {
  const sc = overloadedOneSlot();
  const watcher = new SignalsWatcher();
  const run = simulate(sc, watcher, { initialReplicas: 1 });
  assert.ok(run.rejected > run.arrivals * 0.7);
  const { stable } = watcher.seen[119]!.signals;
  assert.ok(Math.abs(stable.requestRate! - 10) < 1.5, `served about 10/s, not the 50/s offered: ${stable.requestRate}`);
  assert.equal(stable.errorRate, 0, 'every request a replica answered succeeded');
  assert.ok(stable.queueDepth! > 9, `the queue stays near its bound: ${stable.queueDepth}`);
  assert.ok(stable.concurrency! > 10, `one in service plus those waiting: ${stable.concurrency}`);
});

/** An on-prem pool of `onPremNodes` × 2 slots and an elastic pool (2 per node, 20 s to provision), placed on-prem first. */
function onPremFirst(overrides: Partial<ScenarioInput> = {}, onPremNodes = 1): ScenarioInput {
  return {
    name: 'hybrid-small',
    duration: '3m',
    slo: { latencyP95Ms: 250, coldStartMs: 5000 },
    pools: [
      { name: 'onprem', class: 'on-prem', replicasPerNode: 2, costPerHour: 1, minNodes: onPremNodes, maxNodes: onPremNodes },
      { name: 'cloud', class: 'elastic', replicasPerNode: 2, costPerHour: 2, minNodes: 0, maxNodes: 4, provisioningDelay: '20s' },
    ],
    service: { serviceTime: { meanMs: 50, p95Ms: 100 }, concurrency: 2, coldStart: { modelLoad: '3s' } },
    scaling: { minReplicas: 1, maxReplicas: 10, targetConcurrency: 2 },
    clusterAutoscaler: { scanInterval: '10s', pendingFor: '10s', emptyFor: '60s' },
    placement: 'on-prem-first',
    // 2 req/s: too few for the panic window's p95 (20 requests), so the stable window's p95 keeps the SLO clear of risk.
    traffic: { shape: { kind: 'constant', rps: 2 } },
    ...overrides,
  };
}

function resolved(input: ScenarioInput) {
  return resolveScenario(parseScenario(input, 'test scenario'), process.cwd(), 'test scenario');
}

test('on-prem-first: with on-prem full and the SLO not at risk, more replicas wait (on-prem-full) and no cloud node is bought; in-order buys one', () => {
  const sc = resolved(onPremFirst());
  const script = [{ atSec: 1, action: { desiredReplicas: 4 } }];
  const run = simulate(sc, new ScriptedController(script), { initialReplicas: 2 });
  assert.equal(run.placement, 'on-prem-first');
  assert.equal(run.series.readyReplicas[170], 2, 'the two on-prem replicas serve');
  assert.equal(run.series.replicas[170], 4, 'two more are wanted and wait');
  assert.equal(run.nodeHoursByClass.elastic, 0);
  assert.ok(run.services[0]!.pendingReplicaSeconds['on-prem-full'] >= 2 * 170, `${JSON.stringify(run.services[0]!.pendingReplicaSeconds)}`);
  assert.equal(run.onPremUtilization, 1, 'both on-prem slots held all along');

  const inOrder = simulate(sc, new ScriptedController(script), { initialReplicas: 2, placement: 'in-order' });
  assert.equal(inOrder.series.readyReplicas[170], 4);
  assert.ok(inOrder.nodeHoursByClass.elastic > 0, 'in-order sends the pending pods to a new cloud node');
});

test('on-prem-first: a service whose SLO is at risk bursts to the elastic pool', () => {
  // Two replicas of 2 slots serve about 80 req/s; 150 req/s builds a queue and p95 climbs.
  const sc = resolved(onPremFirst({ traffic: { shape: { kind: 'constant', rps: 150 } }, gateway: { maxQueue: 100_000, timeout: '60s' } }));
  const run = simulate(sc, new ScriptedController([{ atSec: 1, action: { desiredReplicas: 4 } }]), { initialReplicas: 2 });
  assert.ok(run.nodeHoursByClass.elastic > 0, 'a cloud node was bought');
  assert.equal(run.series.readyReplicas[170], 4);
  assert.equal(run.services[0]!.pendingReplicaSeconds['no-capacity'], 0);
});

test('on-prem-first: when on-prem frees, elastic replicas come back (new one first, then the elastic one drains) and the cloud node goes', () => {
  const input = onPremFirst(
    {
      duration: '4m',
      traffic: undefined,
      services: [
        { name: 'chat', priority: 10, traffic: { shape: { kind: 'constant', rps: 2 } } },
        { name: 'batch', priority: 1, traffic: { shape: { kind: 'constant', rps: 2 } } },
      ],
    },
    2,
  );
  const sc = resolved(input);
  // Four on-prem slots: chat (higher priority) takes 3, batch 1 on-prem and 2 on a cloud node; chat then drops to 1.
  const scripts = () => [
    new ScriptedController([{ atSec: 1, action: { desiredReplicas: 3 } }, { atSec: 30, action: { desiredReplicas: 1 } }]),
    new ScriptedController([{ atSec: 1, action: { desiredReplicas: 3 } }]),
  ];
  const run = simulate(sc, scripts(), { initialReplicas: [3, 3] });
  const [chat, batch] = run.services;
  assert.equal(chat!.moves, 0);
  assert.equal(batch!.moves, 2, "batch's two cloud replicas moved on-prem");
  for (let t = 31; t <= 240; t++) assert.ok(run.series.readyReplicas[t]! >= 4, `1 chat + 3 batch ready at ${t} s (make before break): ${run.series.readyReplicas[t]}`);
  assert.equal(run.series.nodes[239], 2, 'the emptied cloud node is removed');
  assert.ok(run.nodeHoursByClass.elastic < 120 / 3600, `cloud node-hours ${run.nodeHoursByClass.elastic}`);

  const inOrder = simulate(sc, scripts(), { initialReplicas: [3, 3], placement: 'in-order' });
  assert.equal(inOrder.series.nodes[239], 3, 'in-order leaves the cloud replicas where they are');
  assert.ok(inOrder.onPremUtilization < run.onPremUtilization, `${inOrder.onPremUtilization} vs ${run.onPremUtilization}`);
});

test('several services: one controller each, their own minutes; too few controllers is an error', () => {
  const sc = resolved(
    onPremFirst({
      placement: 'in-order',
      traffic: undefined,
      services: [
        { name: 'a', traffic: { shape: { kind: 'constant', rps: 10 } } },
        { name: 'b', team: 'other', priority: 3, traffic: { shape: { kind: 'constant', rps: 30 } } },
      ],
    }),
  );
  const run = simulate(sc, [new ScriptedController([]), new ScriptedController([])], { initialReplicas: [1, 1] });
  assert.deepEqual(run.services.map((s) => [s.name, s.team, s.priority, s.minutes.length]), [['a', 'a', 0, 3], ['b', 'other', 3, 3]]);
  assert.equal(run.services[0]!.arrivals + run.services[1]!.arrivals, run.arrivals);
  assert.ok(Math.abs(run.services[1]!.arrivals / run.services[0]!.arrivals - 3) < 0.5, 'each service draws its own traffic');
  assert.throws(() => simulate(sc, new ScriptedController([]), { initialReplicas: [1, 1] }), /has 2 services; give one controller each \(got 1\)/);
});
