import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService } from '../api/index.ts';
import { replicaTarget } from './plan.ts';
import type { Store } from './store.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { Endpoint, ReplicaStatus, ReplicaUsage, Runtime } from '../runtime/types.ts';
import { ManualClock } from '../util/clock.ts';
import { SignalHub } from '../observability/hub.ts';
import { AutoscalerLoop, holdDuringRollout, serviceWindows, windowsFor, type AutoscalerLoopOptions } from './autoscaling-loop.ts';
import type { AutoscalerRecord } from './store.ts';
import { startRollout } from '../rollout/machine.ts';
import type { RolloutState } from '../rollout/types.ts';
import { scalingInputFromSpec, type ScaleReason } from '../autoscaler/index.ts';

/**
 * The loop only reads replicas, endpoints and usage; this holds `n` ready
 * replicas of one revision and what each used, set by the test.
 */
class ReadyReplicas implements Runtime {
  n = 1;
  revision = 'svc-00001';
  /** CPU and GPU use by replica name; a replica not listed has no figures (not measured). */
  used = new Map<string, Pick<ReplicaUsage, 'cpuCores' | 'gpuUtilization'>>();
  async ensureRevision(): Promise<void> {}
  async removeRevision(): Promise<void> {}
  revisions() {
    return [{ namespace: 'default', service: 'svc', revision: this.revision, replicas: this.n }];
  }
  replicas(): ReplicaStatus[] {
    return Array.from({ length: this.n }, (_, i) => ({ name: `${this.revision}-r${i}`, revision: this.revision, service: 'svc', namespace: 'default', phase: 'Ready' as const, restarts: 0, startedAt: 0, readyAt: 500 }));
  }
  endpoints(): Endpoint[] {
    return this.replicas().map((r) => ({ replica: r.name, revision: r.revision, service: 'svc', namespace: 'default', url: `http://127.0.0.1:${9000 + Number(r.name.slice(-1))}` }));
  }
  usage(): ReplicaUsage[] {
    return this.replicas().map((r) => ({ replica: r.name, namespace: r.namespace, service: r.service, revision: r.revision, ...this.used.get(r.name) }));
  }
  onEvent(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}
}

const GASCL_SCALING = { policy: 'gascl', minReplicas: 0, maxReplicas: 3, targetConcurrency: 1, scaleToZeroAfter: '10s', stabilization: { upSeconds: 0, downSeconds: 5 } };

const service = (scaling: Record<string, unknown>) =>
  parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'svc' }, spec: { model: { uri: 'file://m.onnx' }, scaling } });

function setup(scaling: Record<string, unknown> = GASCL_SCALING, options: Pick<AutoscalerLoopOptions, 'decidedElsewhere' | 'capacity'> = {}) {
  const clock = new ManualClock(1_700_000_000_000);
  const store = new SqliteStore(':memory:', { clock });
  store.apply(service(scaling));
  const runtime = new ReadyReplicas();
  const hub = new SignalHub({ clock });
  const changed: string[] = [];
  const loop = new AutoscalerLoop({ store, runtime, hub, clock, onDesiredChanged: (_ns, name) => changed.push(name), ...options });
  /** Advances time by whole periods, ticking as the started loop would. */
  const run = (ms: number) => clock.advance(ms);
  return { clock, store, runtime, hub, loop, changed, run };
}

const desired = (store: Store) => store.getAutoscaler('default', 'svc')?.desiredReplicas;
const scaleEvents = (store: Store) => store.listEvents().filter((e) => e.message.includes('→')).map((e) => `${e.reason}: ${e.message}`);

