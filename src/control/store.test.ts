import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseInferenceService } from '../api/index.ts';
import { Store } from './store.ts';

const svc = (spec: Record<string, unknown> = {}, name = 'fraud-detector') =>
  parseInferenceService({
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, labels: { team: 'payments' } },
    spec: { model: { uri: 'file://models/fraud-v1.onnx' }, ...spec },
  });

describe('Store', () => {
  it('creates a service at generation 1 with its first revision', () => {
    const store = new Store(':memory:');
    const r = store.apply(svc());
    assert.equal(r.created, true);
    assert.equal(r.service.metadata.generation, 1);
    assert.equal(r.newRevision?.name, 'fraud-detector-00001');
    assert.deepEqual(r.service.metadata.labels, { team: 'payments' });
  });

  it('re-applying the same spec changes nothing', () => {
    const store = new Store(':memory:');
    store.apply(svc());
    const r = store.apply(svc());
    assert.equal(r.created, false);
    assert.equal(r.changed, false);
    assert.equal(r.newRevision, undefined);
    assert.equal(r.service.metadata.generation, 1);
  });

  it('a scaling change bumps the generation but makes no revision', () => {
    const store = new Store(':memory:');
    store.apply(svc());
    const r = store.apply(svc({ scaling: { maxReplicas: 4 } }));
    assert.equal(r.changed, true);
    assert.equal(r.service.metadata.generation, 2);
    assert.equal(r.newRevision, undefined);
    assert.equal(store.listRevisions('default', 'fraud-detector').length, 1);
  });

  it('a model change makes the next revision and keeps the old one', () => {
    const store = new Store(':memory:');
    store.apply(svc());
    const r = store.apply(svc({ model: { uri: 'file://models/fraud-v2.onnx' } }));
    assert.equal(r.newRevision?.name, 'fraud-detector-00002');
    assert.equal(r.newRevision?.template.model.uri, 'file://models/fraud-v2.onnx');
    assert.deepEqual(store.listRevisions('default', 'fraud-detector').map((x) => x.number), [1, 2]);
  });

  it('writes status only when it differs', () => {
    const store = new Store(':memory:');
    store.apply(svc());
    assert.equal(store.setStatus('default', 'fraud-detector', { observedGeneration: 1 }), true);
    assert.equal(store.setStatus('default', 'fraud-detector', { observedGeneration: 1 }), false);
    assert.equal(store.getService('default', 'fraud-detector')?.status.observedGeneration, 1);
  });

  it('deletes a service with its revisions', () => {
    const store = new Store(':memory:');
    store.apply(svc());
    assert.equal(store.deleteService('default', 'fraud-detector'), true);
    assert.equal(store.getService('default', 'fraud-detector'), undefined);
    assert.equal(store.listRevisions('default', 'fraud-detector').length, 0);
    assert.equal(store.deleteService('default', 'fraud-detector'), false);
  });

  it('keeps everything across a reopen of the database file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'karb-store-'));
    try {
      const a = new Store(join(dir, 'karb.db'));
      a.apply(svc());
      a.apply(svc({ model: { uri: 'file://models/fraud-v2.onnx' } }));
      a.addEvent({ type: 'Normal', reason: 'Test', message: 'hello', namespace: 'default', service: 'fraud-detector' });
      a.close();
      const b = new Store(join(dir, 'karb.db'));
      assert.equal(b.getService('default', 'fraud-detector')?.metadata.generation, 2);
      assert.equal(b.listRevisions('default', 'fraud-detector').length, 2);
      assert.equal(b.listEvents()[0]?.message, 'hello');
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prunes revision history beyond the limit, oldest first, never a running one or the latest', () => {
    const store = new Store(':memory:');
    for (let i = 1; i <= 6; i++) store.apply(svc({ model: { uri: `file://models/m${i}.onnx` } }));
    const names = () => store.listRevisions('default', 'fraud-detector').map((r) => r.number);
    assert.deepEqual(store.pruneRevisions('default', 'fraud-detector', 2, new Set(['fraud-detector-00001'])), ['fraud-detector-00002', 'fraud-detector-00003']);
    assert.deepEqual(names(), [1, 4, 5, 6], 'kept: the running 00001, the latest, and the two newest others');
    assert.deepEqual(store.pruneRevisions('default', 'fraud-detector', 2, new Set(['fraud-detector-00001'])), [], 'a second pass deletes nothing');
    store.apply(svc({ model: { uri: 'file://models/m7.onnx' } }));
    assert.equal(store.listRevisions('default', 'fraud-detector').at(-1)!.name, 'fraud-detector-00007', 'numbers are never reused');
  });

  it('keeps a rollout record, writes it only when it changed, and deletes it with the service', () => {
    const store = new Store(':memory:');
    store.apply(svc());
    assert.equal(store.getRollout('default', 'fraud-detector'), undefined);
    assert.equal(store.setRollout('default', 'fraud-detector', { phase: 'Starting', weight: 0 }), true);
    assert.equal(store.setRollout('default', 'fraud-detector', { weight: 0, phase: 'Starting' }), false, 'same content, other key order');
    assert.deepEqual(store.getRollout('default', 'fraud-detector'), { phase: 'Starting', weight: 0 });
    store.deleteService('default', 'fraud-detector');
    assert.equal(store.getRollout('default', 'fraud-detector'), undefined);
  });

  it('notifies subscribers of new events in order', () => {
    const store = new Store(':memory:');
    const seen: string[] = [];
    const off = store.subscribe((e) => seen.push(e.reason));
    store.addEvent({ type: 'Normal', reason: 'A', message: '', namespace: 'default', service: 's' });
    off();
    store.addEvent({ type: 'Normal', reason: 'B', message: '', namespace: 'default', service: 's' });
    assert.deepEqual(seen, ['A']);
    assert.deepEqual(store.listEvents(1).map((e) => e.reason), ['B']);
  });
});
