import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseInferenceService } from '../api/index.ts';
import { buildServiceObjects, type KubernetesObject } from '../runtime/kubernetes/objects.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../runtime/kubernetes/options.ts';
import { REPO_ROOT, runKarb } from '../serving/test-helpers.ts';
import { ensureBinary } from '../../test/cluster/build.ts';
import { GENERATED_HEADER, RenderError, applyMergePatch, asKustomizePatch, mergePatch, planRender, renderOverlayObjects, serviceObjects, type ManifestDocument, type OverlayInput, type RenderedFile } from './render-plan.ts';

type Any = Record<string, any>;

// ---------------------------------------------------------------- mergePatch

test('mergePatch: the RFC 7386 patch from one object to another, and applying it gives the second', () => {
  const cases: Array<{ name: string; from: unknown; to: unknown; patch: unknown }> = [
    { name: 'equal objects: no patch', from: { a: 1, b: { c: [1, 2] } }, to: { b: { c: [1, 2] }, a: 1 }, patch: undefined },
    { name: 'a changed scalar', from: { a: 1, b: 2 }, to: { a: 1, b: 3 }, patch: { b: 3 } },
    { name: 'a removed key becomes null', from: { a: 1, b: 2 }, to: { a: 1 }, patch: { b: null } },
    { name: 'an added key, whole', from: { a: 1 }, to: { a: 1, b: { c: 1 } }, patch: { b: { c: 1 } } },
    { name: 'nested objects: only the path that changed', from: { s: { x: { y: 1, z: 2 }, w: 1 } }, to: { s: { x: { y: 1, z: 3 }, w: 1 } }, patch: { s: { x: { z: 3 } } } },
    { name: 'a changed list is written whole', from: { l: [{ k: 'a' }, { k: 'b' }] }, to: { l: [{ k: 'a' }] }, patch: { l: [{ k: 'a' }] } },
    { name: 'an equal list: no patch', from: { l: [1, 2] }, to: { l: [1, 2] }, patch: undefined },
    { name: 'a scalar becomes an object', from: { a: 1 }, to: { a: { b: 1 } }, patch: { a: { b: 1 } } },
    { name: 'an object becomes a list', from: { a: { b: 1 } }, to: { a: [1] }, patch: { a: [1] } },
    { name: 'top-level scalars', from: 1, to: 2, patch: 2 },
  ];
  for (const c of cases) {
    assert.deepEqual(mergePatch(c.from, c.to), c.patch, c.name);
    if (c.patch !== undefined) assert.deepEqual(applyMergePatch(c.from, c.patch), c.to, `${c.name}: applying the patch`);
  }
});

test('applyMergePatch follows RFC 7386’s examples and changes neither argument', () => {
  // RFC 7386, appendix A.
  const examples: Array<[unknown, unknown, unknown]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, result] of examples) {
    const before = JSON.stringify([target, patch]);
    assert.deepEqual(applyMergePatch(target, patch), result, JSON.stringify([target, patch]));
    assert.equal(JSON.stringify([target, patch]), before);
  }
});

test('asKustomizePatch: a changed list that a strategic merge would merge item by item gets `$patch: replace`; other lists and custom kinds keep the merge patch', () => {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd' },
    spec: { template: { spec: { containers: [{ name: 'a' }, { name: 'b' }], tolerations: [{ key: 'a' }, { key: 'b' }] } } },
  } as KubernetesObject;
  const patch = { spec: { replicas: 3, template: { spec: { containers: [{ name: 'a' }], tolerations: [{ key: 'a' }], volumes: [{ name: 'v' }] } } } };
  assert.deepEqual(asKustomizePatch(deployment, patch), {
    spec: { replicas: 3, template: { spec: { containers: [{ name: 'a' }, { $patch: 'replace' }], tolerations: [{ key: 'a' }], volumes: [{ name: 'v' }] } } },
  }, 'tolerations are replaced by a strategic merge anyway; volumes the base lacked are set as they are');
  const custom = { apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 's' }, spec: { placement: { tolerations: [{ key: 'a' }] } } } as KubernetesObject;
  const p = { spec: { placement: { tolerations: [] } } };
  assert.equal(asKustomizePatch(custom, p), p);
});

