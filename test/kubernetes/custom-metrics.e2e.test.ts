/**
 * The hpa-service policy on the real HorizontalPodAutoscaler controller of kube-controller-manager
 * (test/cluster), through the custom metrics API karb controller serves, as prometheus-adapter
 * would. The controller runs in this process with the controller's service-account RBAC, its
 * metrics API on an address of the routable pod network (198.18.x.y on lo, which EndpointSlices
 * may hold), behind a selector-less Service karb-controller with a hand-made EndpointSlice, as its
 * pod would be behind the Service karb install makes; the APIService is karb install's, with the
 * CA of a serving certificate made here as its caBundle. kube-apiserver proxies to it with its
 * front-proxy certificate (test/cluster/pki.ts), dialling the endpoint itself
 * (--enable-aggregator-routing: there is no kube-proxy). A `karb gateway --kubernetes` process
 * takes the load and reports to the controller, whose hub the metrics come from.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startController, type RunningController } from '../../src/control/kubernetes/controller.ts';
import { MODEL_MOUNT_PATH } from '../../src/runtime/kubernetes/model-source.ts';
import { buildControllerService, buildMetricsApiService, CONTROLLER_NAME, METRICS_API_SERVICE_NAME } from '../../src/runtime/kubernetes/install.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/runtime/kubernetes/options.ts';
import { createHttpSender, runOpenLoop } from '../../src/loadgen/runner.ts';
import { generatedSchedule } from '../../src/loadgen/schedule.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { PodAddresses } from '../cluster/pod-addresses.ts';
import { makeServingCertificate } from '../cluster/pki.ts';
import { fraudRequest, waitFor, type GatewayProcess } from '../helpers.ts';
import { gatewayWithKey, getJson, inferenceService, kubectlOk, serviceAccountKubeconfig, startServingCluster, SYSTEM_NAMESPACE, waitForObject, type KarbTestCluster } from './support.ts';

const NS = 'metrics';
const SERVICE = 'scaled';
const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];
const API = '/apis/custom.metrics.k8s.io/v1beta2';
const metricPath = (metric: string, name = SERVICE) => `${API}/namespaces/${NS}/inferenceservices.karb.dev/${name}/${metric}`;

describe('hpa-service on kube-controller-manager’s HPA, reading karb’s custom metrics API through the aggregation layer', { timeout: 900_000 }, () => {
  let karbCluster: KarbTestCluster;
  let cluster: TestCluster;
  let controller: RunningController;
  let addresses: PodAddresses | undefined;
  let gateway: GatewayProcess | undefined;
  let key = '';
  let metricsApi: { ca: string; cert: string; key: string };
  let ip = '';

  before(async () => {
    karbCluster = await startServingCluster(NS);
    cluster = karbCluster.cluster;

    // The controller's own address, as its pod would have one: a block of the routable network of its own.
    addresses = PodAddresses.claim('routable');
    ip = addresses.allocate();
    metricsApi = makeServingCertificate(join(karbCluster.dir, 'metrics-api'), 'metrics-api', [`${CONTROLLER_NAME}.${SYSTEM_NAMESPACE}.svc`]);
    const logFile = join(karbCluster.dir, 'controller.log');
    controller = await startController({
      kubeconfig: karbCluster.kubeconfig,
      namespace: NS,
      resyncMs: 500,
      identity: 'controller-custom-metrics',
      port: 0,
      host: ip,
      customMetrics: { port: 0, host: ip, certFile: metricsApi.cert, keyFile: metricsApi.key },
      log: (r) => appendFileSync(logFile, `${JSON.stringify(r)}\n`),
    });

    // What karb install --metrics-api-ca makes (Service karb-controller, the APIService), the Service
    // without a selector: its endpoint is this process, named by hand.
    const service = buildControllerService(SYSTEM_NAMESPACE, true) as { spec: Record<string, unknown> };
    delete service.spec.selector;
    const portOf = (url: string) => Number(new URL(url).port);
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${CONTROLLER_NAME}-test`, namespace: SYSTEM_NAMESPACE, labels: { 'kubernetes.io/service-name': CONTROLLER_NAME, 'endpointslice.kubernetes.io/managed-by': 'karb-e2e' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [ip], conditions: { ready: true } }],
      ports: [
        { name: 'http', port: portOf(controller.url!), protocol: 'TCP' },
        { name: 'metrics-api', port: portOf(controller.customMetricsUrl!), protocol: 'TCP' },
      ],
    };
    const apiService = buildMetricsApiService(SYSTEM_NAMESPACE, readFileSync(metricsApi.ca, 'utf8'));
    await kubectlOk(cluster, ['apply', '-f', '-'], [service, slice, apiService].map((o) => stringify(o)).join('---\n'));
    await waitForObject(cluster, 'the APIService Available', ['apiservice', METRICS_API_SERVICE_NAME], (a: any) => a.status?.conditions?.some((c: any) => c.type === 'Available' && c.status === 'True'), 120_000);

    ({ gateway, key } = await gatewayWithKey(karbCluster, NS, controller.url!));
  });

  after(async () => {
    await gateway?.stop();
    await controller?.close();
    addresses?.close();
    await karbCluster?.stop();
  });

  test('discovery and a metric through the API server: the resources per metric; a concurrency of 0 sampled, no latency before any request (NotFound)', async () => {
    await kubectlOk(
      cluster,
      ['apply', '-f', '-'],
      inferenceService(SERVICE, NS, {
        model: {
          uri: 'pvc://models/fraud-v1.onnx',
          format: 'oip',
          image: DEFAULT_CLUSTER_OPTIONS.image,
          // karb's own server, slowed so that requests overlap
          command: ['karb', 'serve', '--model', `${MODEL_MOUNT_PATH}/fraud-v1.onnx`, '--name', SERVICE, '--port', '$PORT', '--host', '0.0.0.0', '--max-delay-ms', '1', '--inject-latency-ms', '50'],
          readinessPath: `/v2/models/${SERVICE}/ready`,
        },
        slo: { latencyP95Ms: 1000 },
        scaling: { policy: 'hpa-service', minReplicas: 1, maxReplicas: 3, targetConcurrency: 1, stabilization: { upSeconds: 0, downSeconds: 300 } },
      }),
    );
    await waitForObject(cluster, `${SERVICE} Ready with one replica`, ['inferenceservice', SERVICE, '-n', NS], (o: any) => o.status?.summary?.replicas === '1/1', 180_000);
    // The HPA scales from spec.scaling.replicas (the scale subresource cannot be read without it): the controller sets it once.
    const seeded = await waitForObject(cluster, 'spec.scaling.replicas seeded for the HPA', ['inferenceservice', SERVICE, '-n', NS], (o: any) => o.spec?.scaling?.replicas !== undefined);
    assert.equal(seeded.spec.scaling.replicas, 1, 'the count running');

    const resources = JSON.parse(await kubectlOk(cluster, ['get', '--raw', API]));
    assert.equal(resources.kind, 'APIResourceList');
    assert.deepEqual(resources.resources.map((r: any) => [r.name, r.namespaced]), [
      ['inferenceservices.karb.dev/karb_service_latency_p95_milliseconds', true],
      ['inferenceservices.karb.dev/karb_service_concurrency', true],
    ]);

    const concurrency = await waitFor('the concurrency metric through the aggregator', async () => {
      const r = await cluster.kubectl(['get', '--raw', metricPath('karb_service_concurrency')]);
      return r.code === 0 ? JSON.parse(r.stdout) : undefined;
    }, 30_000, 500);
    assert.equal(concurrency.kind, 'MetricValueList');
    assert.equal(concurrency.items.length, 1);
    const [item] = concurrency.items;
    assert.deepEqual(item.describedObject, { kind: 'InferenceService', namespace: NS, name: SERVICE, apiVersion: 'karb.dev/v1alpha1' });
    assert.equal(item.metric.name, 'karb_service_concurrency');
    assert.equal(item.value, '0', 'nothing in flight yet');
    assert.equal(item.windowSeconds, 60, 'the stable window hpa-service decides on');

    const latency = await cluster.kubectl(['get', '--raw', metricPath('karb_service_latency_p95_milliseconds')]);
    assert.notEqual(latency.code, 0);
    assert.match(latency.stderr, /NotFound|not found/i, latency.stderr);
    const missing = await cluster.kubectl(['get', '--raw', metricPath('karb_service_concurrency', 'nope')]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /NotFound|not found/i);
  });

  test('who may read the metrics is RBAC’s to say: a service account without a grant gets 403 through the API server, and from karb’s port too; with a grant, the value', async () => {
    await kubectlOk(cluster, ['create', 'serviceaccount', 'curious', '-n', SYSTEM_NAMESPACE]);
    const curious = await serviceAccountKubeconfig(cluster, karbCluster.dir, 'curious');
    const refused = await cluster.kubectl(['get', '--raw', metricPath('karb_service_concurrency')], { kubeconfig: curious });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Forbidden|forbidden/, refused.stderr);

    // The same user, proxied straight to karb's port with the API server's front-proxy certificate:
    // karb asks the API server (SubjectAccessReview) and refuses too.
    const user = `system:serviceaccount:${SYSTEM_NAMESPACE}:curious`;
    const direct = await metricsApiGet(metricPath('karb_service_concurrency'), user);
    assert.equal(direct.status, 403, direct.body);
    const status = JSON.parse(direct.body);
    assert.equal(status.kind, 'Status');
    assert.equal(status.reason, 'Forbidden');
    assert.match(status.message, new RegExp(`User "${user}" cannot get resource "inferenceservices.karb.dev/karb_service_concurrency"`));
    const anonymous = await metricsApiGet(metricPath('karb_service_concurrency'), user, false);
    assert.equal(anonymous.status, 401, 'without the front-proxy certificate the user header is not believed');

    // A metric is a subresource of the resource: inferenceservices.karb.dev/<metric>.
    const reader = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'karb-metrics-reader' }, rules: [{ apiGroups: ['custom.metrics.k8s.io'], resources: ['inferenceservices.karb.dev/karb_service_concurrency'], verbs: ['get'] }] };
    await kubectlOk(cluster, ['apply', '-f', '-'], stringify(reader));
    await kubectlOk(cluster, ['create', 'rolebinding', 'curious-reads-metrics', '-n', NS, '--clusterrole=karb-metrics-reader', `--serviceaccount=${SYSTEM_NAMESPACE}:curious`]);
    const allowed = await waitFor('the grant to take effect (karb keeps answers for 10 s)', async () => {
      const r = await cluster.kubectl(['get', '--raw', metricPath('karb_service_concurrency')], { kubeconfig: curious });
      return r.code === 0 ? JSON.parse(r.stdout) : undefined;
    }, 30_000, 500);
    assert.equal(allowed.items[0].metric.name, 'karb_service_concurrency');
  });

  test('open-loop load through the gateway → the HPA reads the concurrency above its target and sets spec.scaling.replicas above 1 → the Deployment follows (ReplicasPinned)', async (t) => {
    await waitFor('the gateway to route', async () => (await infer()).status === 200, 30_000, 200);
    const sender = createHttpSender(
      { url: `${gateway!.url}/v2/models/${SERVICE}/infer`, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) },
      { connections: 64, timeoutMs: 60_000 },
    );
    const stop = new AbortController();
    const load = runOpenLoop({ schedule: generatedSchedule({ shape: 'constant', rate: 50 }, { durationMs: 300_000, seed: 11 }), send: sender.send, signal: stop.signal });
    let scaled: any;
    try {
      scaled = await waitForObject(cluster, 'the HPA to set spec.scaling.replicas above 1', ['inferenceservice', SERVICE, '-n', NS], (o: any) => (o.spec?.scaling?.replicas ?? 0) > 1, 240_000);
    } catch (err) {
      // What the HPA saw, and what the API serves now, to say why.
      const hpa = await cluster.kubectl(['get', 'hpa', SERVICE, '-n', NS, '-o', 'json']);
      const metric = await cluster.kubectl(['get', '--raw', metricPath('karb_service_concurrency')]);
      const events = await cluster.kubectl(['get', 'events', '-n', NS, '--field-selector', `involvedObject.name=${SERVICE}`]);
      throw new Error(`${(err as Error).message}\nHPA status: ${JSON.stringify(JSON.parse(hpa.stdout || '{}').status)}\nconcurrency: ${metric.stdout}${metric.stderr}\nevents:\n${events.stdout}`);
    } finally {
      stop.abort();
      const result = await load;
      await sender.close();
      t.diagnostic(`${result.totals.ok} answered; errors ${JSON.stringify(result.totals.errorsByCode)}`);
      assert.ok(result.totals.ok > 0);
      // The gateway sheds with 503 + Retry-After when a replica's queue is full; nothing else may fail.
      assert.deepEqual(Object.keys(result.totals.errorsByCode).filter((code) => code !== '503'), [], JSON.stringify(result.totals.errorsByCode));
    }
    const pinned = scaled.spec.scaling.replicas as number;
    assert.ok(pinned >= 2 && pinned <= 3, `within minReplicas..maxReplicas: ${pinned}`);
    const fields = JSON.parse(await kubectlOk(cluster, ['get', 'inferenceservice', SERVICE, '-n', NS, '-o', 'json', '--show-managed-fields'])).metadata.managedFields as any[];
    const scaleWriters = fields.filter((f) => f.subresource === 'scale').map((f) => f.manager);
    assert.ok(scaleWriters.length > 0 && !scaleWriters.includes('karb'), `written through the scale subresource by the HPA controller (${scaleWriters.join(', ')})`);

    // Nobody but the HPA writes spec.scaling.replicas (karb's loop asks no decider for hpa-service here).
    const hpa = await getJson(cluster, ['hpa', SERVICE, '-n', NS]);
    t.diagnostic(`HPA status: ${JSON.stringify(hpa.status)}`);
    const current = (name: string) => hpa.status.currentMetrics?.find((m: any) => m.type === 'Object' && m.object.metric.name === name)?.object.current;
    assert.ok(current('karb_service_concurrency')?.averageValue, 'the HPA read the concurrency, per replica');
    assert.ok(current('karb_service_latency_p95_milliseconds')?.value, 'and the p95 latency');
    const events = await kubectlOk(cluster, ['get', 'events', '-n', NS, '--field-selector', `involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=${SERVICE}`, '-o', 'jsonpath={range .items[*]}{.reason}{" "}{.message}{"\\n"}{end}']);
    assert.match(events, /SuccessfulRescale New size: [23]; reason: .*karb_service_concurrency.* above target/, events);

    const followed = await waitForObject(cluster, 'the autoscaler record to obey the HPA', ['inferenceservice', SERVICE, '-n', NS], (o: any) => o.status?.autoscaler?.reason === 'ReplicasPinned' && o.status.autoscaler.desiredReplicas === o.spec.scaling.replicas, 60_000);
    const deployment = await waitForObject(cluster, 'the Deployment at the HPA’s count', ['deployment', `${SERVICE}-00001`, '-n', NS], (d: any) => d.spec.replicas === followed.spec.scaling.replicas, 60_000);
    assert.equal(deployment.spec.replicas, followed.spec.scaling.replicas);
    await waitForObject(cluster, 'the new replicas ready', ['inferenceservice', SERVICE, '-n', NS], (o: any) => o.status?.summary?.replicas === `${followed.spec.scaling.replicas}/${followed.spec.scaling.replicas}`, 180_000);
  });

  const infer = () =>
    fetch(`${gateway!.url}/v2/models/${SERVICE}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) }).then(async (r) => {
      await r.arrayBuffer();
      return r;
    });

  /** A GET straight to karb's metrics API, as the API server's front proxy makes it (with its certificate), or without one. */
  const metricsApiGet = (path: string, user: string, withProxyCertificate = true) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const pki = join(cluster.dir, 'pki');
      const req = request(
        `${controller.customMetricsUrl}${path}`,
        {
          ca: readFileSync(metricsApi.ca),
          servername: `${CONTROLLER_NAME}.${SYSTEM_NAMESPACE}.svc`,
          headers: { 'x-remote-user': user, 'x-remote-group': 'system:serviceaccounts' },
          ...(withProxyCertificate ? { cert: readFileSync(join(pki, 'front-proxy-client.crt')), key: readFileSync(join(pki, 'front-proxy-client.key')) } : {}),
        },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
});
