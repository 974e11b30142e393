import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService } from '../api/index.ts';
import { planService, replicaTarget } from './plan.ts';
import { Store } from './store.ts';

function setup(minReplicas = 2) {
  const store = new Store(':memory:');
  const doc = (uri: string) =>
    parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'svc' }, spec: { model: { uri }, scaling: { minReplicas } } });
  store.apply(doc('file://a.onnx'));
  store.apply(doc('file://b.onnx'));
  return { service: store.getService('default', 'svc')!, revisions: store.listRevisions('default', 'svc') };
}

describe('planService', () => {
  const cases: Array<{ name: string; stable?: string; ready: Record<string, number>; replicas: Record<string, number>; traffic: Record<string, number>; nextStable: string; promoted: boolean }> = [
    { name: 'first deploy routes to the only revision at once', stable: undefined, ready: {}, replicas: { 'svc-00002': 2 }, traffic: { 'svc-00002': 100 }, nextStable: 'svc-00002', promoted: true },
    { name: 'a new revision starts beside the stable one, which keeps all traffic', stable: 'svc-00001', ready: { 'svc-00001': 2, 'svc-00002': 1 }, replicas: { 'svc-00001': 2, 'svc-00002': 2 }, traffic: { 'svc-00001': 100 }, nextStable: 'svc-00001', promoted: false },
    { name: 'traffic moves once the new revision is fully ready', stable: 'svc-00001', ready: { 'svc-00001': 2, 'svc-00002': 2 }, replicas: { 'svc-00002': 2 }, traffic: { 'svc-00002': 100 }, nextStable: 'svc-00002', promoted: true },
    { name: 'steady state keeps the stable revision', stable: 'svc-00002', ready: { 'svc-00002': 2 }, replicas: { 'svc-00002': 2 }, traffic: { 'svc-00002': 100 }, nextStable: 'svc-00002', promoted: false },
    { name: 'an unknown stable revision is treated as none', stable: 'svc-00009', ready: {}, replicas: { 'svc-00002': 2 }, traffic: { 'svc-00002': 100 }, nextStable: 'svc-00002', promoted: true },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { service, revisions } = setup();
      const plan = planService({ service, revisions, ready: new Map(Object.entries(c.ready)), ...(c.stable ? { stableRevision: c.stable } : {}) });
      assert.deepEqual(Object.fromEntries(plan.replicas.map((r) => [r.revision, r.replicas])), c.replicas);
      assert.deepEqual(Object.fromEntries(plan.traffic.map((t) => [t.revision, t.weight])), c.traffic);
      assert.equal(plan.stableRevision, c.nextStable);
      assert.equal(plan.promoted !== undefined, c.promoted);
    });
  }

  it('keeps one replica warm when minReplicas is 0, and says so', () => {
    const { service } = setup(0);
    assert.deepEqual(replicaTarget(service), { replicas: 1, reason: 'WarmFloor', message: 'one replica is kept warm (scaling.minReplicas is 0)' });
    assert.equal(replicaTarget(setup(3).service).replicas, 3);
  });
});