describe('AutoscalerLoop', () => {
  it('scales up with concurrency, to zero after the idle period, and back to one when a request is held', () => {
    const { store, runtime, hub, loop, changed, run } = setup();
    loop.start();
    run(2_000);
    assert.equal(desired(store), 1, 'idle but not long enough: one replica stays');

    for (let i = 0; i < 3; i++) hub.requestStarted('svc', 'svc-00001');
    run(2_000);
    assert.equal(desired(store), 3, 'three requests in flight at a target of one each');
    assert.deepEqual(changed, ['svc']);
    assert.match(scaleEvents(store)[0]!, /^(Concurrency|Panic): 1→3: /);

    runtime.n = 3;
    for (let i = 0; i < 3; i++) hub.requestFinished('svc', 'svc-00001', 'http://127.0.0.1:9000', 40, 200, 0);
    run(8_000);
    assert.equal(desired(store), 3, 'not idle for scaleToZeroAfter yet');
    run(10_000);
    assert.equal(desired(store), 0, 'idle for 10 s: to zero');
    assert.match(scaleEvents(store).at(-1)!, /^ScaleToZero: 3→0: no requests for 1\d(\.\d+)? s/);
    assert.equal(store.getAutoscaler('default', 'svc')?.panic, false);

    runtime.n = 0;
    run(2_000);
    assert.equal(desired(store), 0, 'stays at zero without traffic');
    loop.activate('default', 'svc');
    assert.equal(desired(store), 1, 'a held request activates at once');
    assert.match(scaleEvents(store).at(-1)!, /^Activation: 0→1/);
    assert.equal(changed.at(-1), 'svc');

    // The held request is queue depth: the next tick keeps the replica the activation asked for.
    hub.heldChanged('svc', 1);
    run(2_000);
    assert.equal(desired(store), 1);
    loop.stop();
  });

  it('keeps its decider state in the store, so a new loop continues where the last one stopped', () => {
    const { clock, store, runtime, hub, loop, run } = setup();
    loop.start();
    run(2_000);
    loop.stop();
    const before = store.getAutoscaler('default', 'svc')!;
    assert.equal((before.state as { decider?: string }).decider, 'gascl');
    const since = (before.state as { since: number }).since;

    // A restart: a new hub and loop on the same store; idle time still counts from the first decision.
    const again = new AutoscalerLoop({ store, runtime, hub: new SignalHub({ clock }), clock, onDesiredChanged: () => {} });
    again.start();
    run(10_000);
    again.stop();
    assert.equal((store.getAutoscaler('default', 'svc')!.state as { since: number }).since, since);
    assert.equal(desired(store), 0);
    void hub;
    store.deleteService('default', 'svc');
    assert.equal(store.getAutoscaler('default', 'svc'), undefined, 'the decision goes with the service');
  });

  it('given the pool’s capacity, records the nodes gascl asks for; a change of them alone asks for a pass, with the decision’s message', () => {
    const scaling = { policy: 'gascl', minReplicas: 2, maxReplicas: 3, targetConcurrency: 1, stabilization: { upSeconds: 0, downSeconds: 0 } };
    const asked: string[] = [];
    const { store, runtime, loop, changed, run } = setup(scaling, {
      capacity: (s) => {
        asked.push(s.metadata.name);
        return { replicasPerNode: 1, currentNodes: 3, maxNodes: 3 };
      },
    });
    runtime.n = 2;
    loop.start();
    run(4_000);
    assert.ok(asked.length > 0 && asked.every((n) => n === 'svc'), 'asked for the service’s capacity each tick');
    const first = store.getAutoscaler('default', 'svc')!;
    assert.equal(first.desiredReplicas, 2);
    assert.equal(first.desiredNodes, undefined, 'two replicas fit the three nodes; too soon to give any back');
    assert.deepEqual(changed, []);

    // A node delay of history: two of the three nodes have been enough all along.
    run(60_000);
    const release = store.getAutoscaler('default', 'svc')!;
    assert.deepEqual([release.desiredReplicas, release.desiredNodes], [2, 2]);
    assert.match(release.message, /; 2 of 3 nodes needed for 60 s$/);
    assert.deepEqual(changed, ['svc'], 'the same replicas, other nodes: a pass is due');
    run(4_000);
    assert.deepEqual(changed, ['svc'], 'nothing new, no pass');

    // One replica wanted: the nodes the last 60 s needed are kept, so two nodes for one replica.
    store.apply(service({ ...scaling, minReplicas: 1 }));
    run(2_000);
    const down = store.getAutoscaler('default', 'svc')!;
    assert.deepEqual([down.desiredReplicas, down.desiredNodes], [1, 2]);
    assert.deepEqual(changed, ['svc', 'svc']);
    loop.stop();
  });

  it("feeds each replica's CPU use from the runtime into the pods the decider sees, relative to the cores it requests", () => {
    const { clock, store, runtime, hub, loop } = setup();
    runtime.n = 2;
    runtime.used.set('svc-00001-r0', { cpuCores: 0.5 }); // half a core at a request of 1 core: 50%
    loop.tick();
    const cpu = hub.recorder('svc-00001')!.podCpu(clock.now());
    assert.equal(cpu.get('svc-00001-r0'), 0.5);
    assert.equal(cpu.get('svc-00001-r1'), undefined, 'not measured: missing, not zero');

    store.apply(
      parseInferenceService({
        apiVersion: 'karb.dev/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: 'svc' },
        spec: { model: { uri: 'file://m.onnx' }, resources: { requests: { cpu: '2' }, limits: { cpu: '4' } }, scaling: store.getService('default', 'svc')!.spec.scaling },
      }),
    );
    runtime.revision = 'svc-00002';
    runtime.used = new Map([['svc-00002-r0', { cpuCores: 1.5 }]]);
    loop.tick();
    assert.equal(hub.recorder('svc-00002')!.podCpu(clock.now()).get('svc-00002-r0'), 0.75, '1.5 cores of a 2-core request');
  });
});

