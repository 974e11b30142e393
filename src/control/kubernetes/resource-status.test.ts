import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromResourceStatus, toResourceStatus } from './resource-status.ts';
import type { InferenceServiceStatus } from '../../api/index.ts';

const NOW = new Date('2026-12-07T10:00:00.000Z');
const LATER = new Date('2026-12-07T10:05:00.000Z');

const reconciled: InferenceServiceStatus = {
  observedGeneration: 3,
  latestRevision: 'fraud-00002',
  stableRevision: 'fraud-00001',
  revisions: [
    { name: 'fraud-00001', ready: 3, desired: 3, traffic: 90 },
    { name: 'fraud-00002', ready: 0, desired: 1, traffic: 10 },
  ],
  rollout: { phase: 'Progressing', step: '1/2', reason: 'StepStarted', message: 'fraud-00002 at 10%' },
  conditions: [{ type: 'Ready', status: 'True', reason: 'RevisionReady', message: 'ok', lastTransitionTime: '2026-12-07T09:00:00.000Z' }],
};

test('the resource status adds what Kubernetes tools read: scale fields, columns, conditions with observedGeneration', () => {
  const out = toResourceStatus(reconciled, { autoscaler: { desiredReplicas: 3, reason: 'Concurrency', message: 'm', panic: false, decidedAt: 1 } }, 3, undefined, NOW) as Record<string, any>;
  assert.equal(out.replicas, 3);
  assert.equal(out.selector, 'karb.dev/revision=fraud-00001');
  assert.deepEqual(out.summary, { replicas: '3/3', traffic: '00001=90%,00002=10%', rollout: 'Progressing 1/2' });
  const byType = Object.fromEntries(out.conditions.map((c: any) => [c.type, c]));
  assert.equal(byType.Ready.observedGeneration, 3);
  assert.equal(byType.Ready.lastTransitionTime, '2026-12-07T09:00:00.000Z', 'the reconciler’s time is kept');
  assert.deepEqual([byType.RevisionsReady.status, byType.RevisionsReady.message], ['False', 'fraud-00002 0/1 ready']);
  assert.deepEqual([byType.RolloutProgressing.status, byType.RolloutProgressing.reason], ['True', 'StepStarted']);
  assert.equal(out.controllerState.autoscaler.desiredReplicas, 3);
});

test('a derived condition keeps its transition time while its status stays, and moves when it changes', () => {
  const first = toResourceStatus(reconciled, {}, 3, undefined, NOW) as Record<string, any>;
  const same = toResourceStatus(reconciled, {}, 3, first, LATER) as Record<string, any>;
  assert.equal(same.conditions.find((c: any) => c.type === 'RevisionsReady').lastTransitionTime, NOW.toISOString());
  const allReady = { ...reconciled, revisions: reconciled.revisions!.map((r) => ({ ...r, ready: r.desired })) };
  const moved = toResourceStatus(allReady, {}, 3, first, LATER) as Record<string, any>;
  assert.equal(moved.conditions.find((c: any) => c.type === 'RevisionsReady').lastTransitionTime, LATER.toISOString());
});

test('read back, the status is the reconciler’s again and the state is the controller’s, so a restart writes nothing new', () => {
  const state = { rollout: { phase: 'Progressing', step: 0 }, autoscaler: { desiredReplicas: 2, reason: 'Concurrency' as const, message: 'm', panic: false, decidedAt: 5 } };
  const back = fromResourceStatus(toResourceStatus(reconciled, state, 3, undefined, NOW));
  assert.deepEqual(back.status, reconciled);
  assert.deepEqual(back.state, state);
  assert.deepEqual(fromResourceStatus(undefined), { status: {}, state: {} });
});

test('RolloutProgressing is True in every active phase (a blue-green preview, a promotion) and False once the rollout ended', () => {
  const phases: Array<[string, string]> = [
    ['Starting', 'True'],
    ['Progressing', 'True'],
    ['Previewing', 'True'],
    ['Promoting', 'True'],
    ['Succeeded', 'False'],
    ['Failed', 'False'],
    ['Aborted', 'False'],
    ['RolledBack', 'False'],
  ];
  for (const [phase, want] of phases) {
    const out = toResourceStatus({ ...reconciled, rollout: { phase, reason: 'R', message: 'm' } }, {}, 3, undefined, NOW) as Record<string, any>;
    assert.equal(out.conditions.find((c: any) => c.type === 'RolloutProgressing').status, want, phase);
  }
});

test('the guard after promotion survives in status: a restarted controller goes on watching (and knows a rollback it made)', () => {
  const guard = {
    phase: 'Watching',
    since: NOW.getTime(),
    until: NOW.getTime() + 600_000,
    last: { at: NOW.getTime() + 10_000, verdict: 'Hold', message: 'burn rates within 14.4×', long: { ms: 10_000, requests: 80, burnRates: { availability: 0, latency: 1.25 } } },
  };
  const state = { rollout: { phase: 'Succeeded', revision: 'fraud-00002', stable: 'fraud-00001', scaleDownAt: NOW.getTime(), guard } };
  // Through JSON, as the API server stores it.
  const back = fromResourceStatus(JSON.parse(JSON.stringify(toResourceStatus(reconciled, state, 3, undefined, NOW))));
  assert.deepEqual(back.state, state);
});