// ---------------------------------------------------------------- planRender

const FRAUD = {
  apiVersion: 'karb.dev/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'fraud-detector', labels: { team: 'payments' } },
  spec: {
    model: { format: 'onnx', uri: 'pvc://models/fraud-v1.onnx', batching: { maxBatchSize: 32, maxDelayMs: 4 } },
    resources: { requests: { cpu: '1', memory: '512Mi' }, limits: { cpu: '2', memory: '1Gi' } },
    slo: { latencyP95Ms: 250, errorRate: 0.01, coldStartMs: 2000 },
    scaling: { policy: 'gascl', minReplicas: 1, maxReplicas: 4, targetConcurrency: 8 },
  },
};

const SCORER = {
  apiVersion: 'karb.dev/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'scorer', namespace: 'payments' },
  spec: {
    model: { uri: 's3://models/scorer.onnx' },
    placement: { tolerations: [{ key: 'spot', operator: 'Exists' }, { key: 'gpu', operator: 'Exists' }] },
    scaling: { policy: 'hpa-service', minReplicas: 0, maxReplicas: 5 },
  },
};

const docs = (...raws: Any[]): ManifestDocument[] => raws.map((raw, i) => ({ source: `in/${i}.yaml`, raw: structuredClone(raw) }));
const overlay = (name: string, ...documents: unknown[]): OverlayInput => ({ name, source: `${name}.yaml`, documents });
const parse = (text: string): Any[] => parseAllDocuments(text).map((d) => d.toJS());
const byPath = (files: RenderedFile[]) => new Map(files.map((f) => [f.path, f.content]));

function refused(fn: () => unknown, code: string, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RenderError, String(e));
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('base: one file per service ordered by namespace then name, the InferenceService as written first, then the controller’s objects', () => {
  const files = planRender(docs(SCORER, FRAUD), []);
  assert.deepEqual(files.map((f) => f.path), ['base/kustomization.yaml', 'base/default.fraud-detector.yaml', 'base/payments.scorer.yaml']);
  const map = byPath(files);
  for (const f of files) assert.ok(f.content.startsWith(`${GENERATED_HEADER}\n`), f.path);
  assert.deepEqual(parse(map.get('base/kustomization.yaml')!), [{ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: ['default.fraud-detector.yaml', 'payments.scorer.yaml'] }]);

  const fraud = parse(map.get('base/default.fraud-detector.yaml')!);
  assert.deepEqual(fraud[0], { ...FRAUD, metadata: { name: 'fraud-detector', namespace: 'default', labels: { team: 'payments' } } }, 'the manifest as written, its namespace filled in');
  const service = parseInferenceService(fraud[0]);
  assert.deepEqual(fraud.slice(1), JSON.parse(JSON.stringify(serviceObjects(service, DEFAULT_CLUSTER_OPTIONS))));
  assert.deepEqual(fraud.slice(1).map((o) => `${o.kind}/${o.metadata.name}`), ['ServiceAccount/fraud-detector', 'Service/fraud-detector', 'Service/fraud-detector-00001', 'Deployment/fraud-detector-00001', 'PodDisruptionBudget/fraud-detector', 'NetworkPolicy/fraud-detector']);

  const scorer = parse(map.get('base/payments.scorer.yaml')!);
  const deployment = scorer.find((o) => o.kind === 'Deployment')!;
  assert.equal(deployment.metadata.name, 'scorer-00001');
  assert.equal(deployment.spec.replicas, 1, 'minReplicas 0: one replica kept warm, as a freshly applied service starts');
  assert.equal(scorer.at(-1)!.kind, 'HorizontalPodAutoscaler');
});

