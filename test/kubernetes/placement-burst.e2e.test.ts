/**
 * The placement decider's rule enforced by karb controller on the test cluster's real
 * kube-scheduler: on-prem first, an elastic (cloud) node only when on-prem has no room AND the
 * service's SLO is at risk, and back on-prem when room comes back. Two on-prem GPU nodes, one of
 * them taken by another service; one cloud GPU node. A service wanting two replicas gets one
 * on-prem; the other waits behind karb's scheduling gate while real traffic through a gateway
 * keeps p95 within the SLO, and the status says why; nothing runs on the cloud node. The model
 * server then slows down (its injected latency, switched on by a file in its model volume), the
 * gateway's reports put p95 over the SLO, and the waiting replica is released to the cloud node;
 * scaled down by one, the service loses its cloud replica, not its on-prem one.
 * When the other service goes, on-prem has room: the cloud replica is evicted and its replacement
 * runs on-prem. The controller runs with its own service account's RBAC.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PoolSpec } from '../../src/api/pool.ts';
import type { RunningController } from '../../src/control/kubernetes/controller.ts';
import { MODEL_MOUNT_PATH } from '../../src/runtime/kubernetes/model-source.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/runtime/kubernetes/options.ts';
import { ensureModels } from '../../src/serving/test-helpers.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { fraudRequest, ROOT, startProbe, waitFor, type GatewayProcess } from '../helpers.ts';
import { gatewayWithKey, getJson, inferenceService, kubectlOk, modelsVolume, restrictedNamespace, startKarbTestCluster, startTestController, waitForObject, type KarbTestCluster } from './support.ts';

const NS = 'burst';
const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];
const POOLS = [
  PoolSpec.parse({ name: 'onprem-gpu', class: 'on-prem', replicasPerNode: 1, costPerHour: 12, minNodes: 2, maxNodes: 2, kubernetes: { nodeSelector: { 'example.com/rack': 'r7' } } }),
  PoolSpec.parse({ name: 'cloud-gpu', class: 'elastic', replicasPerNode: 1, costPerHour: 16, maxNodes: 1 }),
];
const GPU = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' }, accelerator: { count: 1 } };
/** Its model server answers 300 ms late while this file exists in its model volume (the SLO's p95 is 250 ms). */
const SLOW_SWITCH = 'slow';

