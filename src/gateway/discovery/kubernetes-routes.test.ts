import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointsFromSlices, routesFromCluster, SpecCache, type EndpointSliceObject, type InferenceServiceObject } from './kubernetes-routes.ts';

const slice = (namespace: string, revision: string, endpoints: EndpointSliceObject['endpoints'], extra: Partial<EndpointSliceObject> = {}): EndpointSliceObject => ({
  metadata: { name: `${revision}-${Math.random().toString(36).slice(2, 7)}`, namespace, labels: { 'kubernetes.io/service-name': revision } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints,
  ...extra,
});
const pod = (ip: string, name: string, conditions: { ready?: boolean; terminating?: boolean }) => ({ addresses: [ip], conditions, targetRef: { kind: 'Pod', name } });

const service = (name: string, namespace: string, status: InferenceServiceObject['status'], extra: Partial<InferenceServiceObject['metadata']> = {}, spec: unknown = { model: { uri: 'pvc://models/fraud-v1.onnx' }, slo: { latencyP95Ms: 300, coldStartMs: 20000 } }): InferenceServiceObject => ({
  metadata: { name, namespace, uid: `uid-${namespace}-${name}`, generation: 1, creationTimestamp: '2026-12-07T10:00:00Z', ...extra },
  spec,
  ...(status ? { status } : {}),
});

test('endpoints: only ready pods that are not terminating, each address once, keyed by namespace/revision (the slice’s Service)', () => {
  const endpoints = endpointsFromSlices([
    slice('ml', 'fraud-00001', [pod('198.18.1.1', 'fraud-00001-a', { ready: true }), pod('198.18.1.2', 'fraud-00001-b', { ready: false }), pod('198.18.1.3', 'fraud-00001-c', { ready: true, terminating: true })]),
    // The same pod in a second slice while the controller moves it: counted once.
    slice('ml', 'fraud-00001', [pod('198.18.1.1', 'fraud-00001-a', { ready: true }), pod('198.18.1.4', 'fraud-00001-d', { ready: true })]),
    slice('other', 'fraud-00001', [pod('198.18.2.1', 'fraud-00001-x', { ready: true })]),
    slice('ml', 'v6-00001', [pod('fd00::1', 'v6-00001-a', { ready: true })], { addressType: 'IPv6' }),
    // No readiness reported yet: not routed.
    slice('ml', 'new-00001', [pod('198.18.1.9', 'new-00001-a', {})]),
  ]);
  assert.deepEqual(endpoints.get('ml/fraud-00001'), [
    { replica: 'fraud-00001-a', url: 'http://198.18.1.1:8080' },
    { replica: 'fraud-00001-d', url: 'http://198.18.1.4:8080' },
  ]);
  assert.deepEqual(endpoints.get('other/fraud-00001'), [{ replica: 'fraud-00001-x', url: 'http://198.18.2.1:8080' }]);
  assert.deepEqual(endpoints.get('ml/v6-00001'), [{ replica: 'v6-00001-a', url: 'http://[fd00::1]:8080' }]);
  assert.equal(endpoints.get('ml/new-00001'), undefined);
});

test('routes: revisions and weights from status, limits and timeouts from the spec’s defaults, endpoints by revision', () => {
  const endpoints = new Map([['ml/fraud-00002', [{ replica: 'b', url: 'http://198.18.1.2:8080' }, { replica: 'a', url: 'http://198.18.1.1:8080' }]]]);
  const { routes, unrouted } = routesFromCluster(
    [service('fraud', 'ml', { revisions: [{ name: 'fraud-00001', traffic: 80 }, { name: 'fraud-00002', traffic: 20 }], mirror: { revision: 'fraud-00002', percent: 10 } })],
    endpoints,
  );
  assert.deepEqual(unrouted, []);
  assert.equal(routes.length, 1);
  const route = routes[0]!;
  assert.equal(route.model, 'fraud');
  assert.equal(route.namespace, 'ml');
  assert.equal(route.format, 'onnx');
  assert.deepEqual(
    route.revisions.map((r) => [r.revision, r.weight, r.endpoints.map((e) => e.replica)]),
    [
      ['fraud-00001', 80, []],
      ['fraud-00002', 20, ['a', 'b']],
    ],
  );
  assert.deepEqual(route.mirror, { revision: 'fraud-00002', percent: 10 });
  assert.equal(route.coldStartMs, 20000);
  assert.equal(route.perTryTimeoutMs, 1200, '4 × the p95 target of 300 ms');
  assert.ok(route.concurrencyLimit! >= 1);
});

test('a service the controller has not reconciled has no route; a name in two namespaces routes to the older service', () => {
  const { routes, unrouted } = routesFromCluster(
    [
      service('fraud', 'team-b', { revisions: [{ name: 'fraud-00001', traffic: 100 }] }, { creationTimestamp: '2026-12-07T11:00:00Z' }),
      service('fraud', 'team-a', { revisions: [{ name: 'fraud-00001', traffic: 100 }] }, { creationTimestamp: '2026-12-07T10:00:00Z' }),
      service('fresh', 'team-a', undefined),
    ],
    new Map(),
  );
  assert.deepEqual(routes.map((r) => `${r.namespace}/${r.model}`), ['team-a/fraud']);
  assert.deepEqual(
    unrouted.map((u) => [u.namespace, u.name, u.reason]),
    [
      ['team-a', 'fresh', 'NotReconciled'],
      ['team-b', 'fraud', 'NameTaken'],
    ],
  );
  assert.match(unrouted.find((u) => u.reason === 'NameTaken')!.message, /namespace team-a/);
});

test('a spec changed to one that does not validate keeps the last valid spec’s route; a new service with one has none', () => {
  const specs = new SpecCache();
  const status = { revisions: [{ name: 'fraud-00001', traffic: 100 }] };
  const good = service('fraud', 'ml', status);
  assert.equal(routesFromCluster([good], new Map(), specs).routes[0]!.coldStartMs, 20000);
  const broken = service('fraud', 'ml', status, { generation: 2 }, { model: { uri: 'pvc://models/fraud-v1.onnx' }, slo: { latencyP95Ms: -1 } });
  const kept = routesFromCluster([broken], new Map(), specs);
  assert.equal(kept.routes.length, 1, 'its revisions keep running, so it stays routed');
  assert.equal(kept.routes[0]!.coldStartMs, 20000);
  const fresh = routesFromCluster([service('other', 'ml', status, {}, { model: {} })], new Map(), specs);
  assert.deepEqual(fresh.routes, []);
  assert.equal(fresh.unrouted[0]!.reason, 'InvalidSpec');
});