describe('AutoscalerLoop with a service another autoscaler decides (a cluster’s HPA)', () => {
  it('asks no decider: the count stays until spec.scaling.replicas is set, which is obeyed; the windows fill as ever', () => {
    const scaling = { policy: 'hpa-service', minReplicas: 1, maxReplicas: 3, targetConcurrency: 1, stabilization: { upSeconds: 0, downSeconds: 5 } };
    const HPA = 'the HorizontalPodAutoscaler svc decides';
    const { clock, store, hub, loop, changed, run } = setup(scaling, { decidedElsewhere: (s) => (s.spec.scaling.policy === 'hpa-service' ? HPA : undefined) });
    loop.start();
    for (let i = 0; i < 3; i++) hub.requestStarted('svc', 'svc-00001');
    run(20_000);
    assert.equal(desired(store), undefined, 'nothing decided: the reconciler keeps its floor (karb’s own hpa-service would have asked for 3)');
    assert.deepEqual(changed, []);
    const windows = serviceWindows(store, hub, store.getService('default', 'svc')!, clock.now());
    assert.equal(windows?.stable.concurrency, 3, 'what the HPA reads through the custom metrics API');

    store.apply(service({ ...scaling, replicas: 2 }));
    run(2_000);
    assert.equal(desired(store), 2);
    assert.equal(store.getAutoscaler('default', 'svc')!.reason, 'ReplicasPinned');
    assert.deepEqual(changed, ['svc']);

    // Unpinned (the HPA removed): the count stays, and the reason says who decides it.
    store.apply(service(scaling));
    run(20_000);
    const record = store.getAutoscaler('default', 'svc')!;
    assert.equal(record.desiredReplicas, 2);
    assert.equal(record.reason, 'NoData');
    assert.equal(record.message, `kept at 2: ${HPA}`);
    loop.stop();
  });
});

describe('replicaTarget with the autoscaler', () => {
  it("bounds GASCL's queue projection by what the gateways can hold for the ready replicas", () => {
    const { clock, store, runtime, hub, loop, run } = setup({ ...GASCL_SCALING, minReplicas: 1, maxReplicas: 50 });
    runtime.n = 1;
    // A replica took 60 s to start: the queue would grow for a minute before another could help.
    const replicas = runtime.replicas.bind(runtime);
    runtime.replicas = () => replicas().map((r) => ({ ...r, readyAt: 60_000 }));
    let queued = 0;
    hub.countGatewayQueue(() => queued);
    assert.equal(hub.gateways(), 1, 'the gateway in this process');
    loop.start();
    run(2_000);
    // 40 requests/s are answered in 20 ms while the gateway's queue climbs 40/s for 6 s.
    for (let tenth = 0; tenth < 60; tenth++) {
      for (let k = 0; k < 4; k++) {
        hub.requestStarted('svc', 'svc-00001');
        hub.requestFinished('svc', 'svc-00001', 'http://127.0.0.1:9000', 20, 200, 0, 5);
      }
      queued += 4;
      hub.heldChanged('svc', 0); // the gauges are sampled as the gateway's state changes
      clock.advance(100);
    }
    const decision = store.getAutoscaler('default', 'svc')!;
    assert.equal(decision.reason, 'ColdStartLead', decision.message);
    // concurrencyLimit max(4 × 1, 2 × 32) = 64: one gateway queues 2 × 64 for its one ready replica, which takes 64.
    assert.match(decision.message, /, at most 192 waiting/);
    loop.stop();
  });

  it('runs the desired count within the spec bounds, zero included', () => {
    const { store } = setup();
    const svc = store.getService('default', 'svc')!;
    assert.deepEqual(replicaTarget(svc, { desiredReplicas: 0, message: '1→0' }), { replicas: 0, reason: 'Autoscaler', message: '1→0' });
    assert.equal(replicaTarget(svc, { desiredReplicas: 9, message: '' }).replicas, 3, 'capped at maxReplicas');
    assert.equal(replicaTarget(svc).reason, 'WarmFloor', 'before any decision: one warm replica');
  });
});

