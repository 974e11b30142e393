import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService } from '../api/index.ts';
import { decide, deciderFor, gascl, hpaCpu, hpaService, kedaQueue, scalingInputFromSpec } from './index.ts';
import { baseSpec, signalsOf } from './test-support.ts';

const service = (scaling: Record<string, unknown>, slo: Record<string, unknown> = {}) =>
  parseInferenceService({
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name: 'fraud-detector' },
    spec: { model: { format: 'onnx', uri: 'file://models/fraud-v1.onnx' }, scaling, slo },
  }).spec;

test('deciderFor names each policy’s decider', () => {
  assert.equal(deciderFor('gascl'), gascl);
  assert.equal(deciderFor('hpa-cpu'), hpaCpu);
  assert.equal(deciderFor('hpa-service'), hpaService);
  assert.equal(deciderFor('keda-queue'), kedaQueue);
});

test('decide dispatches on spec.policy, and a policy change starts the new decider afresh', () => {
  const signals = signalsOf({ ready: 2 }, { concurrency: 40, queueDepth: 0, requestRate: 400, p50Ms: 20, p95Ms: 30 });
  const first = decide(signals, baseSpec({ policy: 'gascl' }), undefined, 0);
  assert.equal(first.next.decider, 'gascl');
  const switched = decide(signals, baseSpec({ policy: 'keda-queue' }), first.next, 1_000);
  assert.equal(switched.next.decider, 'keda-queue');
});

test('scalingInputFromSpec: the resource’s defaults and durations', () => {
  assert.deepEqual(scalingInputFromSpec(service({})), {
    policy: 'gascl',
    minReplicas: 1,
    maxReplicas: 10,
    targetConcurrency: 8,
    scaleToZeroAfterMs: 300_000,
    stabilization: { upSeconds: 0, downSeconds: 300 },
    slo: { latencyP95Ms: 250, coldStartMs: 2000 },
  });
  const custom = scalingInputFromSpec(
    service({ policy: 'keda-queue', minReplicas: 0, maxReplicas: 30, targetConcurrency: 4, scaleToZeroAfter: '90s', stabilization: { downSeconds: 60 } }, { latencyP95Ms: 100, coldStartMs: 5000 }),
    { replicasPerNode: 4, currentNodes: 1, maxNodes: 8 },
  );
  assert.deepEqual(custom, {
    policy: 'keda-queue',
    minReplicas: 0,
    maxReplicas: 30,
    targetConcurrency: 4,
    scaleToZeroAfterMs: 90_000,
    stabilization: { upSeconds: 0, downSeconds: 60 },
    slo: { latencyP95Ms: 100, coldStartMs: 5000 },
    capacity: { replicasPerNode: 4, currentNodes: 1, maxNodes: 8 },
  });
});

test('spec.scaling.replicas fixes the decision within min and max, whatever the signals, and keeps the decider’s state', () => {
  const busy = signalsOf({ ready: 2 }, { concurrency: 400, queueDepth: 900, requestRate: 4000, p50Ms: 200, p95Ms: 900 });
  const first = decide(busy, baseSpec({ policy: 'gascl' }), undefined, 0);
  const pinned = decide(busy, { ...baseSpec({ policy: 'gascl' }), replicas: 3 }, first.next, 1_000);
  assert.deepEqual(pinned.result, { valid: true, desiredReplicas: 3, reason: 'ReplicasPinned', message: '2→3: spec.scaling.replicas', panic: false });
  assert.equal(pinned.next, first.next);
  assert.notDeepEqual(first.result, pinned.result, 'without replicas, gascl decides otherwise');
  const clamped = decide(busy, { ...baseSpec({ policy: 'hpa-service', minReplicas: 1, maxReplicas: 5 }), replicas: 50 }, undefined, 0);
  assert.ok(clamped.result.valid);
  assert.equal(clamped.result.desiredReplicas, 5);
  assert.match(clamped.result.message, /50 kept within 1\.\.5/);
  assert.equal(scalingInputFromSpec(service({ replicas: 4 })).replicas, 4);
});

test('scalingInputFromSpec: spec.scaling.seasonality declares the period GASCL forecasts from; a too-short one is refused', () => {
  assert.equal(scalingInputFromSpec(service({ seasonality: { period: '24h' } })).seasonalPeriodMs, 86_400_000);
  assert.equal(scalingInputFromSpec(service({})).seasonalPeriodMs, undefined);
  assert.throws(() => service({ seasonality: { period: '5m' } }), /spec\.scaling\.seasonality\.period.*must be at least 10m \(e\.g\. 24h for a daily pattern\)/s);
  assert.throws(() => service({ seasonality: { period: 'daily' } }), /spec\.scaling\.seasonality\.period.*must be a duration/s);
});