describe('karb controller enforces on-prem first, cloud only while the SLO is at risk, on the real kube-scheduler', { timeout: 600_000 }, () => {
  let karbCluster: KarbTestCluster;
  let cluster: TestCluster;
  let controller: RunningController;
  let gateway: GatewayProcess | undefined;
  let models = '';
  let key = '';

  const podsOf = async (service: string): Promise<any[]> => (await getJson(cluster, ['pods', '-n', NS, '-l', `karb.dev/service=${service}`])).items;
  const ready = (pod: any): boolean => pod.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') === true;
  const condition = (o: any, type: string): any => o.status?.conditions?.find((c: any) => c.type === type);
  const events = async (): Promise<string> =>
    kubectlOk(cluster, ['get', 'events.events.k8s.io', '-n', NS, '--field-selector', 'regarding.name=burst', '-o', 'jsonpath={range .items[*]}{.reason}{" "}{.note}{"\\n"}{end}']);
  const onCloud = async (): Promise<any[]> => (await getJson(cluster, ['pods', '-A', '--field-selector', 'spec.nodeName=cloud-gpu-1'])).items;

  before(async () => {
    await ensureModels();
    karbCluster = await startKarbTestCluster({
      nodeAgent: {
        podNetwork: 'routable',
        nodes: [
          { name: 'rack7-gpu-1', gpus: 1, labels: { 'example.com/rack': 'r7' } },
          { name: 'rack7-gpu-2', gpus: 1, labels: { 'example.com/rack': 'r7' } },
          { name: 'cloud-gpu-1', gpus: 1, labels: { 'karb.dev/pool': 'cloud-gpu' } },
        ],
      },
    });
    cluster = karbCluster.cluster;
    await restrictedNamespace(cluster, NS);
    // A model volume of the test's own, so the switch that slows the model server is a file in it.
    models = join(karbCluster.dir, 'models');
    mkdirSync(models);
    copyFileSync(join(ROOT, 'models', 'fraud-v1.onnx'), join(models, 'fraud-v1.onnx'));
    await modelsVolume(cluster, NS, models);
    // Its port on loopback: the gateway reports there (the test cluster runs no kube-proxy).
    controller = await startTestController(karbCluster, { namespace: NS, identity: 'controller-placement-burst', port: 0, host: '127.0.0.1', cluster: { pools: POOLS } });
    ({ gateway, key } = await gatewayWithKey(karbCluster, NS, controller.url!));
  });

  after(async () => {
    await gateway?.stop();
    await controller?.close();
    await karbCluster?.stop();
  });

  test('on-prem full, p95 within the SLO: the second replica waits gated and the cloud node stays empty; p95 over the SLO: it runs on the cloud node; on-prem room again: it comes back', async (t) => {
    const started = Date.now();
    // Another team's service takes one of the two on-prem nodes (it names on-prem only: the scheduler's alone).
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('filler', NS, { model: { uri: 'pvc://models/fraud-v1.onnx' }, resources: GPU, scaling: { minReplicas: 1, maxReplicas: 1 }, placement: { pools: ['onprem-gpu'] } }));
    const filler = await waitFor('filler scheduled', async () => (await podsOf('filler')).find((p) => p.spec?.nodeName)?.spec.nodeName as string | undefined, 120_000, 250);
    assert.match(filler, /^rack7-gpu-[12]$/);
    const freeOnPrem = filler === 'rack7-gpu-1' ? 'rack7-gpu-2' : 'rack7-gpu-1';

    await kubectlOk(
      cluster,
      ['apply', '-f', '-'],
      inferenceService('burst', NS, {
        model: {
          uri: 'pvc://models/fraud-v1.onnx',
          format: 'oip',
          image: DEFAULT_CLUSTER_OPTIONS.image,
          command: ['karb', 'serve', '--model', `${MODEL_MOUNT_PATH}/fraud-v1.onnx`, '--name', 'burst', '--port', '$PORT', '--host', '0.0.0.0', '--max-delay-ms', '1', '--inject-latency-ms', '300', '--inject-while', `${MODEL_MOUNT_PATH}/${SLOW_SWITCH}`],
          readinessPath: '/v2/models/burst/ready',
        },
        resources: GPU,
        slo: { latencyP95Ms: 250 },
        scaling: { minReplicas: 2, maxReplicas: 2 },
        placement: { pools: ['onprem-gpu', 'cloud-gpu'] },
      }),
    );
    await waitForObject(cluster, 'burst serving on its on-prem replica', ['inferenceservice', 'burst', '-n', NS], (o: any) => o.status?.summary?.replicas === '1/2', 180_000);
    const infer = () => fetch(`${gateway!.url}/v2/models/burst/infer`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) });
    await waitFor('the gateway to route burst', async () => {
      const r = await infer();
      await r.arrayBuffer();
      return r.status === 200;
    }, 30_000, 200);

    // Real traffic, open loop (2.5 requests a second), answered fast: the SLO is not at risk.
    const probe = startProbe(`${gateway!.url}/v2/models/burst/infer`, { headers: { authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) }, 400);
    try {
      const waiting = await waitForObject(cluster, 'burst to say its second replica waits, on measured latency', ['inferenceservice', 'burst', '-n', NS], (o: any) =>
        /p95 within 200 ms/.test(condition(o, 'Placed')?.message ?? ''),
      120_000);
      const placed = condition(waiting, 'Placed');
      assert.deepEqual([placed.status, placed.reason], ['False', 'WaitingForOnPrem']);
      assert.equal(placed.message, '1 of 2 replicas of burst/burst wait: on-prem is full and the SLO is not at risk, so no elastic node is bought (p95 within 200 ms, 80% of the 250 ms SLO, and no queue growing)');
      assert.deepEqual([condition(waiting, 'Ready').status, condition(waiting, 'Ready').reason], ['True', 'RevisionReady'], 'it serves on its on-prem replica meanwhile');
      const pods = await podsOf('burst');
      assert.equal(pods.length, 2);
      assert.deepEqual(pods.filter((p) => p.spec.nodeName).map((p) => p.spec.nodeName), [freeOnPrem], 'one replica on the free on-prem node');
      const gated = pods.find((p) => !p.spec.nodeName);
      assert.deepEqual(gated.spec.schedulingGates, [{ name: 'karb.dev/placement' }], 'the other behind karb’s gate: the scheduler never sees it');
      assert.deepEqual(await onCloud(), [], 'nothing runs on the cloud node');

      // The model server slows down: p95 goes over the SLO's headroom, and the waiting replica bursts to the cloud.
      writeFileSync(join(models, SLOW_SWITCH), '');
      const t0 = Date.now();
      const cloudPod = await waitFor('a burst replica ready on the cloud node', async () => (await onCloud()).find((p) => p.metadata.labels?.['karb.dev/service'] === 'burst' && ready(p)), 180_000, 250);
      t.diagnostic(`SLO at risk → replica ready on the cloud node in ${Date.now() - t0} ms`);
      assert.equal(cloudPod.metadata.name, gated.metadata.name, 'the replica that waited');
      assert.deepEqual(cloudPod.spec.nodeSelector, { 'karb.dev/pool': 'cloud-gpu' }, 'narrowed to the pool it was given');
      assert.equal(cloudPod.spec.schedulingGates, undefined);
      // Scaling down removes it before an on-prem replica: its ReplicaSet deletes the lowest cost first.
      assert.equal(cloudPod.metadata.annotations?.['controller.kubernetes.io/pod-deletion-cost'], '-100');
      assert.match(await events(), new RegExp(`ReplicaPlaced ${gated.metadata.name} goes to pool cloud-gpu \\(elastic\\): on-prem is full and the SLO is at risk \\(p95 [0-9.]+ ms \\((stable|panic) window\\) is over 200 ms`));
      const burst = await waitForObject(cluster, 'burst placed whole', ['inferenceservice', 'burst', '-n', NS], (o: any) => condition(o, 'Placed')?.status === 'True');
      assert.equal(condition(burst, 'Placed').message, 'every replica has a pool: 1 on onprem-gpu, 1 on cloud-gpu');

      // One replica fewer: the ReplicaSet deletes the cloud replica (the lower deletion cost), not the on-prem one.
      const scale = (n: number) => kubectlOk(cluster, ['patch', 'inferenceservice', 'burst', '-n', NS, '--type', 'merge', '-p', JSON.stringify({ spec: { scaling: { minReplicas: n, maxReplicas: n } } })]);
      const onPremPod = (await podsOf('burst')).find((p) => p.spec.nodeName === freeOnPrem)!;
      await scale(1);
      const left = await waitFor('burst down to one replica', async () => {
        const pods = (await podsOf('burst')).filter((p) => !p.metadata.deletionTimestamp);
        return pods.length === 1 && (await onCloud()).length === 0 ? pods : undefined;
      }, 120_000, 250);
      assert.deepEqual(left.map((p: any) => [p.metadata.name, p.spec.nodeName]), [[onPremPod.metadata.name, freeOnPrem]], 'the on-prem replica stays');
      // Back to two: the SLO is still at risk, so the new replica is released to the cloud again.
      await scale(2);
      await waitFor('a burst replica ready on the cloud node again', async () => (await onCloud()).find((p) => p.metadata.labels?.['karb.dev/service'] === 'burst' && ready(p)), 180_000, 250);
    } finally {
      rmSync(join(models, SLOW_SWITCH), { force: true });
      const report = await probe.stop();
      t.diagnostic(`probe: ${report.sent} sent, answers by status ${JSON.stringify([...report.statuses])}`);
      assert.deepEqual([...report.statuses.keys()], [200], 'slow, not failing: every request answered');
    }

    // The other service goes: on-prem has room again, and the cloud replica moves there.
    await kubectlOk(cluster, ['delete', 'inferenceservice', 'filler', '-n', NS, '--wait=false']);
    const back = await waitFor('both burst replicas ready on-prem, none on the cloud node', async () => {
      const pods = await podsOf('burst');
      const onPrem = pods.filter((p) => /^rack7-gpu-[12]$/.test(p.spec?.nodeName ?? '') && ready(p) && !p.metadata.deletionTimestamp);
      return onPrem.length === 2 && (await onCloud()).length === 0 ? onPrem : undefined;
    }, 180_000, 250);
    assert.deepEqual(back.map((p: any) => p.spec.nodeName).sort(), ['rack7-gpu-1', 'rack7-gpu-2']);
    assert.match(await events(), /ReplicaMovedOnPrem burst-00001-[a-z0-9-]+ on cloud-gpu \(elastic\) evicted: onprem-gpu \(on-prem\) has room again, and its replacement goes there/);
    t.diagnostic(`whole scenario: ${Math.round((Date.now() - started) / 1000)} s`);
  });
});
