/**
 * GASCL's node request as something a cluster autoscaler acts on, on the test cluster's real
 * kube-scheduler: a capacity reservation. An elastic GPU pool of three one-GPU nodes; another
 * workload's pod holds one. A service on the pool runs two replicas under GASCL; told it needs
 * only one (minReplicas 2 → 1), GASCL keeps the two nodes the last minute needed through its node
 * delay, so karb controller holds the freed room with a placeholder pod of karb's own image
 * (`karb reserve`) at the PriorityClass karb-capacity-reservation: Pending while the pool has no
 * room (what a cluster autoscaler provisions a node for), then Running on the freed node. Told it
 * needs two again, the service's new replica finds the pool full: the scheduler preempts the
 * placeholder and the replica runs on its node; with nothing left to hold, the reservation drops
 * to zero. The other workload's pod, of the same priority as the replica, is never touched. The
 * decisions are GASCL's own, in the controller's loop; the controller runs with the RBAC karb
 * install ships (its service account's token), and the PriorityClass is karb install's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { PoolSpec } from '../../src/api/pool.ts';
import type { RunningController } from '../../src/control/kubernetes/controller.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/runtime/kubernetes/options.ts';
import { restrictedContainerSecurity, restrictedPodSecurity } from '../../src/runtime/kubernetes/security.ts';
import { ensureModels } from '../../src/serving/test-helpers.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { waitFor } from '../helpers.ts';
import { getJson, inferenceService, kubectlOk, modelsVolume, restrictedNamespace, startKarbTestCluster, startTestController, waitForObject, type KarbTestCluster } from './support.ts';

const NS = 'capacity';
const POOL = PoolSpec.parse({ name: 'gpu', accelerator: 'gpu', class: 'elastic', replicasPerNode: 1, gpusPerNode: 1, costPerHour: 16, maxNodes: 3 });
const NODES = ['gpu-1', 'gpu-2', 'gpu-3'];
const GPU = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' }, accelerator: { count: 1 } };
const scorer = (minReplicas: number) =>
  inferenceService('scorer', NS, {
    model: { uri: 'pvc://models/fraud-v1.onnx' },
    resources: GPU,
    scaling: { policy: 'gascl', minReplicas, maxReplicas: 3, targetConcurrency: 1, stabilization: { upSeconds: 0, downSeconds: 0 } },
    placement: { pools: ['gpu'] },
  });

/** Another workload's pod on the pool: one GPU, priority 0 (no PriorityClass), karb's image doing nothing. */
const FILLER = stringify({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'other-team', namespace: NS },
  spec: {
    securityContext: restrictedPodSecurity(),
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 0,
    nodeSelector: { 'karb.dev/pool': 'gpu' },
    containers: [{ name: 'job', image: DEFAULT_CLUSTER_OPTIONS.image, args: ['reserve'], resources: { requests: { cpu: '100m', memory: '64Mi', 'nvidia.com/gpu': '1' }, limits: { cpu: '1', memory: '256Mi', 'nvidia.com/gpu': '1' } }, securityContext: restrictedContainerSecurity() }],
  },
});

