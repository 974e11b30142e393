import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService } from '../api/index.ts';
import { planService, replicaTarget } from './plan.ts';
import { SqliteStore } from './sqlite-store.ts';
import { startRollout } from '../rollout/machine.ts';
import type { RolloutState } from '../rollout/types.ts';

function setup(minReplicas = 2) {
  const store = new SqliteStore(':memory:');
  const doc = (uri: string) =>
    parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'svc' }, spec: { model: { uri }, scaling: { minReplicas } } });
  store.apply(doc('file://a.onnx'));
  store.apply(doc('file://b.onnx'));
  return { service: store.getService('default', 'svc')!, revisions: store.listRevisions('default', 'svc') };
}

describe('planService', () => {
  const T0 = 1_000_000;
  const at = (phase: RolloutState['phase'], extra: Partial<RolloutState> = {}): RolloutState => ({ ...startRollout(setup().service.spec, 'svc-00002', 'svc-00001', T0).state, phase, ...extra });
  const cases: Array<{ name: string; rollout?: RolloutState; now?: number; replicas: Record<string, number>; traffic: Record<string, number>; serving: string; mirror?: boolean }> = [
    { name: 'without a rollout the latest revision serves everything', replicas: { 'svc-00002': 2 }, traffic: { 'svc-00002': 100 }, serving: 'svc-00002' },
    { name: 'a starting canary runs its share beside the full stable count, without traffic', rollout: at('Starting'), replicas: { 'svc-00001': 2, 'svc-00002': 1 }, traffic: { 'svc-00001': 100, 'svc-00002': 0 }, serving: 'svc-00001' },
    { name: 'a canary at 50% takes half the traffic; stable keeps every replica', rollout: at('Progressing', { step: 1, weight: 50 }), replicas: { 'svc-00001': 2, 'svc-00002': 1 }, traffic: { 'svc-00001': 50, 'svc-00002': 50 }, serving: 'svc-00001' },
    { name: 'promoting scales the canary to the full count before it takes everything', rollout: at('Promoting', { step: 1, weight: 50 }), replicas: { 'svc-00001': 2, 'svc-00002': 2 }, traffic: { 'svc-00001': 50, 'svc-00002': 50 }, serving: 'svc-00001' },
    { name: 'a succeeded canary serves alone; the old revision is removed', rollout: at('Succeeded', { weight: 100, scaleDownAt: T0 }), now: T0, replicas: { 'svc-00002': 2 }, traffic: { 'svc-00002': 100 }, serving: 'svc-00002' },
    { name: 'a failed canary takes no traffic and keeps one replica until its scale-down time', rollout: at('Failed', { weight: 0, scaleDownAt: T0 + 30_000 }), now: T0 + 1, replicas: { 'svc-00001': 2, 'svc-00002': 1 }, traffic: { 'svc-00001': 100, 'svc-00002': 0 }, serving: 'svc-00001' },
    { name: 'after the delay the failed canary is gone', rollout: at('Failed', { weight: 0, scaleDownAt: T0 + 30_000 }), now: T0 + 30_000, replicas: { 'svc-00001': 2 }, traffic: { 'svc-00001': 100 }, serving: 'svc-00001' },
    { name: 'a blue-green switch keeps the previous revision warm, without traffic', rollout: at('Succeeded', { strategy: 'blue-green', weight: 100, scaleDownAt: T0 + 30_000 }), now: T0, replicas: { 'svc-00001': 2, 'svc-00002': 2 }, traffic: { 'svc-00001': 0, 'svc-00002': 100 }, serving: 'svc-00002' },
    { name: 'a blue-green rollback serves the previous revision again', rollout: at('RolledBack', { strategy: 'blue-green', weight: 0, scaleDownAt: T0 + 30_000 }), now: T0, replicas: { 'svc-00001': 2, 'svc-00002': 2 }, traffic: { 'svc-00001': 100, 'svc-00002': 0 }, serving: 'svc-00001' },
    { name: 'a blue-green preview runs at full capacity, reachable only by header', rollout: at('Previewing', { strategy: 'blue-green' }), replicas: { 'svc-00001': 2, 'svc-00002': 2 }, traffic: { 'svc-00001': 100, 'svc-00002': 0 }, serving: 'svc-00001' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { service, revisions } = setup();
      const plan = planService({ service, revisions, ...(c.rollout ? { rollout: c.rollout } : {}), now: c.now ?? T0 });
      assert.deepEqual(Object.fromEntries(plan.replicas.map((r) => [r.revision, r.replicas])), c.replicas);
      assert.deepEqual(Object.fromEntries(plan.traffic.map((t) => [t.revision, t.weight])), c.traffic);
      assert.equal(plan.stableRevision, c.serving);
      assert.equal(plan.traffic.reduce((sum, t) => sum + t.weight, 0), 100, 'weights add up to 100');
    });
  }

  it('mirrors to the new revision only while it is judged and mirroring is on', () => {
    const { service, revisions } = setup();
    const mirrored = { ...service, spec: { ...service.spec, rollout: { ...service.spec.rollout, mirrorPercent: 25 } } };
    assert.deepEqual(planService({ service: mirrored, revisions, rollout: at('Progressing', { step: 0, weight: 10 }), now: T0 }).mirror, { revision: 'svc-00002', percent: 25 });
    assert.equal(planService({ service: mirrored, revisions, rollout: at('Starting'), now: T0 }).mirror, undefined);
    assert.equal(planService({ service, revisions, rollout: at('Progressing', { step: 0, weight: 10 }), now: T0 }).mirror, undefined);
  });

  it('keeps one replica warm when minReplicas is 0, and says so', () => {
    const { service } = setup(0);
    assert.deepEqual(replicaTarget(service), { replicas: 1, reason: 'WarmFloor', message: 'one replica is kept warm (scaling.minReplicas is 0)' });
    assert.equal(replicaTarget(setup(3).service).replicas, 3);
  });
});
