import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CRD_NAME } from '../api/index.ts';
import { runKarb } from '../serving/test-helpers.ts';

type Any = Record<string, any>;


const documents = (yaml: string): Any[] => parseAllDocuments(yaml).map((d) => d.toJS());

test('karb install prints the same bytes on every run: namespace, CRD, RBAC and workloads as YAML documents', async () => {
  const first = await runKarb(['install']);
  const second = await runKarb(['install']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, second.stdout);
  const docs = documents(first.stdout);
  assert.equal(docs.length, 21);
  assert.equal(docs[0]!.kind, 'Namespace');
  assert.equal(docs[0]!.metadata.name, 'karb-system');
  assert.equal(docs[1]!.metadata.name, CRD_NAME);
  for (const role of docs.filter((o) => o.kind.endsWith('Role'))) assert.ok(!JSON.stringify(role.rules).includes('*'), `${role.metadata.name}: no wildcard`);
  assert.ok(!/[&*]a\d/.test(first.stdout), 'no YAML anchors or aliases');
});

test('karb install --namespace --image: every namespaced object and binding subject moves, every workload runs the image', async () => {
  const r = await runKarb(['install', '--namespace', 'ml-platform', '--image', 'registry.example/karb:dev']);
  assert.equal(r.code, 0, r.stderr);
  const docs = documents(r.stdout);
  const clusterScoped = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass']);
  for (const o of docs) {
    if (o.metadata.name === 'karb-controller-auth-reader') assert.equal(o.metadata.namespace, 'kube-system', 'reads the API server’s front-proxy CA there');
    else if (!clusterScoped.has(o.kind)) assert.equal(o.metadata.namespace, 'ml-platform', `${o.kind}/${o.metadata.name}`);
    for (const s of o.subjects ?? []) assert.equal(s.namespace, 'ml-platform');
  }
  const images = docs.filter((o) => o.kind === 'Deployment').flatMap((d) => d.spec.template.spec.containers.map((c: Any) => c.image));
  assert.deepEqual(images, ['registry.example/karb:dev', 'registry.example/karb:dev']);
});

test('karb install --governance --team: the policies as ValidatingAdmissionPolicies after the CRD, and each team’s namespace with its NetworkPolicies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'karb-install-'));
  try {
    const file = join(dir, 'governance.yaml');
    writeFileSync(file, 'apiVersion: karb.dev/v1alpha1\nkind: Governance\nspec:\n  gpuNamespaces: [ml-gpu]\n');
    const r = await runKarb(['install', '--governance', file, '--team', 'risk', '--team', 'search']);
    assert.equal(r.code, 0, r.stderr);
    const docs = documents(r.stdout);
    const names = docs.map((o) => `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(names.slice(0, 3), ['Namespace/karb-system', 'Namespace/risk', 'Namespace/search'], 'namespaces first');
    assert.deepEqual(
      docs.filter((o) => o.kind === 'ValidatingAdmissionPolicy').map((o) => o.metadata.name),
      ['karb-required-labels', 'karb-resources-set', 'karb-gpu-namespaces', 'karb-no-privileged-pods'],
    );
    assert.ok(names.indexOf('ValidatingAdmissionPolicy/karb-required-labels') > names.indexOf(`CustomResourceDefinition/${CRD_NAME}`));
    assert.deepEqual(docs.filter((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === 'search').map((o) => o.metadata.name), ['karb-default-deny', 'karb-allow-dns', 'karb-allow-model-fetch']);

    writeFileSync(file, 'apiVersion: karb.dev/v1alpha1\nkind: Governance\nspec:\n  gpuNamespaces: [ML_GPU]\n');
    const bad = await runKarb(['install', '--governance', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /governance\.yaml: invalid Governance: spec\.gpuNamespaces\[0\]: must be a namespace name/);
    const system = await runKarb(['install', '--team', 'karb-system']);
    assert.equal(system.code, 2);
    assert.match(system.stderr, /--team karb-system is karb's own namespace/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('karb install --metrics-api-ca: the APIService for the controller’s custom metrics API, its caBundle that file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'karb-install-'));
  try {
    const ca = join(dir, 'ca.crt');
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    writeFileSync(ca, pem);
    const r = await runKarb(['install', '--metrics-api-ca', ca]);
    assert.equal(r.code, 0, r.stderr);
    const docs = documents(r.stdout);
    assert.equal(docs.length, 22);
    const api = docs.at(-1)!;
    assert.equal(api.kind, 'APIService');
    assert.equal(api.metadata.name, 'v1beta2.custom.metrics.k8s.io');
    assert.equal(Buffer.from(api.spec.caBundle, 'base64').toString(), pem);
    const controller = docs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'karb-controller')!;
    assert.ok(controller.spec.template.spec.containers[0].args.includes('--metrics-api-cert'));

    writeFileSync(join(dir, 'not-a-ca'), 'hello');
    const bad = await runKarb(['install', '--metrics-api-ca', join(dir, 'not-a-ca')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--metrics-api-ca must be a PEM certificate file/);
    const missing = await runKarb(['install', '--metrics-api-ca', join(dir, 'nope.crt')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--metrics-api-ca: cannot read .*nope\.crt \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('karb install: usage mistakes exit 2 with what was expected', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['install', '--bogus'], /Unknown option '--bogus'/],
    [['install', '--namespace', 'Karb_System'], /--namespace must be a namespace name .*got "Karb_System"/],
    [['install', '--namespace', 'a'.repeat(64)], /--namespace must be a namespace name/],
    [['install', '--namespace=-karb'], /--namespace must be a namespace name/],
    [['install', '--image', 'has space'], /--image must be an image reference/],
    [['install', 'karb-system'], /install takes no arguments/],
  ];
  for (const [args, message] of cases) {
    const r = await runKarb(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }
});
