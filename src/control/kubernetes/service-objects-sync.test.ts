/**
 * The Prometheus Operator's objects as its CRDs come and go, on a fake API client: a rule refused
 * with 404 makes the next pass look for the CRDs again instead of re-applying (and warning) on
 * every pass; once they are back, the rule and the ServiceMonitor are applied again. The same
 * objects on a real API server: test/prometheus/operator.e2e.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceServiceSchema } from '../../api/index.ts';
import { KubeApiError, type KubeClient, type ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../runtime/kubernetes/options.ts';
import { PROMETHEUS_RULES, type ResourceType } from '../../runtime/kubernetes/resources.ts';
import type { StoredService } from '../store.ts';
import { ServiceObjectsSync } from './service-objects-sync.ts';

const MONITORING_KINDS = new Set(['PrometheusRule', 'ServiceMonitor']);

/** An API server whose monitoring.coreos.com/v1 resources exist only while `crds` is true. */
function fakeCluster() {
  const state = { crds: true, applied: [] as string[], ruleLists: 0 };
  const notServed = () => new KubeApiError(404, 'NotFound', 'the server could not find the requested resource');
  const client = {
    async list(type: ResourceType) {
      if (type.kind === PROMETHEUS_RULES.kind) {
        state.ruleLists++;
        if (!state.crds) throw notServed();
      }
      return { items: [] };
    },
    async apply(obj: ObjectLike) {
      if (MONITORING_KINDS.has(obj.kind) && !state.crds) throw notServed();
      state.applied.push(`${obj.kind}/${obj.metadata.name}`);
      return obj;
    },
    async delete() {
      return false;
    },
  };
  return { state, client: client as unknown as KubeClient };
}

/** Generation 1 has an errorRate of 1%, every later one 2%: a new SLO, so a new PrometheusRule. */
function storedService(generation: number): StoredService {
  const slo = { latencyP95Ms: 250, errorRate: generation === 1 ? 0.01 : 0.02 };
  const parsed = InferenceServiceSchema.parse({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'fraud', namespace: 'payments' }, spec: { model: { uri: 'pvc://models/fraud-v1.onnx' }, slo } });
  return {
    apiVersion: parsed.apiVersion,
    kind: parsed.kind,
    metadata: { name: 'fraud', namespace: 'payments', uid: 'uid-1', generation, labels: {}, annotations: {}, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: parsed.spec,
    status: {} as StoredService['status'],
  };
}

test('a PrometheusRule refused with 404 makes karb look for the CRDs again: one warning, then quiet; applied again once they are back', async () => {
  const { state, client } = fakeCluster();
  let now = 0;
  const warnings: string[] = [];
  const sync = new ServiceObjectsSync({ client, cluster: DEFAULT_CLUSTER_OPTIONS, warn: (_s, reason, message) => warnings.push(`${reason}: ${message}`), now: () => now });

  await sync.sync([storedService(1)]);
  assert.ok(state.applied.includes('PrometheusRule/fraud') && state.applied.includes('ServiceMonitor/karb-gateway'), state.applied.join(', '));
  assert.deepEqual(warnings, []);

  // The operator is removed; a changed SLO makes the next pass apply the service's rule again.
  state.crds = false;
  await sync.sync([storedService(2)]);
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, /^ObjectRefused: PrometheusRule\/fraud could not be applied: .*is the Prometheus Operator still installed\?/);

  // The next pass looks again, finds no CRDs, and says so once; later passes neither apply nor warn.
  const lists = state.ruleLists;
  state.applied = [];
  for (let pass = 0; pass < 3; pass++) {
    now += 1000;
    await sync.sync([storedService(2)]);
  }
  assert.equal(state.ruleLists, lists + 1, 'looked for the CRDs once, not on every pass');
  assert.deepEqual(state.applied.filter((a) => a.startsWith('PrometheusRule') || a.startsWith('ServiceMonitor')), []);
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[1]!, /^PrometheusRuleSkipped: the Prometheus Operator's CRDs .* are not installed/);

  // Installed again: found at the next look (every 5 minutes), and both objects applied anew.
  state.crds = true;
  now += 6 * 60_000;
  await sync.sync([storedService(2)]);
  assert.ok(state.applied.includes('PrometheusRule/fraud'), state.applied.join(', '));
  assert.ok(state.applied.includes('ServiceMonitor/karb-gateway'), state.applied.join(', '));
  assert.equal(warnings.length, 2, warnings.join('\n'));
});
