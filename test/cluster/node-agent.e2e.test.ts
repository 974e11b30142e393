/**
 * The test node agent stands in for a kubelet on the test cluster: its Nodes register and stay
 * Ready through their Leases; karb's Deployment (built by karb's own builder, model from a PVC,
 * in a namespace enforcing Pod Security restricted) runs as local processes on loopback
 * addresses, becomes Ready by its readiness probe and answers an inference; scaling, a killed
 * process, a deleted pod, another image and a GPU request each behave as on a cluster with a
 * kubelet. No controller: plain objects only. No GPU either: a GPU node only advertises one.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildDeployment } from '../../src/runtime/kubernetes/deployment.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/runtime/kubernetes/options.ts';
import type { RevisionTemplate } from '../../src/runtime/types.ts';
import { ensureModels, REPO_ROOT } from '../../src/serving/test-helpers.ts';
import { waitFor } from '../../src/util/wait-for.ts';
import { startTestCluster, type TestCluster } from './harness.ts';
import { startNodeAgent, type NodeAgent } from './node-agent.ts';

type Obj = Record<string, any>;

const NS = 'serving';
const WAIT_MS = 120_000;
const REQUEST = readFileSync(path.join(REPO_ROOT, 'examples', 'fraud-request.json'), 'utf8');

function template(revision: string, extra: Partial<RevisionTemplate> = {}): RevisionTemplate {
  return {
    revision,
    service: 'fraud',
    namespace: NS,
    model: { format: 'onnx', name: 'fraud', uri: 'pvc://models/fraud-v1.onnx', batching: { maxBatchSize: 32, maxDelayMs: 4 } },
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
    drainSeconds: 10,
    ...extra,
  };
}

describe('the test node agent', { timeout: 600_000 }, () => {
  let cluster: TestCluster;

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await cluster.kubectl(args, input === undefined ? {} : { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const get = async (args: string[]): Promise<Obj | undefined> => {
    const r = await cluster.kubectl(['get', ...args, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined;
  };
  const apply = (...objects: Obj[]) => kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const isReady = (pod: Obj) => pod.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True') === true;
  /** The pods of a revision that are Ready and not being deleted, once there are `count` of them. */
  const readyPods = (revision: string, count: number): Promise<Obj[]> =>
    waitFor(
      `${count} ready pods of ${revision}`,
      async () => {
        const list = await get(['pods', '-n', NS, '-l', `karb.dev/revision=${revision}`]);
        const ready = (list?.items ?? []).filter((p: Obj) => isReady(p) && !p.metadata.deletionTimestamp);
        return ready.length === count ? ready : undefined;
      },
      WAIT_MS,
      250,
    );
  const infer = async (ip: string): Promise<{ status: number; body: Obj }> => {
    const res = await fetch(`http://${ip}:8080/v2/models/fraud/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: REQUEST });
    return { status: res.status, body: (await res.json()) as Obj };
  };
  /** Running, not merely a zombie waiting for a parent to reap it (a detached process's new parent may be slow to). */
  const alive = (pid: number) => {
    try {
      return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };

  before(async () => {
    await ensureModels();
    cluster = await startTestCluster({
      nodeAgent: {
        nodes: [
          { name: 'node-1' },
          { name: 'gpu-1', gpus: 2, mig: { '1g.10gb': 7 }, taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }], labels: { 'karb.dev/pool': 'gpu' } },
        ],
      },
    });
    await kubectl(['create', 'namespace', NS]);
    await kubectl(['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=latest']);
    // The model store: a PersistentVolume on this checkout's models/ folder, and the claim karb's pvc:// URIs name.
    await apply(
      {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: 'models' },
        spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadOnlyMany'], storageClassName: '', hostPath: { path: path.join(REPO_ROOT, 'models'), type: 'Directory' } },
      },
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'models', namespace: NS },
        spec: { accessModes: ['ReadOnlyMany'], storageClassName: '', volumeName: 'models', resources: { requests: { storage: '1Gi' } } },
      },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'fraud', namespace: NS } },
    );
  });

  after(async () => {
    await cluster?.stop();
  });

  test('its nodes are Ready, heartbeat through their Leases, and a GPU node advertises GPUs and MIG slices', async () => {
    const nodes = (await get(['nodes']))!.items as Obj[];
    assert.deepEqual(nodes.map((n) => n.metadata.name).sort(), ['gpu-1', 'node-1']);
    for (const node of nodes) {
      assert.ok(node.status.conditions.some((c: Obj) => c.type === 'Ready' && c.status === 'True'), `${node.metadata.name} is Ready`);
      const lease = await get(['lease', node.metadata.name, '-n', 'kube-node-lease']);
      assert.equal(lease?.spec.holderIdentity, node.metadata.name);
      assert.equal(lease?.metadata.ownerReferences[0].uid, node.metadata.uid);
    }
    const gpu = nodes.find((n) => n.metadata.name === 'gpu-1')!;
    assert.equal(gpu.status.allocatable['nvidia.com/gpu'], '2');
    assert.equal(gpu.status.allocatable['nvidia.com/mig-1g.10gb'], '7');
    assert.equal(gpu.metadata.labels['nvidia.com/gpu.present'], 'true');
    const plain = nodes.find((n) => n.metadata.name === 'node-1')!;
    assert.equal(plain.status.allocatable['nvidia.com/gpu'], undefined);
    // A Lease renewed is a heartbeat: its renewTime moves on.
    const first = (await get(['lease', 'node-1', '-n', 'kube-node-lease']))!.spec.renewTime;
    await waitFor('the node-1 Lease to be renewed', async () => (await get(['lease', 'node-1', '-n', 'kube-node-lease']))!.spec.renewTime !== first, WAIT_MS, 500);
  });

  test('karb’s Deployment runs: its pod is Running and Ready on a loopback address of its own and answers an OIP v2 inference', async () => {
    await apply(buildDeployment(template('fraud-00001'), 1, DEFAULT_CLUSTER_OPTIONS));
    const [pod] = await readyPods('fraud-00001', 1);
    assert.equal(pod!.spec.nodeName, 'node-1');
    assert.equal(pod!.status.phase, 'Running');
    assert.match(pod!.status.podIP, /^127\.\d+\.\d+\.\d+$/);
    assert.deepEqual(pod!.status.podIPs, [{ ip: pod!.status.podIP }]);
    assert.equal(pod!.status.hostIP, '127.0.0.1');
    assert.ok(pod!.status.startTime);
    const conditions = Object.fromEntries(pod!.status.conditions.map((c: Obj) => [c.type, c.status]));
    assert.deepEqual([conditions.PodScheduled, conditions.Initialized, conditions.ContainersReady, conditions.Ready], ['True', 'True', 'True', 'True']);
    const [status] = pod!.status.containerStatuses;
    assert.equal(status.name, 'model-server');
    assert.equal(status.ready, true);
    assert.equal(status.started, true);
    assert.equal(status.restartCount, 0);
    assert.ok(status.state.running.startedAt);

    const answer = await infer(pod!.status.podIP);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.model_name, 'fraud');
    assert.ok(answer.body.outputs.length > 0);
    assert.equal(answer.body.outputs[0].shape[0], 2, 'one output row per input row');

    // The process is this checkout's karb serve, listening on the pod's address, its output in the agent's log.
    const procs = cluster.nodeAgent!.processes().filter((p) => p.pod === pod!.metadata.name);
    assert.equal(procs.length, 1);
    const cmdline = readFileSync(`/proc/${procs[0]!.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(cmdline.includes(path.join(REPO_ROOT, 'src', 'cli', 'main.ts')));
    assert.ok(cmdline.includes(path.join(REPO_ROOT, 'models', 'fraud-v1.onnx')), `the model path is rewritten to the volume: ${cmdline.join(' ')}`);
    assert.deepEqual(cmdline.slice(cmdline.indexOf('--host'), cmdline.indexOf('--host') + 2), ['--host', pod!.status.podIP]);
    const log = readFileSync(cluster.nodeAgent!.logFile(NS, pod!.metadata.name, 'model-server')!, 'utf8');
    assert.match(log, /"msg":"listening"/);
  });

  test('on the loopback pod network, the API server refuses the pod’s address in an EndpointSlice, and the controller-manager says so', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'fraud-00001', namespace: NS },
      spec: { selector: { 'karb.dev/revision': 'fraud-00001' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    });
    const [pod] = await readyPods('fraud-00001', 1);
    const event = await waitFor(
      'the EndpointSlice controller’s FailedToUpdateEndpointSlices event',
      async () => {
        const events = await get(['events', '-n', NS, '--field-selector', 'involvedObject.kind=Service,involvedObject.name=fraud-00001,reason=FailedToUpdateEndpointSlices']);
        return events?.items[0] as Obj | undefined;
      },
      WAIT_MS,
      500,
    );
    assert.match(event.message, new RegExp(`Invalid value: "${pod!.status.podIP.replaceAll('.', '\\.')}": may not be in the loopback range`));
    const slices = await get(['endpointslices', '-n', NS, '-l', 'kubernetes.io/service-name=fraud-00001']);
    assert.deepEqual(slices!.items.flatMap((s: Obj) => s.endpoints ?? []), [], 'no slice holds the loopback address');
    await kubectl(['delete', 'service', 'fraud-00001', '-n', NS]);
  });

  test('scaled to 2, the Deployment gets a second pod, ready on another address', async () => {
    await kubectl(['scale', 'deployment', 'fraud-00001', '-n', NS, '--replicas=2']);
    const pods = await readyPods('fraud-00001', 2);
    const ips = pods.map((p) => p.status.podIP as string);
    assert.notEqual(ips[0], ips[1]);
    for (const ip of ips) assert.equal((await infer(ip)).status, 200);
  });

  test('a process that exits is started again: restartCount goes up, the last state says how it ended, and the pod is Ready again', async () => {
    const [pod] = await readyPods('fraud-00001', 2);
    const name = pod!.metadata.name as string;
    const proc = cluster.nodeAgent!.processes().find((p) => p.pod === name)!;
    process.kill(proc.pid, 'SIGKILL');
    const restarted = await waitFor(
      `${name} restarted and Ready`,
      async () => {
        const p = await get(['pod', name, '-n', NS]);
        return p && isReady(p) && p.status.containerStatuses[0].restartCount === 1 ? p : undefined;
      },
      WAIT_MS,
      250,
    );
    const status = restarted.status.containerStatuses[0];
    assert.equal(status.lastState.terminated.exitCode, 137, 'killed by SIGKILL: 128 + 9');
    assert.equal(status.lastState.terminated.reason, 'Error');
    assert.equal(restarted.status.podIP, pod!.status.podIP, 'a restart keeps the pod’s address');
    const now = cluster.nodeAgent!.processes().find((p) => p.pod === name)!;
    assert.notEqual(now.pid, proc.pid);
    assert.equal((await infer(restarted.status.podIP)).status, 200);
  });

  test('a deleted pod runs its preStop hook, gets SIGTERM, drains and is gone; its process too; the ReplicaSet replaces it', async () => {
    const [pod] = await readyPods('fraud-00001', 2);
    const name = pod!.metadata.name as string;
    const { pid } = cluster.nodeAgent!.processes().find((p) => p.pod === name)!;
    const logFile = cluster.nodeAgent!.logFile(NS, name, 'model-server')!;
    await kubectl(['delete', 'pod', name, '-n', NS, '--wait=false']);
    await waitFor(`pod ${name} to be gone`, async () => (await cluster.kubectl(['get', 'pod', name, '-n', NS])).code !== 0, WAIT_MS, 250);
    assert.equal(alive(pid), false, 'its process has exited');
    const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => { try { return JSON.parse(l) as Obj; } catch { return { msg: l }; } });
    // In this order (the pod may have been restarted before: its log holds earlier runs too).
    let from = 0;
    const next = (predicate: (l: Obj) => boolean, what: string) => {
      const i = lines.findIndex((l, j) => j >= from && predicate(l));
      assert.ok(i >= 0, `${what} follows in the log:\n${lines.slice(from).map((l) => JSON.stringify(l)).join('\n')}`);
      from = i + 1;
      return i;
    };
    next((l) => l.msg === 'karb test node: preStop hook: sleep 5 s', 'the preStop sleep');
    next((l) => l.msg === 'karb test node: stopping: SIGTERM', 'SIGTERM');
    next((l) => l.msg === 'signal received; draining' && l.signal === 'SIGTERM', 'karb serve draining on SIGTERM');
    const exited = next((l) => l.msg === 'karb test node: container exited', 'the exit');
    assert.equal(lines[exited]!.exitCode, 0, 'a clean drain exits 0');
    assert.ok(!lines.some((l) => l.msg === 'karb test node: grace period over: SIGKILL'), 'no SIGKILL was needed');
    const pods = await readyPods('fraud-00001', 2);
    assert.ok(!pods.some((p) => p.metadata.name === name), 'a new pod took its place');
  });

  test('a pod of another image waits with reason ImageNotSupportedByTestNode; an init container of another image holds its pod in Init the same way', async () => {
    await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { containers: [{ name: 'nginx', image: 'docker.io/library/nginx:1.27' }] } });
    const web = await waitFor(
      'pod web to say why it does not run',
      async () => {
        const p = await get(['pod', 'web', '-n', 'default']);
        return p?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImageNotSupportedByTestNode' ? p : undefined;
      },
      WAIT_MS,
      250,
    );
    assert.equal(web.status.phase, 'Pending');
    assert.match(web.status.containerStatuses[0].state.waiting.message, /only karb's image \(ghcr\.io\/karb-dev\/karb, any tag\)/);
    const events = await get(['events', '-n', 'default', '--field-selector', 'involvedObject.name=web,reason=ImageNotSupportedByTestNode']);
    assert.equal(events!.items[0]?.type, 'Warning');

    // karb's s3:// models are fetched by an init container of the AWS CLI's image: that cannot run here.
    await apply(buildDeployment(template('fraud-00003', { model: { format: 'onnx', name: 'fraud', uri: 's3://models/fraud-v1.onnx' } }), 1, DEFAULT_CLUSTER_OPTIONS));
    const s3 = await waitFor(
      'the s3 pod to wait in Init',
      async () => {
        const list = await get(['pods', '-n', NS, '-l', 'karb.dev/revision=fraud-00003']);
        const p = list?.items[0];
        return p?.status?.initContainerStatuses?.[0]?.state?.waiting?.reason === 'ImageNotSupportedByTestNode' ? p : undefined;
      },
      WAIT_MS,
      250,
    );
    assert.equal(s3.status.phase, 'Pending');
    assert.equal(s3.status.containerStatuses[0].state.waiting.reason, 'PodInitializing');
    assert.equal(s3.status.conditions.find((c: Obj) => c.type === 'Initialized').status, 'False');
    await kubectl(['delete', 'deployment', 'fraud-00003', '-n', NS]);
    await kubectl(['delete', 'pod', 'web', '-n', 'default', '--wait=false']);
  });

  test('a pod asking for nvidia.com/gpu (or a MIG slice) is placed on the GPU node by the scheduler and runs there, with no GPU behind it', async () => {
    const gpu = { kind: 'nvidia.com/gpu', count: 1, sharing: 'none' as const };
    const mig = { kind: 'nvidia.com/gpu', count: 1, sharing: 'mig-1g.10gb' as const };
    const resources = template('x').resources;
    await apply(
      buildDeployment(template('fraud-00002', { resources: { ...resources, accelerator: gpu } }), 1, DEFAULT_CLUSTER_OPTIONS),
      buildDeployment(template('fraud-00004', { resources: { ...resources, accelerator: mig } }), 1, DEFAULT_CLUSTER_OPTIONS),
    );
    for (const [revision, resource] of [['fraud-00002', 'nvidia.com/gpu'], ['fraud-00004', 'nvidia.com/mig-1g.10gb']] as const) {
      const [pod] = await readyPods(revision, 1);
      assert.equal(pod!.spec.nodeName, 'gpu-1', `${revision} is on the GPU node`);
      assert.equal(pod!.spec.containers[0].resources.limits[resource], '1');
      assert.equal((await infer(pod!.status.podIP)).status, 200);
    }
    // The scheduler counts them against the node: a second whole-GPU pod fits (2 GPUs), a third does not.
    await kubectl(['scale', 'deployment', 'fraud-00002', '-n', NS, '--replicas=3']);
    await readyPods('fraud-00002', 2);
    const pending = await waitFor(
      'the third GPU pod to be unschedulable',
      async () => {
        const list = await get(['pods', '-n', NS, '-l', 'karb.dev/revision=fraud-00002']);
        return list?.items.find((p: Obj) => p.status?.conditions?.some((c: Obj) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'));
      },
      WAIT_MS,
      250,
    );
    assert.match(pending.status.conditions.find((c: Obj) => c.type === 'PodScheduled').message, /Insufficient nvidia\.com\/gpu/);
    await kubectl(['delete', 'deployment', 'fraud-00002', 'fraud-00004', '-n', NS]);
  });

  test('on the routable pod network, a Service’s EndpointSlice lists the ready pod (where lo can take addresses: root or CAP_NET_ADMIN; elsewhere the agent refuses to start, saying so)', async (t) => {
    let agent: NodeAgent;
    try {
      agent = await startNodeAgent({
        kubeconfig: cluster.kubeconfig,
        dir: path.join(cluster.dir, 'routable-agent'),
        podNetwork: 'routable',
        nodes: [{ name: 'node-r', taints: [{ key: 'karb.dev/routable', effect: 'NoSchedule' }] }],
      });
    } catch (err) {
      // The contract where this process may not add addresses to lo: a clear refusal, nothing started.
      assert.match((err as Error).message, /needs iproute2 and root or CAP_NET_ADMIN/);
      t.diagnostic(`routable pod network not available here: ${(err as Error).message}`);
      return;
    }
    try {
      const deployment = buildDeployment(template('fraud-00005'), 1, DEFAULT_CLUSTER_OPTIONS) as Obj;
      deployment.spec.template.spec.nodeSelector = { 'kubernetes.io/hostname': 'node-r' };
      deployment.spec.template.spec.tolerations = [{ key: 'karb.dev/routable', operator: 'Exists', effect: 'NoSchedule' }];
      await apply(deployment, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'fraud-00005', namespace: NS },
        spec: { selector: { 'karb.dev/revision': 'fraud-00005' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      });
      const [pod] = await readyPods('fraud-00005', 1);
      assert.match(pod!.status.podIP, /^198\.18\.\d+\.\d+$/);
      const endpoint = await waitFor(
        'an EndpointSlice listing the pod, ready',
        async () => {
          const list = await get(['endpointslices', '-n', NS, '-l', 'kubernetes.io/service-name=fraud-00005']);
          return list?.items.flatMap((s: Obj) => s.endpoints ?? []).find((e: Obj) => e.conditions?.ready === true);
        },
        WAIT_MS,
        250,
      );
      assert.deepEqual(endpoint.addresses, [pod!.status.podIP]);
      assert.equal(endpoint.nodeName, 'node-r');
      assert.equal(endpoint.targetRef.name, pod!.metadata.name);
      assert.equal((await infer(pod!.status.podIP)).status, 200);
      await kubectl(['delete', 'deployment', 'fraud-00005', '-n', NS]);
      await kubectl(['delete', 'service', 'fraud-00005', '-n', NS]);
    } finally {
      await agent.stop();
      await cluster.kubectl(['delete', 'node', 'node-r']);
    }
  });

  test('stopping the agent ends every pod process', async () => {
    const procs = cluster.nodeAgent!.processes();
    assert.ok(procs.length >= 2, `pods were running: ${JSON.stringify(procs)}`);
    await cluster.nodeAgent!.stop();
    for (const p of procs) assert.equal(alive(p.pid), false, `${p.pod}/${p.container} (pid ${p.pid}) has exited`);
    assert.deepEqual(cluster.nodeAgent!.processes(), []);
  });

  test('scripts/cluster.ts up --nodes runs the agent in the background: its node is Ready and runs a pod; down stops the agent and the pod’s process', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'karb-cluster-up-'));
    const script = path.join(REPO_ROOT, 'scripts', 'cluster.ts');
    const run = (args: string[]) => promisify(execFile)(process.execPath, [script, ...args, '--dir', dir]);
    try {
      await run(['up', '--nodes', 'solo-1:gpus=1']);
      const kubeconfig = path.join(dir, 'admin.kubeconfig');
      const k = (args: string[], input?: string) => cluster.kubectl(args, { kubeconfig, ...(input === undefined ? {} : { input }) });
      const node = JSON.parse((await k(['get', 'node', 'solo-1', '-o', 'json'])).stdout) as Obj;
      assert.equal(node.status.allocatable['nvidia.com/gpu'], '1');
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'solo', namespace: 'default' },
        spec: { automountServiceAccountToken: false, containers: [{ name: 'c', image: DEFAULT_CLUSTER_OPTIONS.image, args: ['serve', '--model', path.join(REPO_ROOT, 'models', 'fraud-v1.onnx'), '--name', 'fraud', '--port', '8080', '--host', '0.0.0.0'], readinessProbe: { httpGet: { path: '/v2/health/ready', port: 8080 }, periodSeconds: 1 } }] },
      };
      assert.equal((await k(['apply', '-f', '-'], JSON.stringify(pod))).code, 0);
      const ip = await waitFor(
        'the pod to be Ready',
        async () => {
          const p = JSON.parse((await k(['get', 'pod', 'solo', '-o', 'json'])).stdout) as Obj;
          return isReady(p) ? (p.status.podIP as string) : undefined;
        },
        WAIT_MS,
        250,
      );
      assert.equal((await infer(ip)).status, 200);
      const agentPid = Number(readFileSync(path.join(dir, 'node-agent.pid'), 'utf8'));
      const podPids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`--host\0${ip}\0`);
        } catch {
          return false;
        }
      });
      assert.equal(podPids.length, 1, 'one process serves the pod');
      await run(['down']);
      assert.equal(alive(agentPid), false, 'the agent has stopped');
      assert.equal(alive(podPids[0]!), false, 'the pod’s process has stopped');
      assert.equal(existsSync(dir), false);
    } finally {
      await run(['down']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
