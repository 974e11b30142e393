/**
 * The contract every control-plane `Store` keeps, as one suite each
 * implementation's test runs (`describeStore('sqlite', factory)`): spec and
 * revision round trips, generation bumps, status and rollouts written only when
 * they changed, revision pruning, autoscaler records, and events in order with
 * their times from the injected clock.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService } from '../api/index.ts';
import { ManualClock } from '../util/clock.ts';
import type { AutoscalerRecord, Store } from './store.ts';

export interface StoreFactory {
  /** A fresh, empty store whose timestamps come from `clock`; `cleanup` leaves nothing behind for the next one. */
  create(clock: ManualClock): { store: Store; cleanup(): void | Promise<void> } | Promise<{ store: Store; cleanup(): void | Promise<void> }>;
}

const START = Date.UTC(2030, 0, 2, 3, 4, 5);

export const serviceFixture = (spec: Record<string, unknown> = {}, name = 'fraud-detector', namespace?: string) =>
  parseInferenceService({
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, ...(namespace ? { namespace } : {}), labels: { team: 'payments' } },
    spec: { model: { uri: 'file://models/fraud-v1.onnx' }, ...spec },
  });

export function describeStore(name: string, factory: StoreFactory): void {
  describe(`Store conformance: ${name}`, () => {
    const cleanups: Array<() => void | Promise<void>> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c();
    });
    const open = async () => {
      const clock = new ManualClock(START);
      const made = await factory.create(clock);
      cleanups.push(async () => {
        made.store.close();
        await made.cleanup();
      });
      return { clock, store: made.store };
    };

    it('creates a service at generation 1 with its first revision, stamped by the clock', async () => {
      const { store } = await open();
      const r = store.apply(serviceFixture());
      assert.equal(r.created, true);
      assert.equal(r.changed, true);
      assert.equal(r.service.metadata.generation, 1);
      assert.equal(r.newRevision?.name, 'fraud-detector-00001');
      assert.equal(r.newRevision?.number, 1);
      assert.deepEqual(r.service.metadata.labels, { team: 'payments' });
      assert.equal(r.service.metadata.creationTimestamp, new Date(START).toISOString());
      assert.equal(r.newRevision?.createdAt, new Date(START).toISOString());
      assert.deepEqual(r.service.status, {});
      assert.ok(r.service.metadata.uid.length > 0);
    });

    it('gives back the spec it was given and the revision template of model and resources', async () => {
      const { store } = await open();
      const applied = serviceFixture({ scaling: { maxReplicas: 4 }, resources: { requests: { cpu: '2' }, limits: { cpu: '4' } } });
      store.apply(applied);
      const got = store.getService('default', 'fraud-detector')!;
      assert.deepEqual(got.spec, applied.spec);
      assert.equal(got.apiVersion, 'karb.dev/v1alpha1');
      assert.equal(got.kind, 'InferenceService');
      const [revision] = store.listRevisions('default', 'fraud-detector');
      assert.deepEqual(revision!.template, { model: applied.spec.model, resources: applied.spec.resources });
      assert.equal(store.getService('default', 'nothing'), undefined);
    });

    it('re-applying the same spec changes nothing', async () => {
      const { store } = await open();
      store.apply(serviceFixture());
      const r = store.apply(serviceFixture());
      assert.equal(r.created, false);
      assert.equal(r.changed, false);
      assert.equal(r.newRevision, undefined);
      assert.equal(r.service.metadata.generation, 1);
    });

    it('a scaling change bumps the generation but makes no revision', async () => {
      const { store } = await open();
      store.apply(serviceFixture());
      const r = store.apply(serviceFixture({ scaling: { maxReplicas: 4 } }));
      assert.equal(r.changed, true);
      assert.equal(r.service.metadata.generation, 2);
      assert.equal(r.newRevision, undefined);
      assert.equal(store.listRevisions('default', 'fraud-detector').length, 1);
    });

    it('a model change makes the next revision and keeps the old one', async () => {
      const { store } = await open();
      store.apply(serviceFixture());
      const r = store.apply(serviceFixture({ model: { uri: 'file://models/fraud-v2.onnx' } }));
      assert.equal(r.newRevision?.name, 'fraud-detector-00002');
      assert.equal(r.newRevision?.template.model.uri, 'file://models/fraud-v2.onnx');
      assert.equal(r.service.metadata.generation, 2);
      assert.deepEqual(store.listRevisions('default', 'fraud-detector').map((x) => x.number), [1, 2]);
    });

    it('lists services by namespace and name, and finds a name across namespaces', async () => {
      const { store } = await open();
      store.apply(serviceFixture({}, 'b', 'team-x'));
      store.apply(serviceFixture({}, 'a', 'team-x'));
      store.apply(serviceFixture({}, 'b', 'default'));
      const key = (s: { metadata: { namespace: string; name: string } }) => `${s.metadata.namespace}/${s.metadata.name}`;
      assert.deepEqual(store.listServices().map(key), ['default/b', 'team-x/a', 'team-x/b']);
      assert.deepEqual(store.listServices('team-x').map(key), ['team-x/a', 'team-x/b']);
      assert.deepEqual(store.findByName('b').map(key).sort(), ['default/b', 'team-x/b']);
      assert.deepEqual(store.findByName('c'), []);
    });

    it('writes status only when it differs', async () => {
      const { store } = await open();
      store.apply(serviceFixture());
      assert.equal(store.setStatus('default', 'fraud-detector', { observedGeneration: 1 }), true);
      assert.equal(store.setStatus('default', 'fraud-detector', { observedGeneration: 1 }), false);
      assert.equal(store.getService('default', 'fraud-detector')?.status.observedGeneration, 1);
      assert.equal(store.setStatus('default', 'nothing', { observedGeneration: 1 }), false, 'no service, nothing written');
      store.apply(serviceFixture({ scaling: { maxReplicas: 4 } }));
      assert.equal(store.getService('default', 'fraud-detector')?.status.observedGeneration, 1, 'an apply keeps the status karb wrote');
    });

    it('deletes a service with its revisions, rollout and autoscaler record', async () => {
      const { store } = await open();
      store.apply(serviceFixture());
      store.setRollout('default', 'fraud-detector', { phase: 'Starting' });
      store.setAutoscaler('default', 'fraud-detector', autoscalerRecord(2));
      assert.equal(store.deleteService('default', 'fraud-detector'), true);
      assert.equal(store.getService('default', 'fraud-detector'), undefined);
      assert.equal(store.listRevisions('default', 'fraud-detector').length, 0);
      assert.equal(store.getRollout('default', 'fraud-detector'), undefined);
      assert.equal(store.getAutoscaler('default', 'fraud-detector'), undefined);
      assert.equal(store.deleteService('default', 'fraud-detector'), false);
    });

    it('prunes revision history beyond the limit, oldest first, never a running one or the latest', async () => {
      const { store } = await open();
      for (let i = 1; i <= 6; i++) store.apply(serviceFixture({ model: { uri: `file://models/m${i}.onnx` } }));
      const numbers = () => store.listRevisions('default', 'fraud-detector').map((r) => r.number);
      assert.deepEqual(store.pruneRevisions('default', 'fraud-detector', 2, new Set(['fraud-detector-00001'])), ['fraud-detector-00002', 'fraud-detector-00003']);
      assert.deepEqual(numbers(), [1, 4, 5, 6], 'kept: the running 00001, the latest, and the two newest others');
      assert.deepEqual(store.pruneRevisions('default', 'fraud-detector', 2, new Set(['fraud-detector-00001'])), [], 'a second pass deletes nothing');
      store.apply(serviceFixture({ model: { uri: 'file://models/m7.onnx' } }));
      assert.equal(store.listRevisions('default', 'fraud-detector').at(-1)!.name, 'fraud-detector-00007', 'numbers are never reused');
      store.deleteRevision('default', 'fraud-detector-00004');
      assert.deepEqual(numbers(), [1, 5, 6, 7]);
    });

    it('keeps a rollout record, writes it only when it changed, and deletes it with the service', async () => {
      const { store } = await open();
      store.apply(serviceFixture());
      assert.equal(store.getRollout('default', 'fraud-detector'), undefined);
      assert.equal(store.setRollout('default', 'fraud-detector', { phase: 'Starting', weight: 0 }), true);
      assert.equal(store.setRollout('default', 'fraud-detector', { weight: 0, phase: 'Starting' }), false, 'same content, other key order');
      assert.deepEqual(store.getRollout('default', 'fraud-detector'), { phase: 'Starting', weight: 0 });
      assert.equal(store.setRollout('default', 'fraud-detector', { phase: 'Progressing', weight: 5 }), true);
      assert.deepEqual(store.getRollout('default', 'fraud-detector'), { phase: 'Progressing', weight: 5 });
      store.deleteService('default', 'fraud-detector');
      assert.equal(store.getRollout('default', 'fraud-detector'), undefined);
    });

    it("keeps each service's autoscaler record, its decider state included, and replaces it whole", async () => {
      const { store } = await open();
      store.apply(serviceFixture());
      store.apply(serviceFixture({}, 'other'));
      assert.equal(store.getAutoscaler('default', 'fraud-detector'), undefined);
      const first = autoscalerRecord(3, { decider: 'gascl', since: 42, windows: [1, 2] });
      store.setAutoscaler('default', 'fraud-detector', first);
      assert.deepEqual(store.getAutoscaler('default', 'fraud-detector'), first);
      assert.equal(store.getAutoscaler('default', 'other'), undefined, 'per service');
      const second = autoscalerRecord(0);
      store.setAutoscaler('default', 'fraud-detector', second);
      assert.deepEqual(store.getAutoscaler('default', 'fraud-detector'), second, 'no state left from the first record');
    });

    it('numbers events in the order they are added, stamps them with the clock, and lists them after an id', async () => {
      const { store, clock } = await open();
      const a = store.addEvent({ type: 'Normal', reason: 'A', message: 'first', namespace: 'default', service: 's' });
      clock.advance(1_500);
      const b = store.addEvent({ type: 'Warning', reason: 'B', message: 'second', namespace: 'default', service: 's', revision: 's-00001', replica: 's-00001-abcde' });
      const c = store.addEvent({ type: 'Normal', reason: 'C', message: 'third', namespace: 'default', service: 's', time: '2031-01-01T00:00:00.000Z' });
      assert.ok(a.id < b.id && b.id < c.id);
      assert.equal(a.time, new Date(START).toISOString());
      assert.equal(b.time, new Date(START + 1_500).toISOString());
      assert.equal(c.time, '2031-01-01T00:00:00.000Z', 'a given time is kept');
      assert.deepEqual(store.listEvents(), [a, b, c]);
      assert.deepEqual(store.listEvents(a.id).map((e) => e.reason), ['B', 'C']);
      assert.deepEqual(store.listEvents(0, 2).map((e) => e.reason), ['A', 'B']);
      assert.deepEqual(store.listEvents(c.id), []);
    });

    it('notifies subscribers of new events in order', async () => {
      const { store } = await open();
      const seen: string[] = [];
      const off = store.subscribe((e) => seen.push(e.reason));
      const first = store.addEvent({ type: 'Normal', reason: 'A', message: '', namespace: 'default', service: 's' });
      store.addEvent({ type: 'Normal', reason: 'B', message: '', namespace: 'default', service: 's' });
      off();
      store.addEvent({ type: 'Normal', reason: 'C', message: '', namespace: 'default', service: 's' });
      assert.deepEqual(seen, ['A', 'B']);
      assert.deepEqual(store.listEvents(first.id).map((e) => e.reason), ['B', 'C'], 'every event is stored, listened to or not');
    });
  });
}

function autoscalerRecord(desiredReplicas: number, state?: Record<string, unknown>): AutoscalerRecord {
  return { desiredReplicas, reason: 'Concurrency', message: `1→${desiredReplicas}`, panic: false, decidedAt: START, ...(state ? { state } : {}) };
}