describe('GASCL’s node request as a capacity reservation the real kube-scheduler preempts for a replica', { timeout: 600_000 }, () => {
  let karb: KarbTestCluster;
  let cluster: TestCluster;
  let controller: RunningController;

  const live = (p: any): boolean => !p.metadata.deletionTimestamp;
  const running = (p: any): boolean => live(p) && p.status?.phase === 'Running' && p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
  const replicas = async (): Promise<any[]> => (await getJson(cluster, ['pods', '-n', NS, '-l', 'karb.dev/service=scorer'])).items.filter(live);
  const placeholders = async (): Promise<any[]> => (await getJson(cluster, ['pods', '-n', NS, '-l', 'karb.dev/capacity-for=scorer'])).items;
  const reservation = async (): Promise<any | undefined> => (await getJson(cluster, ['deployments', '-n', NS, '-l', 'karb.dev/capacity-for=scorer'])).items[0];
  const eventsOf = async (name: string): Promise<Array<{ reason: string; note: string }>> =>
    (await getJson(cluster, ['events.events.k8s.io', '-n', NS, '--field-selector', `regarding.name=${name}`])).items.map((e: any) => ({ reason: e.reason, note: e.note ?? '' }));
  const decision = async (): Promise<any> => (await getJson(cluster, ['inferenceservice', 'scorer', '-n', NS])).status?.controllerState?.autoscaler;

  before(async () => {
    await ensureModels();
    karb = await startKarbTestCluster({ nodeAgent: { nodes: NODES.map((name) => ({ name, gpus: 1, labels: { 'karb.dev/pool': 'gpu' } })) } });
    cluster = karb.cluster;
    await restrictedNamespace(cluster, NS);
    await modelsVolume(cluster, NS);
    controller = await startTestController(karb, { namespace: NS, identity: 'controller-capacity', cluster: { pools: [POOL] } });
  });

  after(async () => {
    await controller?.close();
    await karb?.stop();
  });

  test('held room: Pending while the pool is full, then Running on the freed node; a replica needing it preempts it; then released', async (t) => {
    const started = Date.now();
    const priorityClass = await getJson(cluster, ['priorityclass', 'karb-capacity-reservation']);
    assert.deepEqual([priorityClass.value, priorityClass.preemptionPolicy, priorityClass.globalDefault ?? false], [-10, 'Never', false], 'karb install’s PriorityClass');

    await kubectlOk(cluster, ['apply', '-f', '-'], FILLER);
    const filler = await waitForObject(cluster, 'the other workload’s pod running', ['pod', 'other-team', '-n', NS], running, 120_000);
    await kubectlOk(cluster, ['apply', '-f', '-'], scorer(2));
    const two = await waitFor('scorer’s two replicas ready on the other two nodes', async () => {
      const pods = await replicas();
      return pods.length === 2 && pods.every(running) ? pods : undefined;
    }, 180_000, 250);
    assert.deepEqual(two.map((p) => p.spec.nodeName).sort(), NODES.filter((n) => n !== filler.spec.nodeName), 'the pool is full');

    // GASCL reads the pool (three Ready nodes, one replica each) and, a whole node delay on, says two nodes do for two replicas.
    const steady = await waitFor('GASCL to count the nodes the last 60 s needed', async () => {
      const d = await decision();
      return d?.desiredNodes === 2 ? d : undefined;
    }, 180_000, 500);
    assert.equal(steady.desiredReplicas, 2);
    assert.match(steady.message, /; 2 of 3 nodes needed for 60 s$/);
    assert.equal(await reservation(), undefined, 'two nodes for two replicas: no room beyond them, no reservation');

    // One replica is enough now, but GASCL keeps the two nodes the last minute needed: room for one more replica is held.
    await kubectlOk(cluster, ['patch', 'inferenceservice', 'scorer', '-n', NS, '--type', 'merge', '-p', JSON.stringify({ spec: { scaling: { minReplicas: 1 } } })]);
    const t0 = Date.now();
    const held = await waitFor('a placeholder running on the freed node', async () => {
      const ps = (await placeholders()).filter(running);
      const rs = await replicas();
      return ps.length === 1 && rs.length === 1 ? { placeholder: ps[0], replica: rs[0] } : undefined;
    }, 120_000, 250);
    t.diagnostic(`scale-down → placeholder running in ${Date.now() - t0} ms`);
    const placeholder = held.placeholder;
    const freed = two.find((p) => p.spec.nodeName !== held.replica.spec.nodeName).spec.nodeName;
    assert.equal(placeholder.spec.nodeName, freed, 'where the replica that went was');
    assert.deepEqual(
      [placeholder.spec.priorityClassName, placeholder.spec.priority, placeholder.spec.preemptionPolicy, placeholder.spec.terminationGracePeriodSeconds],
      ['karb-capacity-reservation', -10, 'Never', 0],
    );
    assert.deepEqual(placeholder.spec.containers.map((c: any) => [c.image, c.args]), [[DEFAULT_CLUSTER_OPTIONS.image, ['reserve']]], 'karb’s own image, doing nothing');
    assert.deepEqual(placeholder.spec.containers[0].resources.requests, { cpu: '100m', memory: '128Mi', 'nvidia.com/gpu': '1' }, 'what one replica requests');
    assert.deepEqual(placeholder.spec.affinity, two[0].spec.affinity, 'the replicas’ pool affinity');
    assert.equal(placeholder.metadata.labels['karb.dev/service'], undefined, 'not a replica');
    // While the replica that went still held its GPU (its preStop pause), the scheduler found no room: a cluster autoscaler's cue.
    const waited = (await eventsOf(placeholder.metadata.name)).filter((e) => e.reason === 'FailedScheduling');
    assert.ok(waited.length > 0, 'it was Pending first');
    assert.match(waited[0]!.note, /Insufficient nvidia\.com\/gpu/);
    t.diagnostic(`placeholder while the pool was full: ${waited[0]!.note}`);

    const deployment = await reservation();
    const service = await getJson(cluster, ['inferenceservice', 'scorer', '-n', NS]);
    assert.equal(deployment.metadata.name, 'scorer-capacity');
    assert.equal(deployment.spec.replicas, 1);
    assert.deepEqual(deployment.metadata.ownerReferences.map((o: any) => [o.kind, o.name, o.uid, o.controller]), [['InferenceService', 'scorer', service.metadata.uid, true]], 'it goes with the service');
    assert.equal(deployment.metadata.labels['app.kubernetes.io/managed-by'], 'karb');
    const down = await decision();
    assert.deepEqual([down.desiredReplicas, down.desiredNodes], [1, 2]);
    const reserved = await waitFor('the CapacityReserved event', async () => (await eventsOf('scorer')).find((e) => e.reason === 'CapacityReserved'), 30_000, 250);
    assert.equal(reserved.note, 'holding room for 1 more replica on pool gpu: the autoscaler wants 2 nodes (1 replica per node) for 1 replica; placeholder pods at priority -10 hold it, and any replica preempts them');

    // Two replicas again: the pool is full (a replica, the placeholder, the other workload), and the new replica takes the held room.
    await kubectlOk(cluster, ['patch', 'inferenceservice', 'scorer', '-n', NS, '--type', 'merge', '-p', JSON.stringify({ spec: { scaling: { minReplicas: 2 } } })]);
    const t1 = Date.now();
    const newcomer = await waitFor('the new replica running where the placeholder was', async () => {
      const pods = await replicas();
      return pods.find((p) => p.metadata.name !== held.replica.metadata.name && p.spec?.nodeName === freed && running(p));
    }, 180_000, 250);
    t.diagnostic(`scale-up → replica ready on the held node in ${Date.now() - t1} ms`);
    const preempted = (await eventsOf(placeholder.metadata.name)).find((e) => e.reason === 'Preempted');
    assert.ok(preempted, `the scheduler preempted the placeholder; its events: ${JSON.stringify(await eventsOf(placeholder.metadata.name))}`);
    assert.match(preempted.note, new RegExp(`^Preempted by pod (${newcomer.metadata.uid}|${NS}/${newcomer.metadata.name}) on node ${freed}$`));

    // Nothing is held beyond the two replicas now: the reservation drops to zero, its placeholders gone.
    await waitFor('the reservation at zero, no placeholder left', async () => {
      const d = await reservation();
      return d?.spec.replicas === 0 && (await placeholders()).filter(live).length === 0;
    }, 60_000, 250);
    const released = await waitFor('the CapacityReleased event', async () => (await eventsOf('scorer')).find((e) => e.reason === 'CapacityReleased'), 30_000, 250);
    assert.match(released.note, /^room on pool gpu released: /);
    const after = await getJson(cluster, ['pod', 'other-team', '-n', NS]);
    assert.deepEqual([after.metadata.uid, running(after)], [filler.metadata.uid, true], 'the other workload’s pod, of the replicas’ priority, was never a victim');
    assert.equal((await replicas()).filter(running).length, 2);
    t.diagnostic(`whole scenario: ${Math.round((Date.now() - started) / 1000)} s`);
  });
});