test('serviceObjects are buildServiceObjects of the first revision at the warm floor', () => {
  const s = parseInferenceService({ ...FRAUD, spec: { ...FRAUD.spec, scaling: { minReplicas: 3, maxReplicas: 4 } } });
  const objects = serviceObjects(s, DEFAULT_CLUSTER_OPTIONS);
  const deployment: Any = objects.find((o) => o.kind === 'Deployment')!;
  assert.equal(deployment.spec.replicas, 3);
  assert.equal(deployment.metadata.name, 'fraud-detector-00001');
  assert.equal(objects.length, buildServiceObjects(s, [], DEFAULT_CLUSTER_OPTIONS).length + 2, 'plus the revision’s Service and Deployment');
});

test('a manifest read back from karb get loses its server-set fields and status; --namespace fills in only a missing namespace', () => {
  const fromServer = { ...FRAUD, metadata: { ...FRAUD.metadata, uid: 'u1', generation: 4, resourceVersion: '17', creationTimestamp: '2025-01-01T00:00:00Z' }, status: { observedGeneration: 4 } };
  const is = parse(byPath(planRender(docs(fromServer, SCORER), [], { namespace: 'ml' })).get('base/ml.fraud-detector.yaml')!)[0]!;
  assert.deepEqual(is.metadata, { name: 'fraud-detector', namespace: 'ml', labels: { team: 'payments' } });
  assert.equal(is.status, undefined);
  assert.ok(byPath(planRender(docs(SCORER), [], { namespace: 'ml' })).has('base/payments.scorer.yaml'), 'the manifest’s own namespace wins');
});

test('the same input gives the same bytes, whatever the order of the documents', () => {
  const a = planRender(docs(FRAUD, SCORER), [overlay('staging', { spec: { scaling: { minReplicas: 2 } } })]);
  const b = planRender(docs(SCORER, FRAUD), [overlay('staging', { spec: { scaling: { minReplicas: 2 } } })]);
  assert.deepEqual(a, b);
});

test('invalid specs, a service defined twice, and services that cannot run on a cluster are refused with every problem', () => {
  const bad = { ...FRAUD, spec: { ...FRAUD.spec, scaling: { minReplicas: 5, maxReplicas: 2 } } };
  refused(() => planRender(docs(bad), []), 'INVALID_SPEC', /in\/0\.yaml \(document 1\): invalid InferenceService/, /spec\.scaling\.maxReplicas: must be >= minReplicas/);
  refused(() => planRender(docs(FRAUD, FRAUD), []), 'DUPLICATE_SERVICE', /default\/fraud-detector is also defined in in\/0\.yaml/);
  const local = { ...FRAUD, spec: { ...FRAUD.spec, model: { uri: 'file://models/fraud-v1.onnx' } } };
  const custom = { ...SCORER, spec: { model: { format: 'oip', command: ['srv'] } } };
  refused(
    () => planRender(docs(local, custom), []),
    'NOT_RENDERABLE',
    /^in\/0\.yaml: default\/fraud-detector: spec\.model\.uri: file:\/\/models\/fraud-v1\.onnx is a file on the machine karb up runs on; on Kubernetes put the model in a volume claim \(pvc:\/\/claim\/path\)/,
    /\nin\/1\.yaml: payments\/scorer: spec\.model\.image: a custom command needs the image/,
  );
});

