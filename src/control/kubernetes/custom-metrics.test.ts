import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WindowSignals } from '../../observability/signals.ts';
import { accessFor, answerCustomMetrics, parseCustomMetricsRequest, quantity, type CustomMetricsSource } from './custom-metrics.ts';

const NOW = Date.parse('2026-05-01T12:00:00.750Z');
const BASE = '/apis/custom.metrics.k8s.io/v1beta2/namespaces/ml/inferenceservices.karb.dev';

const source = (windows: Record<string, WindowSignals | undefined>): CustomMetricsSource => ({
  services: () => Object.keys(windows),
  service: (namespace, name) => (namespace === 'ml' && name in windows ? { stable: windows[name] } : undefined),
});

const get = (path: string, src: CustomMetricsSource, query = '') => {
  const request = parseCustomMetricsRequest('GET', path, new URLSearchParams(query));
  return { request, access: accessFor(request), ...answerCustomMetrics(request, src, NOW) };
};

test('discovery: the group list, the group, and one namespaced resource per metric, all kind MetricValueList', () => {
  const src = source({});
  const groups = get('/apis', src);
  assert.equal(groups.status, 200);
  assert.deepEqual((groups.body as any).groups.map((g: any) => [g.name, g.preferredVersion.groupVersion]), [['custom.metrics.k8s.io', 'custom.metrics.k8s.io/v1beta2']]);
  assert.equal((get('/apis/custom.metrics.k8s.io', src).body as any).kind, 'APIGroup');
  const list = get('/apis/custom.metrics.k8s.io/v1beta2/', src);
  assert.equal(list.status, 200);
  assert.deepEqual(list.body, {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: 'custom.metrics.k8s.io/v1beta2',
    resources: [
      { name: 'inferenceservices.karb.dev/karb_service_latency_p95_milliseconds', singularName: '', namespaced: true, kind: 'MetricValueList', verbs: ['get'] },
      { name: 'inferenceservices.karb.dev/karb_service_concurrency', singularName: '', namespaced: true, kind: 'MetricValueList', verbs: ['get'] },
    ],
  });
  assert.deepEqual(list.access, { nonResource: { path: '/apis/custom.metrics.k8s.io/v1beta2', verb: 'get' } });
});

test('a metric of one service: a MetricValueList with one value from the stable window, in milli units where needed', () => {
  const src = source({ fraud: { windowSeconds: 60, p95Ms: 57.25, concurrency: 1.5 } });
  const latency = get(`${BASE}/fraud/karb_service_latency_p95_milliseconds`, src, 'metricLabelSelector=');
  assert.equal(latency.status, 200);
  assert.deepEqual(latency.body, {
    kind: 'MetricValueList',
    apiVersion: 'custom.metrics.k8s.io/v1beta2',
    metadata: {},
    items: [
      {
        describedObject: { kind: 'InferenceService', namespace: 'ml', name: 'fraud', apiVersion: 'karb.dev/v1alpha1' },
        metric: { name: 'karb_service_latency_p95_milliseconds' },
        timestamp: '2026-05-01T12:00:00Z',
        windowSeconds: 60,
        value: '57250m',
      },
    ],
  });
  const concurrency = get(`${BASE}/fraud/karb_service_concurrency`, src);
  assert.equal((concurrency.body as any).items[0].value, '1500m');
  assert.deepEqual(concurrency.access, {
    resource: { namespace: 'ml', verb: 'get', group: 'custom.metrics.k8s.io', version: 'v1beta2', resource: 'inferenceservices.karb.dev', subresource: 'karb_service_concurrency', name: 'fraud' },
  });
});

test('no data is NotFound, not zero; a concurrency of 0 sampled is a value', () => {
  const src = source({ idle: { windowSeconds: 60, requestRate: 0, concurrency: 0 }, fresh: undefined });
  const latency = get(`${BASE}/idle/karb_service_latency_p95_milliseconds`, src);
  assert.equal(latency.status, 404);
  assert.equal((latency.body as any).kind, 'Status');
  assert.equal((latency.body as any).reason, 'NotFound');
  assert.match((latency.body as any).message, /no request completed in its window yet/);
  assert.equal((get(`${BASE}/idle/karb_service_concurrency`, src).body as any).items[0].value, '0');
  assert.equal(get(`${BASE}/fresh/karb_service_concurrency`, src).status, 404, 'a service the hub has not heard of');
  const missing = get(`${BASE}/nope/karb_service_concurrency`, src);
  assert.equal(missing.status, 404);
  assert.match((missing.body as any).message, /inferenceservices.karb.dev "nope" not found in namespace ml/);
});

test('every service of a namespace with * (verb list); a label selector there is refused', () => {
  const src = source({ a: { windowSeconds: 60, concurrency: 2 }, b: undefined, c: { windowSeconds: 30, concurrency: 0.25 } });
  const all = get(`${BASE}/*/karb_service_concurrency`, src);
  assert.equal(all.status, 200);
  assert.deepEqual((all.body as any).items.map((i: any) => [i.describedObject.name, i.value, i.windowSeconds]), [['a', '2', 60], ['c', '250m', 30]]);
  assert.equal((all.access as any).resource.verb, 'list');
  assert.equal((all.access as any).resource.name, undefined);
  assert.equal(get(`${BASE}/*/karb_service_concurrency`, src, 'labelSelector=app%3Dx').status, 400);
});

test('anything else: NotFound or MethodNotAllowed as Status objects, and nothing to authorize', () => {
  const src = source({ fraud: { windowSeconds: 60, concurrency: 1 } });
  for (const path of [`${BASE}/fraud/cpu`, '/apis/custom.metrics.k8s.io/v1beta2/namespaces/ml/pods/p/karb_service_concurrency', '/apis/custom.metrics.k8s.io/v1beta1', '/openapi/v2', '/']) {
    const r = get(path, src);
    assert.equal(r.status, 404, path);
    assert.equal((r.body as any).kind, 'Status');
    assert.equal(r.access, undefined);
  }
  const post = parseCustomMetricsRequest('POST', `${BASE}/fraud/karb_service_concurrency`, new URLSearchParams());
  assert.equal(answerCustomMetrics(post, src, NOW).status, 405);
});

test('quantity: whole numbers plain, fractions in thousandths', () => {
  assert.deepEqual([0, 1, 250, 1.5, 0.0004, 2.9996, 57.25].map(quantity), ['0', '1', '250', '1500m', '0', '3', '57250m']);
});
