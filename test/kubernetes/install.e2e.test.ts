/**
 * What `karb install` prints, run whole on the test cluster: the controller and gateway
 * Deployments run as pods on the test node agent (the stand-in for a kubelet; their in-cluster
 * credentials are the projected service-account token, see test/cluster/pod-volumes.ts). Two
 * controllers elect a leader and only the leader is ready, so the gateways — which find the
 * controller through its Service's EndpointSlices — report to it; a request through a gateway pod
 * reaches a model pod; when the leader's pod is deleted the standby takes over, and a request the
 * gateway holds for a service at zero is started by the new leader.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { buildInstallObjects, CONTROLLER_NAME } from '../../src/runtime/kubernetes/install.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/runtime/kubernetes/options.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { fraudRequest, karb, waitFor } from '../helpers.ts';
import { getJson, inferenceService, kubectlOk, startServingCluster, SYSTEM_NAMESPACE, waitForObject, type KarbTestCluster } from './support.ts';

const NS = 'ml';
const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];

describe('karb install, whole, on the test node: controllers elect a leader, gateways serve and report to it', { timeout: 600_000 }, () => {
  let karbCluster: KarbTestCluster;
  let cluster: TestCluster;
  let key = '';

  const pods = async (component: string): Promise<any[]> =>
    (await getJson(cluster, ['pods', '-n', SYSTEM_NAMESPACE, '-l', `app.kubernetes.io/component=${component}`])).items.filter((p: any) => !p.metadata.deletionTimestamp);
  const ready = (pod: any): boolean => pod.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') === true;
  const gatewayUrl = async (): Promise<string> => {
    const gateways = (await pods('gateway')).filter(ready);
    assert.ok(gateways.length > 0, 'a ready gateway pod');
    return `http://${gateways[0].status.podIP}:8080`;
  };
  const infer = async (name: string): Promise<Response> =>
    fetch(`${await gatewayUrl()}/v2/models/${name}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) });
  const leaderOf = async (): Promise<string> => (await getJson(cluster, ['lease', 'karb-controller', '-n', SYSTEM_NAMESPACE])).spec.holderIdentity;

  before(async () => {
    karbCluster = await startServingCluster(NS);
    cluster = karbCluster.cluster;
    // What startKarbTestCluster leaves out: the workloads and their Services.
    const workloads = buildInstallObjects(DEFAULT_CLUSTER_OPTIONS).filter((o) => o.kind === 'Deployment' || o.kind === 'Service');
    await kubectlOk(cluster, ['apply', '-f', '-'], workloads.map((o) => stringify(o)).join('---\n'));
    const created = await karb(['keys', 'create', '--kubernetes', '--kubeconfig', cluster.kubeconfig, '--namespace', NS]);
    assert.equal(created.code, 0, created.stderr);
    key = created.stdout.trim();
  });

  after(async () => {
    await karbCluster?.stop();
  });

  test('two controller pods run, one leads and is the only ready one (the Service karb-controller’s endpoint); two gateway pods are ready', async () => {
    await waitFor('two running controllers, one ready', async () => {
      const controllers = await pods('controller');
      return controllers.length === 2 && controllers.every((p) => p.status?.phase === 'Running') && controllers.filter(ready).length === 1 ? true : undefined;
    }, 180_000, 500);
    const leader = await leaderOf();
    const controllers = await pods('controller');
    assert.equal(controllers.find(ready).metadata.name, leader, 'the ready controller holds the Lease');
    const slices = await getJson(cluster, ['endpointslices', '-n', SYSTEM_NAMESPACE, '-l', `kubernetes.io/service-name=${CONTROLLER_NAME}`]);
    const readyAddresses = slices.items.flatMap((s: any) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready).map((e: any) => e.targetRef?.name));
    assert.deepEqual(readyAddresses, [leader]);
    await waitFor('two ready gateways', async () => ((await pods('gateway')).filter(ready).length === 2 ? true : undefined), 120_000, 500);
  });

  test('an InferenceService applied with kubectl is served through a gateway pod, with a key from karb keys --kubernetes', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('fraud', NS, { model: { uri: 'pvc://models/fraud-v1.onnx' }, scaling: { minReplicas: 1, maxReplicas: 2 } }));
    await waitForObject(cluster, 'fraud Ready', ['inferenceservice', 'fraud', '-n', NS], (o: any) => o.status?.summary?.replicas === '1/1', 180_000);
    const res = await waitFor('an answer through a gateway pod', async () => {
      const r = await infer('fraud');
      if (r.status === 200) return r;
      await r.arrayBuffer();
      return undefined;
    }, 60_000, 250);
    const body = (await res.json()) as { model_name: string; outputs: Array<{ name: string; data: number[] }> };
    assert.equal(body.model_name, 'fraud');
    assert.ok(body.outputs.some((o) => o.name === 'probability'));
  });

  test('the leader’s pod deleted: the standby leads and becomes the endpoint; a request held at zero is started by the new leader', async () => {
    const before = await leaderOf();
    await kubectlOk(cluster, ['delete', 'pod', before, '-n', SYSTEM_NAMESPACE, '--wait=false']);
    const after = await waitFor('another controller to lead and be ready', async () => {
      const holder = await leaderOf();
      if (holder === before) return undefined;
      const controllers = await pods('controller');
      return controllers.some((p) => p.metadata.name === holder && ready(p)) ? holder : undefined;
    }, 120_000, 500);
    assert.notEqual(after, before);
    await kubectlOk(
      cluster,
      ['apply', '-f', '-'],
      inferenceService('idle', NS, { model: { uri: 'pvc://models/fraud-v1.onnx' }, slo: { coldStartMs: 60000 }, scaling: { minReplicas: 0, maxReplicas: 1, scaleToZeroAfter: '5s', stabilization: { upSeconds: 0, downSeconds: 1 } } }),
    );
    await waitForObject(cluster, 'idle at zero', ['inferenceservice', 'idle', '-n', NS], (o: any) => o.status?.autoscaler?.reason === 'ScaleToZero' && o.status?.summary?.replicas === '0/0', 180_000);
    // The gateway holds the request and asks the leader it finds through the EndpointSlice for a replica.
    const res = await infer('idle');
    assert.equal(res.status, 200, await res.clone().text());
    const events = await kubectlOk(cluster, ['get', 'events.events.k8s.io', '-n', NS, '--field-selector', 'regarding.name=idle', '-o', 'jsonpath={range .items[*]}{.reason}{" "}{.reportingInstance}{"\\n"}{end}']);
    assert.match(events, new RegExp(`^Activation ${after}$`, 'm'), `the new leader started it: ${events}`);
  });
});