test('overlay: one patch for every service; a patch per changed object, nothing for the unchanged ones', () => {
  const files = planRender(docs(FRAUD, SCORER), [overlay('staging', { spec: { scaling: { minReplicas: 3 }, slo: { latencyP95Ms: 150 } } })]);
  const map = byPath(files);
  const kustomization = parse(map.get('overlays/staging/kustomization.yaml')!)[0]!;
  assert.deepEqual(kustomization.resources, ['../../base']);
  assert.deepEqual(
    kustomization.patches.map((p: Any) => p.path),
    ['default.inferenceservice.fraud-detector.patch.yaml', 'default.deployment.fraud-detector-00001.patch.yaml', 'payments.inferenceservice.scorer.patch.yaml', 'payments.deployment.scorer-00001.patch.yaml', 'payments.horizontalpodautoscaler.scorer.patch.yaml'],
  );
  assert.deepEqual(kustomization.patches[1], { path: 'default.deployment.fraud-detector-00001.patch.yaml' }, 'the patch names its object itself');
  assert.deepEqual(parse(map.get('overlays/staging/default.inferenceservice.fraud-detector.patch.yaml')!), [
    { apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'fraud-detector', namespace: 'default' }, spec: { slo: { latencyP95Ms: 150 }, scaling: { minReplicas: 3 } } },
  ]);
  assert.deepEqual(parse(map.get('overlays/staging/default.deployment.fraud-detector-00001.patch.yaml')!), [
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'fraud-detector-00001', namespace: 'default' }, spec: { replicas: 3 } },
  ]);
  const hpa = parse(map.get('overlays/staging/payments.horizontalpodautoscaler.scorer.patch.yaml')!)[0]!;
  assert.equal(hpa.spec.minReplicas, 3);
  assert.equal(hpa.spec.metrics.length, 2, 'the changed metrics list, whole');
  assert.equal(hpa.spec.metrics[0].object.target.value, '150');
});

test('overlay: documents that name a service patch only it; one that names none is refused', () => {
  const files = planRender(docs(FRAUD, SCORER), [overlay('prod', { metadata: { name: 'scorer', namespace: 'payments' }, spec: { scaling: { maxReplicas: 9 } } }, { metadata: { name: 'fraud-detector', labels: { tier: 'gold' } } })]);
  const paths = files.filter((f) => f.path.startsWith('overlays/prod/')).map((f) => f.path);
  assert.ok(paths.includes('overlays/prod/payments.horizontalpodautoscaler.scorer.patch.yaml'));
  assert.ok(paths.includes('overlays/prod/default.networkpolicy.fraud-detector.patch.yaml'), 'a label reaches every object of its service');
  assert.ok(!paths.some((p) => p.includes('payments.deployment')), 'maxReplicas does not move a fresh service’s replicas');
  refused(() => planRender(docs(FRAUD), [overlay('prod', { metadata: { name: 'fraud-detectr' }, spec: { scaling: { maxReplicas: 9 } } })]), 'INVALID_OVERLAY', /overlay prod \(prod\.yaml\): no InferenceService fraud-detectr in the input/);
  refused(() => planRender(docs(FRAUD), [overlay('prod', { status: {} }, 'text')]), 'INVALID_OVERLAY', /document 1\): status: an overlay patches only spec and metadata/, /document 2\): must be a mapping/);
  refused(() => planRender(docs(FRAUD), [overlay('prod', { spec: { scaling: { minReplicas: 9 } } })]), 'INVALID_SPEC', /overlay prod \(prod\.yaml\): default\/fraud-detector: invalid InferenceService:\n {2}spec\.scaling\.maxReplicas: must be >= minReplicas/);
});

test('overlay: a policy change adds the new autoscaler as a resource and deletes the old one', () => {
  const files = planRender(docs(SCORER), [overlay('keda', { spec: { scaling: { policy: 'keda-queue' } } })]);
  const map = byPath(files);
  const kustomization = parse(map.get('overlays/keda/kustomization.yaml')!)[0]!;
  assert.deepEqual(kustomization.resources, ['../../base', 'payments.scaledobject.scorer.yaml']);
  assert.deepEqual(parse(map.get('overlays/keda/payments.horizontalpodautoscaler.scorer.patch.yaml')!), [
    { $patch: 'delete', apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'scorer', namespace: 'payments' } },
  ]);
  assert.equal(parse(map.get('overlays/keda/payments.scaledobject.scorer.yaml')!)[0]!.kind, 'ScaledObject');
});

test('overlay: a change to the model or resources is a new revision, refused with where to put it', () => {
  refused(
    () => planRender(docs(FRAUD, SCORER), [overlay('v2', { metadata: { name: 'fraud-detector' }, spec: { model: { uri: 'pvc://models/fraud-v2.onnx' } } })]),
    'OVERLAY_CHANGES_REVISION',
    /^overlay v2 \(v2\.yaml\): default\/fraud-detector: spec\.model changes, which makes a new revision \(fraud-detector-00002\); an overlay cannot express one — put the model change in the base manifest and render again$/,
  );
  refused(() => planRender(docs(FRAUD), [overlay('big', { spec: { resources: { limits: { memory: '2Gi' } } } })]), 'OVERLAY_CHANGES_REVISION', /spec\.resources changes/);
});