describe('windowsFor', () => {
  it('shortens the stable window to scaleToZeroAfter for services that scale to zero', () => {
    const base = scalingInputFromSpec(parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'a' }, spec: { model: { uri: 'file://m.onnx' } } }).spec);
    assert.deepEqual(windowsFor({ ...base, minReplicas: 1 }), { stableWindowMs: 60_000, panicWindowMs: 6_000 });
    assert.deepEqual(windowsFor({ ...base, minReplicas: 0, scaleToZeroAfterMs: 10_000 }), { stableWindowMs: 10_000, panicWindowMs: 6_000 });
    assert.deepEqual(windowsFor({ ...base, minReplicas: 0, scaleToZeroAfterMs: 1_000 }), { stableWindowMs: 6_000, panicWindowMs: 6_000 });
    assert.deepEqual(windowsFor({ ...base, minReplicas: 0, scaleToZeroAfterMs: 300_000 }), { stableWindowMs: 60_000, panicWindowMs: 6_000 });
  });
});

describe('AutoscalerLoop GPU signal', () => {
  it("records each replica's GPU utilization from the runtime, and leaves it missing without it", () => {
    const { clock, hub, runtime, loop } = setup();
    runtime.n = 2;
    runtime.used.set('svc-00001-r0', { gpuUtilization: 0.8 });
    runtime.used.set('svc-00001-r1', { gpuUtilization: 0.4 });
    loop.tick();
    const withGpu = hub.recorder('svc-00001')!.windows(clock.now());
    assert.ok(Math.abs(withGpu.panic.gpuUtilization! - 0.6) < 1e-9, `mean of 80% and 40%: ${withGpu.panic.gpuUtilization}`);

    const none = setup();
    none.runtime.n = 2;
    none.loop.tick();
    assert.equal(none.hub.recorder('svc-00001')!.windows(none.clock.now()).panic.gpuUtilization, undefined, 'no GPU: missing, not zero');
  });
});

describe('holdDuringRollout', () => {
  const rec = (desiredReplicas: number, reason: ScaleReason = 'Concurrency'): AutoscalerRecord => ({ desiredReplicas, reason, message: `${reason} ${desiredReplicas}`, panic: false, decidedAt: 0 });
  const spec = parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'svc' }, spec: { model: { uri: 'file://m.onnx' } } }).spec;
  const rollout = (phase: RolloutState['phase']): RolloutState => ({ ...startRollout(spec, 'svc-00002', 'svc-00001', 0).state, phase });
  const cases: Array<{ name: string; next: number; prev?: number; phase?: RolloutState['phase']; want: number; reason: string }> = [
    { name: 'no rollout: the decision stands', next: 1, prev: 3, want: 1, reason: 'Concurrency' },
    { name: 'a rollout in progress holds the count', next: 1, prev: 3, phase: 'Progressing', want: 3, reason: 'RolloutHold' },
    { name: 'scale-up is never held', next: 5, prev: 3, phase: 'Progressing', want: 5, reason: 'Concurrency' },
    { name: 'a finished rollout holds nothing', next: 1, prev: 3, phase: 'Succeeded', want: 1, reason: 'Concurrency' },
    { name: 'nothing to hold before a first decision', next: 1, phase: 'Starting', want: 1, reason: 'Concurrency' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = holdDuringRollout(rec(c.next), c.prev === undefined ? undefined : rec(c.prev), c.phase ? rollout(c.phase) : undefined);
      assert.equal(got.desiredReplicas, c.want);
      assert.equal(got.reason, c.reason);
      if (c.reason === 'RolloutHold') assert.match(got.message, /^kept at 3: no scale-down while svc-00002 rolls out/);
    });
  }
});
