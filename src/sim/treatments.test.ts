import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from './cluster.ts';
import { POLICIES, TreatmentController } from './treatments.ts';
import { smallScenario } from './test-support.ts';

test('every treatment runs its real decider within the spec bounds, on its own period', () => {
  const sc = smallScenario({
    duration: '6m',
    pools: [{ name: 'pool', replicasPerNode: 2, costPerHour: 1, minNodes: 1, maxNodes: 4, provisioningDelay: '20s' }],
    service: { serviceTime: { meanMs: 50, p95Ms: 100 }, concurrency: 2, coldStart: { modelLoad: '3s' } },
    scaling: { minReplicas: 1, maxReplicas: 6, targetConcurrency: 1.5, initialReplicas: 1 },
    traffic: { shape: { kind: 'steps', steps: [{ at: '0s', rps: 10 }, { at: '1m', rps: 120 }, { at: '4m', rps: 10 }] } },
  });
  for (const policy of POLICIES) {
    const ctl = new TreatmentController(policy, sc);
    assert.equal(ctl.periodMs, sc.decisionPeriodsMs[policy]);
    assert.equal(ctl.nodeManagement, policy === 'gascl' ? 'direct' : 'cluster-autoscaler');
    const run = simulate(sc, ctl, { initialReplicas: 1 });
    assert.ok(run.peakReplicas <= 6, `${policy} peaked at ${run.peakReplicas} replicas`);
    assert.ok(run.peakReplicas > 1, `${policy} scaled up under 12× load`);
    assert.ok(ctl.changes.every((c) => c.timeMs % ctl.periodMs === 0), `${policy} decided only on its period`);
    assert.ok(ctl.changes.every((c) => c.to >= 1 && c.to <= 6));
  }
});

test('gascl scales from zero for held requests and back to zero when idle', () => {
  const sc = smallScenario({
    duration: '5m',
    pools: [{ name: 'pool', replicasPerNode: 2, costPerHour: 1, minNodes: 1, maxNodes: 2 }],
    service: { serviceTime: { meanMs: 50, p95Ms: 100 }, concurrency: 2, coldStart: { modelLoad: '2s' } },
    scaling: { minReplicas: 0, maxReplicas: 4, targetConcurrency: 1.5, scaleToZeroAfter: '60s', initialReplicas: 0 },
    traffic: { shape: { kind: 'steps', steps: [{ at: '0s', rps: 0 }, { at: '30s', rps: 8 }, { at: '90s', rps: 0 }] } },
  });
  const run = simulate(sc, new TreatmentController('gascl', sc), { initialReplicas: 0 });
  assert.ok(run.arrivals > 300);
  assert.equal(run.rejected + run.timedOut, 0, 'requests that arrived at zero replicas were held, then served');
  assert.equal(run.succeeded, run.arrivals);
  assert.equal(run.series.replicas[29], 0);
  assert.ok(run.series.readyReplicas[40]! >= 1);
  assert.equal(run.series.replicas[300], 0, 'back to zero after 60 s without requests');
});