// ---------------------------------------------------------------- the command


function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(root, p)] = readFileSync(p, 'utf8');
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

function workspace(t: { after: (fn: () => void) => void }): { dir: string; write: (name: string, value: unknown) => string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-render-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    write: (name, value) => {
      const file = path.join(dir, name);
      writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
      return file;
    },
  };
}

test('karb render writes the same tree on every run, and a later render removes only the files an earlier one wrote', async (t) => {
  const w = workspace(t);
  execFileSync('mkdir', [path.join(w.dir, 'in')]);
  w.write('in/fraud.json', FRAUD);
  w.write('in/scorer.json', SCORER);
  const staging = w.write('staging.yaml', 'spec: { scaling: { minReplicas: 2 } }\n');
  const out = path.join(w.dir, 'out');
  const args = ['render', '-f', path.join(w.dir, 'in'), '--out', out, '--overlay', `staging=${staging}`];
  const first = await runKarb(args);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^wrote .*out\/base \(2 services\)\nwrote .*out\/overlays\/staging \(\d+ files besides its kustomization\)\n$/);
  const before = tree(out);
  assert.equal((await runKarb(args)).code, 0);
  assert.deepEqual(tree(out), before, 'byte-identical');

  writeFileSync(path.join(out, 'base', 'notes.yaml'), 'mine: true\n');
  rmSync(path.join(w.dir, 'in', 'scorer.json'));
  assert.equal((await runKarb(['render', '-f', path.join(w.dir, 'in'), '--out', out])).code, 0);
  assert.deepEqual(Object.keys(tree(out)).sort(), ['base/default.fraud-detector.yaml', 'base/kustomization.yaml', 'base/notes.yaml'], 'the dropped service and overlay are gone; the user’s own file stays');
});

