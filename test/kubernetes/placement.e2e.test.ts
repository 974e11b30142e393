/**
 * Placement from declared pools, on the test cluster's real kube-scheduler: karb controller with a
 * pools file renders each service's pools (in preference order) and accelerator as node affinity,
 * tolerations and extended resources; the scheduler puts GPU services on the preferred pool's GPU
 * nodes first; a service that could spill to the elastic pool waits behind karb's placement gate
 * while on-prem is full and its SLO is not at risk (placement-burst.e2e.test.ts shows the burst);
 * a MIG request runs only on the MIG node, and what fits nowhere stays Pending — which karb's
 * status says, with the scheduler's reason; a team over its quota
 * (the governance file's, as a ResourceQuota) gets no replica, and the status says which quota. The nodes are the test
 * node agent's (the stand-in for kubelets; its GPU nodes advertise devices with no GPU behind them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { PoolSpec } from '../../src/api/pool.ts';
import { parseGovernance } from '../../src/governance/config.ts';
import { buildQuotas } from '../../src/governance/kubernetes.ts';
import type { RunningController } from '../../src/control/kubernetes/controller.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { ensureModels } from '../../src/serving/test-helpers.ts';
import { waitFor } from '../helpers.ts';
import { getJson, inferenceService, kubectlOk, modelsVolume, restrictedNamespace, startKarbTestCluster, startTestController, waitForObject, type KarbTestCluster } from './support.ts';

const NS = 'placement';
const POOLS = [
  PoolSpec.parse({
    name: 'onprem-gpu',
    accelerator: 'gpu',
    class: 'on-prem',
    replicasPerNode: 1,
    costPerHour: 12,
    minNodes: 1,
    maxNodes: 1,
    kubernetes: { nodeSelector: { 'example.com/rack': 'r7' }, taints: [{ key: 'example.com/onprem', effect: 'NoSchedule' }] },
  }),
  PoolSpec.parse({ name: 'cloud-gpu', accelerator: 'gpu', class: 'elastic', replicasPerNode: 1, costPerHour: 16, maxNodes: 1 }),
  PoolSpec.parse({ name: 'cpu', accelerator: 'cpu', replicasPerNode: 8, costPerHour: 1, minNodes: 1, maxNodes: 1 }),
];

const gpuService = (name: string, extra: Record<string, unknown> = {}) =>
  inferenceService(name, NS, {
    model: { uri: 'pvc://models/fraud-v1.onnx' },
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' }, accelerator: { count: 1 } },
    scaling: { minReplicas: 1, maxReplicas: 1 },
    placement: { pools: ['onprem-gpu', 'cloud-gpu'] },
    ...extra,
  });

describe('placement from declared pools on the real kube-scheduler', { timeout: 600_000 }, () => {
  let karb: KarbTestCluster;
  let cluster: TestCluster;
  let controller: RunningController;

  const podOf = (service: string) =>
    waitFor(`a pod of ${service}`, async () => (await getJson(cluster, ['pods', '-n', NS, '-l', `karb.dev/service=${service}`])).items[0], 120_000, 250);
  const scheduledNode = async (service: string) => waitFor(`${service}'s pod to be scheduled`, async () => (await podOf(service)).spec?.nodeName as string | undefined, 120_000, 250);

  before(async () => {
    await ensureModels();
    karb = await startKarbTestCluster({
      nodeAgent: {
        nodes: [
          { name: 'cpu-1', labels: { 'karb.dev/pool': 'cpu' } },
          { name: 'rack7-gpu-1', gpus: 1, labels: { 'example.com/rack': 'r7' }, taints: [{ key: 'example.com/onprem', effect: 'NoSchedule' }] },
          { name: 'cloud-gpu-1', gpus: 1, labels: { 'karb.dev/pool': 'cloud-gpu' } },
          { name: 'mig-1', mig: { '1g.10gb': 2 }, labels: { 'karb.dev/pool': 'mig' } },
        ],
      },
    });
    cluster = karb.cluster;
    await restrictedNamespace(cluster, NS);
    await modelsVolume(cluster, NS);
    controller = await startTestController(karb, { namespace: NS, identity: 'controller-placement', cluster: { pools: POOLS } });
  });

  after(async () => {
    await controller?.close();
    await karb?.stop();
  });

  it('fills on-prem first; on-prem full and the SLO not at risk, a replica that could go to the cloud waits behind karb’s gate and the status says why; a pool with no room leaves the scheduler’s reason', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], gpuService('gpu-a'));
    assert.equal(await scheduledNode('gpu-a'), 'rack7-gpu-1', 'the on-prem pool, found by its own label, its taint tolerated, first');
    await kubectlOk(cluster, ['apply', '-f', '-'], gpuService('gpu-b'));
    const waiting = await waitForObject(cluster, 'gpu-b to say why it waits', ['inferenceservice', 'gpu-b', '-n', NS], (o: any) =>
      o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.reason === 'ReplicasPending' && /on-prem is full/.test(c.message)),
    120_000);
    const ready = waiting.status.conditions.find((c: any) => c.type === 'Ready');
    assert.equal(ready.status, 'False');
    assert.match(ready.message, /^gpu-b-00001: gpu-b-00001-[a-z0-9-]+ cannot start yet: 1 of 1 replicas of placement\/gpu-b wait: on-prem is full and the SLO is not at risk, so no elastic node is bought \(no latency measured yet\)$/);
    const placed = waiting.status.conditions.find((c: any) => c.type === 'Placed');
    assert.deepEqual([placed.status, placed.reason], ['False', 'WaitingForOnPrem']);
    const pod = await podOf('gpu-b');
    assert.deepEqual(pod.spec.schedulingGates, [{ name: 'karb.dev/placement' }], 'still behind karb’s gate: the scheduler never sees it');
    assert.equal(pod.spec.nodeName, undefined);
    assert.equal((await getJson(cluster, ['pods', '-A', '--field-selector', 'spec.nodeName=cloud-gpu-1'])).items.length, 0, 'nothing runs on the cloud node');

    // A service naming the on-prem pool only is the scheduler's alone: it stays Pending with the scheduler's reason.
    await kubectlOk(cluster, ['apply', '-f', '-'], gpuService('gpu-c', { placement: { pools: ['onprem-gpu'] } }));
    const status = await waitForObject(cluster, 'gpu-c to say it cannot start', ['inferenceservice', 'gpu-c', '-n', NS], (o: any) =>
      o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.reason === 'ReplicasPending'),
    120_000);
    const pending = status.status.conditions.find((c: any) => c.type === 'Ready');
    assert.equal(pending.status, 'False');
    assert.match(pending.message, /^gpu-c-00001: gpu-c-00001-[a-z0-9-]+ cannot start yet: 0\/4 nodes are available: .*Insufficient nvidia\.com\/gpu/);
    assert.equal(status.status.conditions.find((c: any) => c.type === 'Placed'), undefined, 'karb places only services that could burst');
  });

  it('puts a MIG request only on the node with that profile, and a CPU service only in its pool', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], gpuService('mig-a', { resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' }, accelerator: { count: 1, sharing: 'mig-1g.10gb' } }, placement: {} }));
    assert.equal(await scheduledNode('mig-a'), 'mig-1');
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('cpu-a', NS, { model: { uri: 'pvc://models/fraud-v1.onnx' }, resources: { requests: { cpu: '100m', memory: '128Mi' } }, scaling: { minReplicas: 1, maxReplicas: 1 }, placement: { pools: ['cpu'] } }));
    assert.equal(await scheduledNode('cpu-a'), 'cpu-1');
  });

  it('refuses a service naming a pool that is not declared, or a GPU service in a CPU pool, saying how to fix it', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], gpuService('gpu-nowhere', { placement: { pools: ['tpu-pool'] } }));
    const refused = await waitForObject(cluster, 'gpu-nowhere refused', ['inferenceservice', 'gpu-nowhere', '-n', NS], (o: any) => o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'False'));
    assert.match(refused.status.conditions.find((c: any) => c.type === 'Ready').message, /spec\.placement\.pools\[0\]: no pool named tpu-pool; the declared pools are onprem-gpu, cloud-gpu, cpu/);
    await kubectlOk(cluster, ['apply', '-f', '-'], gpuService('gpu-on-cpu', { placement: { pools: ['cpu'] } }));
    const wrong = await waitForObject(cluster, 'gpu-on-cpu refused', ['inferenceservice', 'gpu-on-cpu', '-n', NS], (o: any) => o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'False'));
    assert.match(wrong.status.conditions.find((c: any) => c.type === 'Ready').message, /pool cpu has no accelerators/);
    assert.equal((await getJson(cluster, ['deployments', '-n', NS, '-l', 'karb.dev/service=gpu-nowhere'])).items.length, 0, 'nothing was made of it');
  });

  it('a team over its quota gets no more replicas, and the service’s status says which quota refused them', async () => {
    const quota = buildQuotas(parseGovernance(`apiVersion: karb.dev/v1alpha1\nkind: Governance\nspec:\n  quotas:\n    ${NS}: { gpus: 1, cpu: "8" }\n`, 'governance.yaml'));
    await kubectlOk(cluster, ['apply', '-f', '-'], quota.map((o) => stringify(o)).join('---\n'));
    await kubectlOk(cluster, ['apply', '-f', '-'], gpuService('gpu-d'));
    const refused = await waitForObject(cluster, 'gpu-d refused by the quota', ['inferenceservice', 'gpu-d', '-n', NS], (o: any) =>
      o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.reason === 'ReplicasRefused'),
    120_000);
    assert.match(refused.status.conditions.find((c: any) => c.type === 'Ready').message, /^gpu-d-00001: no replica can be created: .*exceeded quota: karb-quota, requested: requests\.nvidia\.com\/gpu=1/);
    assert.equal((await getJson(cluster, ['pods', '-n', NS, '-l', 'karb.dev/service=gpu-d'])).items.length, 0, 'no pod exists');
  });
});

