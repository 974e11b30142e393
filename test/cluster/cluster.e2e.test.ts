/**
 * The test cluster is a real Kubernetes control plane: the apiserver is ready, RBAC, PodSecurity
 * and ValidatingAdmissionPolicy refuse what they should, the controller-manager turns a
 * Deployment into a ReplicaSet and Pods, and the scheduler tries to place them (no nodes: they
 * stay Pending, Unschedulable). Also: `scripts/cluster.ts up`/`down` leave nothing running.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { waitFor } from '../../src/util/wait-for.ts';
import { httpsGet, readState, running } from './control-plane.ts';
import { startTestCluster, type TestCluster } from './harness.ts';

const WAIT_MS = 120_000;
let cluster: TestCluster;

before(async () => {
  cluster = await startTestCluster();
});

after(async () => {
  await cluster?.stop();
});

/** kubectl that must succeed; returns its stdout. */
async function ok(args: string[], input?: string): Promise<string> {
  const run = await cluster.kubectl(args, { input });
  assert.equal(run.code, 0, `kubectl ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, '-o', 'json'])) as T;
}

interface Item {
  metadata: { name: string; ownerReferences?: { kind: string; name: string }[] };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

test('the apiserver answers /readyz with ok, to the admin and through kubectl', async () => {
  const dir = cluster.dir;
  const res = await httpsGet(`${cluster.server}/readyz`, {
    ca: cluster.caFile,
    cert: path.join(dir, 'pki', 'admin.crt'),
    key: path.join(dir, 'pki', 'admin.key'),
  });
  assert.equal(res.status, 200);
  assert.equal(res.body, 'ok');
  assert.equal((await ok(['get', '--raw', '/readyz'])).trim(), 'ok');
  const version = JSON.parse(await ok(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
  assert.match(version.serverVersion.gitVersion, /^v1\.\d+\.\d+$/);
});

test('RBAC: a ServiceAccount token with no bindings gets 403 listing pods, and 200 once bound to view', async () => {
  await ok(['create', 'namespace', 'rbac-test']);
  await ok(['create', 'serviceaccount', 'nobody', '-n', 'rbac-test']);
  const token = (await ok(['create', 'token', 'nobody', '-n', 'rbac-test'])).trim();
  assert.ok(token.length > 0);
  const list = () => httpsGet(`${cluster.server}/api/v1/namespaces/rbac-test/pods`, { ca: cluster.caFile, token });
  const denied = await list();
  assert.equal(denied.status, 403, denied.body);
  const status = JSON.parse(denied.body) as { reason: string; message: string };
  assert.equal(status.reason, 'Forbidden');
  assert.match(status.message, /"system:serviceaccount:rbac-test:nobody" cannot list resource "pods"/);
  // the same token, authorized by a binding: it was RBAC that said no
  await ok(['create', 'rolebinding', 'nobody-views', '--clusterrole=view', '--serviceaccount=rbac-test:nobody', '-n', 'rbac-test']);
  await waitFor('the view binding to take effect', async () => (await list()).status === 200, WAIT_MS, 200);
});

test('PodSecurity: a namespace enforcing restricted refuses a privileged pod, naming the violation', async () => {
  await ok(['create', 'namespace', 'restricted']);
  await ok(['label', 'namespace', 'restricted', 'pod-security.kubernetes.io/enforce=restricted']);
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'privileged', namespace: 'restricted' },
    spec: { containers: [{ name: 'c', image: 'registry.invalid/nothing:1', securityContext: { privileged: true } }] },
  };
  const refused = await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /violates PodSecurity "restricted:latest"/);
  assert.match(refused.stderr, /privileged \(container "c" must not set securityContext\.privileged=true\)/);
  const pods = await getJson<{ items: Item[] }>(['get', 'pods', '-n', 'restricted']);
  assert.deepEqual(pods.items, []);
});

test('ValidatingAdmissionPolicy: a policy bound to a namespace refuses a ConfigMap that breaks it, and admits one that does not', async () => {
  await ok(['create', 'namespace', 'vap-test']);
  await ok(['label', 'namespace', 'vap-test', 'karb.dev/vap-test=on']);
  const policy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: 'no-forbidden-key' },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'] }] },
      validations: [{ expression: "!has(object.data) || !('forbidden' in object.data)", message: 'karb-test: key "forbidden" is not allowed' }],
    },
  };
  const binding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: 'no-forbidden-key' },
    spec: {
      policyName: 'no-forbidden-key',
      validationActions: ['Deny'],
      matchResources: { namespaceSelector: { matchLabels: { 'karb.dev/vap-test': 'on' } } },
    },
  };
  await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [policy, binding] }));
  // The admission plugin learns of new policies from a watch: try until it refuses.
  const refused = await waitFor(
    'the policy to refuse a ConfigMap with key "forbidden"',
    async () => {
      const run = await cluster.kubectl(['create', 'configmap', 'bad', '-n', 'vap-test', '--from-literal=forbidden=1']);
      if (run.code === 0) await ok(['delete', 'configmap', 'bad', '-n', 'vap-test']);
      return run.code !== 0 ? run : undefined;
    },
    WAIT_MS,
    250,
  );
  assert.match(refused.stderr, /ValidatingAdmissionPolicy 'no-forbidden-key' with binding 'no-forbidden-key' denied request: karb-test: key "forbidden" is not allowed/);
  await ok(['create', 'configmap', 'good', '-n', 'vap-test', '--from-literal=allowed=1']);
  // outside the bound namespace the policy does not apply
  await ok(['create', 'configmap', 'elsewhere', '-n', 'default', '--from-literal=forbidden=1']);
});

test('the controller-manager makes a Deployment a ReplicaSet and Pods; the scheduler finds no node for them, so they stay Pending', async () => {
  await ok(['create', 'namespace', 'workloads']);
  await ok(['create', 'deployment', 'web', '-n', 'workloads', '--image=registry.invalid/nothing:1', '--replicas=2']);
  const replicaSet = await waitFor(
    'a ReplicaSet owned by Deployment web',
    async () => (await getJson<{ items: Item[] }>(['get', 'replicasets', '-n', 'workloads'])).items.find((rs) => rs.metadata.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'web')),
    WAIT_MS,
    250,
  );
  const pods = await waitFor(
    'two Pods of the ReplicaSet, each marked unschedulable by the scheduler',
    async () => {
      const items = (await getJson<{ items: Item[] }>(['get', 'pods', '-n', 'workloads'])).items;
      const unschedulable = items.filter((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'));
      return items.length === 2 && unschedulable.length === 2 ? items : undefined;
    },
    WAIT_MS,
    250,
  );
  for (const pod of pods) {
    assert.deepEqual(pod.metadata.ownerReferences?.map((o) => [o.kind, o.name]), [['ReplicaSet', replicaSet.metadata.name]]);
    assert.equal(pod.status?.phase, 'Pending');
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    assert.match(scheduled?.message ?? '', /no nodes available to schedule pods/);
  }
});

test("the scheduler's and the controller-manager's health ports answer ok", async () => {
  for (const port of [cluster.state.ports.scheduler, cluster.state.ports.controllerManager]) {
    const res = await httpsGet(`https://127.0.0.1:${port}/healthz`, { ca: cluster.caFile });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'ok');
  }
});

function runScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = path.join(import.meta.dirname, '..', '..', 'scripts', 'cluster.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('scripts/cluster.ts: bad usage exits 2; up prints the KUBECONFIG export last and leaves a working kubectl; down stops every process and removes the folder', async () => {
  for (const args of [[], ['sideways'], ['up', 'extra'], ['up', '--nope']]) {
    const run = await runScript(args);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, /usage: node scripts\/cluster\.ts up\|down/);
  }
  const parent = mkdtempSync(path.join(tmpdir(), 'karb-cluster-cli-'));
  const dir = path.join(parent, 'run');
  try {
    const up = await runScript(['up', '--dir', dir]);
    assert.equal(up.code, 0, up.stderr);
    const lines = up.stdout.trim().split('\n');
    assert.equal(lines.at(-1), `export KUBECONFIG=${path.join(dir, 'admin.kubeconfig')}`);
    const state = readState(dir);
    assert.ok(state);
    const pids = Object.values(state.pids);
    assert.equal(pids.length, 4);
    assert.ok(pids.every((pid) => running(pid, state.binary)));
    const kubectl = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(path.join(dir, 'bin', 'kubectl'), ['get', 'serviceaccount', 'default', '-o', 'name'], {
        env: { ...process.env, KUBECONFIG: path.join(dir, 'admin.kubeconfig') },
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.once('close', (code) => resolve({ code, out }));
    });
    assert.deepEqual(kubectl, { code: 0, out: 'serviceaccount/default\n' });
    assert.match(readFileSync(path.join(dir, 'logs', 'kube-apiserver.log'), 'utf8'), /\S/);
    const down = await runScript(['down', '--dir', dir]);
    assert.equal(down.code, 0, down.stderr);
    assert.ok(pids.every((pid) => !running(pid, state.binary)));
    assert.equal(existsSync(dir), false);
  } finally {
    const state = readState(dir);
    if (state) await runScript(['down', '--dir', dir]);
    rmSync(parent, { recursive: true, force: true });
  }
});

test('scripts/cluster.ts up: a component that exits fails up with exit 1, one line naming it and its log, and nothing left running', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-cluster-cli-'));
  try {
    // etcd's data folder is a file: etcd exits at once
    writeFileSync(path.join(dir, 'etcd'), 'not a folder\n');
    const up = await runScript(['up', '--dir', dir]);
    assert.equal(up.code, 1, up.stderr);
    assert.equal(up.stdout, '');
    const last = up.stderr.trim().split('\n').at(-1) ?? '';
    assert.match(last, /^cluster up: etcd exited \(exit 1\): .*not a directory.*\(log: .*\/logs\/etcd\.log\)$/);
    const state = readState(dir);
    assert.ok(state?.pids.etcd);
    assert.equal(running(state.pids.etcd, state.binary), false);
    assert.equal(state.pids['kube-apiserver'], undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