test('karb render: file:// models and invalid specs exit 1 naming the field, and write nothing', async (t) => {
  const w = workspace(t);
  const out = path.join(w.dir, 'out');
  const local = w.write('local.yaml', readFileSync(path.join(REPO_ROOT, 'examples/fraud-detector.yaml'), 'utf8'));
  const r = await runKarb(['render', '-f', local, '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^karb: .*local\.yaml: default\/fraud-detector: spec\.model\.uri: file:\/\/models\/fraud-v1\.onnx is a file on the machine karb up runs on; on Kubernetes put the model in a volume claim \(pvc:\/\/claim\/path\), a bucket \(s3:\/\/bucket\/key\) or an OCI artifact/);
  const invalid = w.write('invalid.json', { ...FRAUD, spec: { ...FRAUD.spec, scaling: { minReplicas: 5, maxReplicas: 2 } } });
  const r2 = await runKarb(['render', '-f', invalid, '--out', out]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /spec\.scaling\.maxReplicas: must be >= minReplicas/);
  const fine = w.write('fine.json', FRAUD);
  const v2 = w.write('v2.yaml', 'spec: { model: { uri: pvc://models/fraud-v2.onnx } }\n');
  const r3 = await runKarb(['render', '-f', fine, '--out', out, '--overlay', `v2=${v2}`]);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /makes a new revision .* put the model change in the base manifest/);
  assert.deepEqual(tree(out), {}, 'nothing written');
});

test('karb render: usage mistakes exit 2 with what was expected', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['render', '--out', '/tmp/x'], /render needs -f FILE/],
    [['render', '-f', 'examples'], /render needs --out DIR/],
    [['render', '-f', 'examples', '--out', '/tmp/x', '--bogus'], /Unknown option '--bogus'/],
    [['render', '-f', 'examples', '--out', '/tmp/x', '--overlay', 'staging'], /--overlay must be NAME=FILE/],
    [['render', '-f', 'examples', '--out', '/tmp/x', '--overlay', 'Stage=x.yaml'], /--overlay must be NAME=FILE/],
    [['render', '-f', 'examples', '--out', '/tmp/x', '--overlay', 'a=x.yaml', '--overlay', 'a=y.yaml'], /--overlay a is given twice/],
    [['render', '-f', 'examples', '--out', '/tmp/x', '--namespace', 'Not_A_Label'], /--namespace must be a namespace name/],
  ];
  for (const [args, message] of cases) {
    const r = await runKarb(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

// ---------------------------------------------------------------- kustomize itself

// kubectl from the test cluster's build (test/cluster): the same release the API server runs.
const kubectlBinary = await ensureBinary();
const kubectlKustomize = (dir: string): string => execFileSync(kubectlBinary, ['kubectl', 'kustomize', dir], { encoding: 'utf8' });

const identity = (o: Any) => `${o.apiVersion}|${o.kind}|${o.metadata.namespace}|${o.metadata.name}`;
const sorted = (objects: Any[]) => [...objects].sort((a, b) => (identity(a) < identity(b) ? -1 : 1));

test('kubectl kustomize of the base and of each overlay gives exactly the fully rendered objects', async (t) => {
  const w = workspace(t);
  const input = docs(FRAUD, SCORER);
  const overlays = [
    overlay('staging', { spec: { scaling: { minReplicas: 3 }, slo: { latencyP95Ms: 150 } } }),
    overlay('spot', { metadata: { name: 'scorer' }, spec: { placement: { tolerations: [{ key: 'spot', operator: 'Exists' }] } } }, { metadata: { name: 'fraud-detector', labels: { tier: 'gold', team: null } }, spec: { placement: { pools: ['cheap'], nodeSelector: { disk: 'ssd' } } } }),
    overlay('policies', { metadata: { name: 'scorer' }, spec: { scaling: { policy: 'keda-queue' } } }, { metadata: { name: 'fraud-detector' }, spec: { scaling: { policy: 'hpa-cpu' } } }),
  ];
  const out = path.join(w.dir, 'out');
  const { writeTree } = await import('./render.ts');
  writeTree(out, planRender(input, overlays));
  const kustomize = (dir: string) => parse(kubectlKustomize(path.join(out, dir)));
  const base = planRender(input, []).filter((f) => !f.path.endsWith('kustomization.yaml')).flatMap((f) => parse(f.content));
  assert.deepEqual(sorted(kustomize('base')), sorted(base));
  for (const o of overlays) {
    assert.deepEqual(sorted(kustomize(`overlays/${o.name}`)), sorted(JSON.parse(JSON.stringify(renderOverlayObjects(input, o)))), o.name);
  }
});

test('kubectl kustomize applies asKustomizePatch’s patches as merge patches, lists a strategic merge would merge included', (t) => {
  const w = workspace(t);
  const from: KubernetesObject[] = [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', namespace: 'n' },
      spec: {
        template: {
          spec: {
            containers: [{ name: 'a', env: [{ name: 'X', value: '1' }, { name: 'Y', value: '2' }], ports: [{ containerPort: 1 }, { containerPort: 2 }] }, { name: 'b' }],
            volumes: [{ name: 'v', emptyDir: {} }, { name: 'w', emptyDir: {} }],
            tolerations: [{ key: 'a' }, { key: 'b' }],
          },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'n' }, spec: { ports: [{ name: 'http', port: 80 }, { name: 'm', port: 81 }] } },
    { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'h', namespace: 'n' }, spec: { metrics: [{ type: 'Object', object: { v: '1' } }, { type: 'Resource', resource: { v: '2' } }] } },
  ];
  const to: Any[] = structuredClone(from);
  to[0]!.spec.template.spec.containers = [{ name: 'a', env: [{ name: 'X', value: '3' }], ports: [{ containerPort: 2 }] }];
  to[0]!.spec.template.spec.volumes = [{ name: 'w', emptyDir: {} }];
  to[0]!.spec.template.spec.tolerations = [{ key: 'b' }];
  to[1]!.spec.ports = [{ name: 'http', port: 8080 }];
  to[2]!.spec.metrics = [{ type: 'Object', object: { v: '3' } }];
  const base = path.join(w.dir, 'base');
  const over = path.join(w.dir, 'over');
  execFileSync('mkdir', [base, over]);
  writeFileSync(path.join(base, 'kustomization.yaml'), 'resources: [objects.yaml]\n');
  writeFileSync(path.join(base, 'objects.yaml'), from.map((o) => JSON.stringify(o)).join('\n---\n'));
  const patches = from.map((o, i) => ({ path: `p${i}.yaml`, content: { apiVersion: o.apiVersion, kind: o.kind, metadata: o.metadata, ...asKustomizePatch(o, mergePatch(o, to[i]) as Any) } }));
  for (const p of patches) writeFileSync(path.join(over, p.path), JSON.stringify(p.content));
  writeFileSync(path.join(over, 'kustomization.yaml'), JSON.stringify({ resources: ['../base'], patches: patches.map((p) => ({ path: p.path })) }));
  const out = parse(kubectlKustomize(over));
  assert.deepEqual(sorted(out), sorted(to));
});

test('karb render --pools: each service’s pools become the declared pools’ node affinity and tolerations; a bad pools file is a usage error naming the field', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-render-pools-'));
  try {
    const pools = path.join(dir, 'pools.yaml');
    writeFileSync(
      pools,
      'apiVersion: karb.dev/v1alpha1\nkind: Pools\nspec:\n  pools:\n' +
        '    - { name: onprem, accelerator: gpu, replicasPerNode: 4, costPerHour: 12, minNodes: 2, maxNodes: 2, kubernetes: { nodeSelector: { example.com/rack: r7 }, taints: [{ key: example.com/onprem, effect: NoSchedule }] } }\n' +
        '    - { name: cloud, accelerator: gpu, replicasPerNode: 4, costPerHour: 16, maxNodes: 30, provisioningDelay: { mean: 120s, jitter: 30s } }\n',
    );
    const svc = path.join(dir, 'svc.yaml');
    writeFileSync(svc, 'apiVersion: karb.dev/v1alpha1\nkind: InferenceService\nmetadata: { name: scorer }\nspec: { model: { uri: pvc://models/m.onnx }, resources: { accelerator: { count: 1 } }, placement: { pools: [onprem, cloud] } }\n');
    const out = path.join(dir, 'out');
    const r = await runKarb(['render', '-f', svc, '--out', out, '--pools', pools]);
    assert.equal(r.code, 0, r.stderr);
    const docs = parseAllDocuments(readFileSync(path.join(out, 'base', 'default.scorer.yaml'), 'utf8')).map((d) => d.toJS());
    const pod = docs.find((d) => d.kind === 'Deployment').spec.template.spec;
    assert.deepEqual(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, [
      { matchExpressions: [{ key: 'example.com/rack', operator: 'In', values: ['r7'] }] },
      { matchExpressions: [{ key: 'karb.dev/pool', operator: 'In', values: ['cloud'] }] },
    ]);
    assert.deepEqual(pod.tolerations.map((t: { key: string }) => t.key), ['example.com/onprem', 'nvidia.com/gpu']);

    writeFileSync(pools, 'apiVersion: karb.dev/v1alpha1\nkind: Pools\nspec:\n  pools:\n    - { name: onprem, replicasPerNode: 4, costPerHour: 12, minNodes: 3, maxNodes: 2 }\n    - { name: onprem, replicasPerNode: 1, costPerHour: 1, maxNodes: 1 }\n');
    const bad = await runKarb(['render', '-f', svc, '--out', out, '--pools', pools]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /pools\.yaml: invalid Pools: spec\.pools\[0\]\.maxNodes: must be >= minNodes \(got 2 < 3\); spec\.pools\[1\]\.name: "onprem" names two pools/);
    const unknown = await runKarb(['render', '-f', svc, '--out', out, '--pools', path.join(dir, 'none.yaml')]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--pools: cannot read .*none\.yaml \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
