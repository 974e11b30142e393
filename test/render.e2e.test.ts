/**
 * `karb install` and `karb render` against a real API server (test/cluster): the install applies
 * and its pods pass Pod Security "restricted"; the rendered base and a staging overlay of the
 * examples (with cluster model URIs) go through kustomize, equal the fully rendered objects, and
 * the API server accepts them — the CRD's schema and CEL rules, and Pod Security in a namespace
 * that enforces "restricted".
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { readManifests } from '../src/cli/commands.ts';
import { renderOverlayObjects } from '../src/cli/render-plan.ts';
import { REPO_ROOT, runKarb } from '../src/serving/test-helpers.ts';
import { waitFor } from '../src/util/wait-for.ts';
import { startTestCluster, type TestCluster } from './cluster/harness.ts';

type Any = Record<string, any>;

const WAIT_MS = 120_000;
/** The model pods' namespace: Pod Security "restricted" enforced, and warned about for workloads. */
const MODELS_NS = 'models';

let cluster: TestCluster;
let dir: string;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'karb-render-e2e-'));
  cluster = await startTestCluster();
});

after(async () => {
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});


async function kubectl(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const r = await cluster.kubectl(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r;
}

const parse = (text: string): Any[] => parseAllDocuments(text).map((d) => d.toJS()).filter((d) => d !== null);
const identity = (o: Any) => `${o.apiVersion}|${o.kind}|${o.metadata.namespace ?? ''}|${o.metadata.name}`;
const sorted = (objects: Any[]) => [...objects].sort((a, b) => (identity(a) < identity(b) ? -1 : 1));

/** Waits until the Deployment's ReplicaSet made its pods (Pod Security admitted them), or fails with the ReplicaSet's refusal. */
async function podsCreated(namespace: string, deployment: string, replicas: number): Promise<void> {
  await waitFor(
    `${replicas} pods of Deployment ${namespace}/${deployment}`,
    async () => {
      const sets = JSON.parse((await kubectl(['get', 'replicasets', '-n', namespace, '-o', 'json'])).stdout).items as Any[];
      const rs = sets.find((s) => s.metadata.ownerReferences?.some((o: Any) => o.kind === 'Deployment' && o.name === deployment));
      const failure = rs?.status?.conditions?.find((c: Any) => c.type === 'ReplicaFailure' && c.status === 'True');
      if (failure) assert.fail(`ReplicaSet ${rs!.metadata.name} could not create pods: ${failure.message}`);
      return rs !== undefined && rs.status?.replicas === replicas;
    },
    WAIT_MS,
    250,
  );
}

test('karb install | kubectl apply -f -: the CRD becomes Established and karb’s own pods pass Pod Security "restricted"', async () => {
  const install = await runKarb(['install']);
  assert.equal(install.code, 0, install.stderr);
  const applied = await kubectl(['apply', '-f', '-'], install.stdout);
  assert.doesNotMatch(applied.stderr, /PodSecurity/, 'no Pod Security warning for the workloads');
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/inferenceservices.karb.dev']);
  await podsCreated('karb-system', 'karb-controller', 2);
  await podsCreated('karb-system', 'karb-gateway', 2);
  // The controller's identity can do what it needs, and no more.
  const can = async (verb: string, resource: string, ns?: string) =>
    (await cluster.kubectl(['auth', 'can-i', verb, resource, '--as', 'system:serviceaccount:karb-system:karb-controller', ...(ns ? ['-n', ns] : ['--all-namespaces'])])).stdout.trim();
  assert.equal(await can('patch', 'inferenceservices.karb.dev/status'), 'yes');
  assert.equal(await can('create', 'deployments.apps'), 'yes');
  assert.equal(await can('update', 'leases.coordination.k8s.io', 'karb-system'), 'yes');
  assert.equal(await can('update', 'leases.coordination.k8s.io', 'default'), 'no');
  assert.equal(await can('get', 'secrets'), 'no');
  assert.equal(await can('delete', 'inferenceservices.karb.dev'), 'no');
});

test('karb render of the examples and a staging overlay: kustomize gives the rendered objects, and the API server accepts them', async () => {
  // The examples as a cluster would take them: models in a volume claim instead of on this machine,
  // and one fraud-detector (the others are its later versions).
  const input = path.join(dir, 'examples');
  mkdirSync(input);
  for (const name of ['fraud-detector.yaml', 'tiny-lm.yaml']) {
    const text = readFileSync(path.join(REPO_ROOT, 'examples', name), 'utf8').replace(/file:\/\/models\//g, 'pvc://models/');
    writeFileSync(path.join(input, name), text);
  }
  const staging = path.join(dir, 'staging.yaml');
  writeFileSync(
    staging,
    [
      'spec: { scaling: { minReplicas: 2 }, slo: { latencyP95Ms: 150 } }',
      '---',
      'metadata: { name: tiny-lm, labels: { tier: batch } }',
      'spec: { scaling: { policy: hpa-service, maxReplicas: 3 }, placement: { tolerations: [{ key: spot, operator: Exists, effect: NoSchedule }] } }',
    ].join('\n'),
  );
  const out = path.join(dir, 'deploy');
  const rendered = await runKarb(['render', '-f', input, '--out', out, '--overlay', `staging=${staging}`, '--namespace', MODELS_NS]);
  assert.equal(rendered.code, 0, rendered.stderr);
  assert.deepEqual(readdirSync(path.join(out, 'base')).sort(), ['kustomization.yaml', `${MODELS_NS}.fraud-detector.yaml`, `${MODELS_NS}.tiny-lm.yaml`]);

  const docs = readManifests([input]);
  const base = parse((await kubectl(['kustomize', path.join(out, 'base')])).stdout);
  const overlay = parse((await kubectl(['kustomize', path.join(out, 'overlays', 'staging')])).stdout);
  const expectedBase = readdirSync(path.join(out, 'base'))
    .filter((f) => f !== 'kustomization.yaml')
    .flatMap((f) => parse(readFileSync(path.join(out, 'base', f), 'utf8')));
  assert.deepEqual(sorted(base), sorted(expectedBase));
  const expectedOverlay = JSON.parse(JSON.stringify(renderOverlayObjects(docs, { name: 'staging', source: staging, documents: parse(readFileSync(staging, 'utf8')) }, { namespace: MODELS_NS })));
  assert.deepEqual(sorted(overlay), sorted(expectedOverlay));
  const hpa = overlay.find((o) => o.kind === 'HorizontalPodAutoscaler');
  assert.equal(hpa?.metadata.name, 'tiny-lm', 'the overlay adds the autoscaler its policy needs');

  await kubectl(['create', 'namespace', MODELS_NS]);
  await kubectl(['label', 'namespace', MODELS_NS, ...['enforce', 'warn'].flatMap((m) => [`pod-security.kubernetes.io/${m}=restricted`, `pod-security.kubernetes.io/${m}-version=latest`])]);
  for (const [name, objects] of [['base', base], ['overlay', overlay]] as const) {
    const dry = await kubectl(['apply', '--dry-run=server', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n---\n'));
    assert.doesNotMatch(dry.stderr, /PodSecurity/, `${name}: no Pod Security warning`);
    assert.equal(dry.stdout.trim().split('\n').length, objects.length, `${name}: every object accepted\n${dry.stdout}`);
  }
  // For real: the API server stores the base, and the ReplicaSets' pods pass Pod Security "restricted".
  await kubectl(['apply', '-f', '-'], base.map((o) => JSON.stringify(o)).join('\n---\n'));
  await podsCreated(MODELS_NS, 'fraud-detector-00001', 1);
  await podsCreated(MODELS_NS, 'tiny-lm-00001', 1);
  const stored = JSON.parse((await kubectl(['get', 'inferenceservice', 'fraud-detector', '-n', MODELS_NS, '-o', 'json'])).stdout);
  assert.equal(stored.spec.model.uri, 'pvc://models/fraud-v1.onnx');
});

test('the API server refuses what karb render would: a spec the CRD’s rules reject never reaches a base', async () => {
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, readFileSync(path.join(REPO_ROOT, 'examples', 'fraud-detector.yaml'), 'utf8').replace('file://models/', 'pvc://models/').replace('maxReplicas: 4', 'maxReplicas: 0'));
  const r = await runKarb(['render', '-f', bad, '--out', path.join(dir, 'bad-out')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /spec\.scaling\.maxReplicas/);
  // The same document straight to the API server: its CEL rule says the same.
  const doc = parse(readFileSync(bad, 'utf8'))[0]!;
  const direct = await cluster.kubectl(['apply', '--dry-run=server', '-n', 'default', '-f', '-'], { input: JSON.stringify(doc) });
  assert.notEqual(direct.code, 0);
  assert.match(direct.stderr, /spec\.scaling\.maxReplicas/);
});
