import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInferenceService } from '../api/index.ts';
import { EmbeddedGovernance } from './admit.ts';
import { parseGovernance, type GovernanceConfig } from './config.ts';
import { compile, PolicyExpressionError } from './cel.ts';
import { UsageError } from '../errors.ts';
import { buildQuotas } from './kubernetes.ts';
import { quotaAmounts } from './quotas.ts';

const governance = (spec: Record<string, unknown>): GovernanceConfig =>
  parseGovernance(JSON.stringify({ apiVersion: 'karb.dev/v1alpha1', kind: 'Governance', spec }), 'governance.yaml');

const service = (metadata: Record<string, unknown>, spec: Record<string, unknown> = {}) =>
  parseInferenceService({
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name: 'fraud', ...metadata },
    spec: { model: { uri: 'file://models/fraud-v1.onnx' }, ...spec },
  });

const LABELS = { team: 'risk', 'cost-center': 'cc-7' };

describe('governance policies evaluated in embedded karb', () => {
  it('refuses a service without the required labels, naming the missing ones, and admits it once they are there', () => {
    const g = new EmbeddedGovernance(governance({}));
    assert.deepEqual(g.check(service({ labels: { team: 'risk' } }), undefined).errors, [
      { path: 'metadata.labels', message: 'must include cost-center (required of every InferenceService; add them under metadata.labels) (policy karb-required-labels)' },
    ]);
    assert.match(g.check(service({ labels: { team: '' } }), undefined).errors[0]!.message, /^must include team, cost-center /, 'an empty value does not count');
    assert.deepEqual(g.check(service({ labels: LABELS }), undefined), { errors: [], warnings: [] });
  });

  it('lets only the listed namespaces ask for accelerators', () => {
    const g = new EmbeddedGovernance(governance({ gpuNamespaces: ['ml-gpu'] }));
    const gpu = { resources: { accelerator: { count: 1 } } };
    assert.deepEqual(g.check(service({ namespace: 'web', labels: LABELS }, gpu), undefined).errors, [
      { path: 'spec.resources.accelerator', message: 'namespace web may not use accelerators (allowed: ml-gpu); remove the accelerator or deploy to an allowed namespace (policy karb-gpu-namespaces)' },
    ]);
    assert.equal(g.check(service({ namespace: 'ml-gpu', labels: LABELS }, gpu), undefined).errors.length, 0);
    assert.equal(g.check(service({ namespace: 'web', labels: LABELS }), undefined).errors.length, 0, 'a CPU service may run anywhere');
  });

  it('admits images only from the allowed registries, a prefix ending at a path separator', () => {
    const g = new EmbeddedGovernance(governance({ allowedRegistries: ['ghcr.io/acme'] }));
    const withImage = (image: string) => g.check(service({ labels: LABELS }, { model: { format: 'oip', image, command: ['serve'] } }), undefined).errors;
    assert.deepEqual(withImage('ghcr.io/acme/scorer:1.2'), []);
    assert.equal(withImage('ghcr.io/acme-evil/scorer:1.2')[0]?.path, 'spec.model.image');
    assert.match(withImage('docker.io/library/scorer:1')[0]!.message, /^docker\.io\/library\/scorer:1 is not from an allowed registry \(ghcr\.io\/acme\/\)/);
  });

  it('asks the built-in server’s model for a digest, and not a custom server’s', () => {
    const g = new EmbeddedGovernance(governance({ requireModelDigest: true }));
    assert.equal(g.check(service({ labels: LABELS }), undefined).errors[0]?.path, 'spec.model.digest');
    assert.deepEqual(g.check(service({ labels: LABELS }, { model: { format: 'oip', uri: 'file://models/m.bin', command: ['my-server', '$PORT'] } }), undefined).errors, []);
  });

  it('admits an update that keeps a violation the stored service already had, and refuses one that makes a new one', () => {
    const g = new EmbeddedGovernance(governance({}));
    const stored = service({ labels: { team: 'risk' } });
    assert.deepEqual(g.check(service({ labels: { team: 'risk' } }, { scaling: { maxReplicas: 4 } }), stored).errors, [], 'made before governance: it can still be changed');
    const compliant = service({ labels: LABELS });
    assert.equal(g.check(service({ labels: { team: 'risk' } }), compliant).errors.length, 1, 'dropping a label is refused');
    assert.equal(g.check(service({ labels: {} }), stored).errors.length, 1, 'dropping another label of an old violator is refused too');
  });

  it('does not let an old violation cover a new one: another bad image, a bigger accelerator', () => {
    const g = new EmbeddedGovernance(governance({ allowedRegistries: ['ghcr.io/acme'], gpuNamespaces: ['ml-gpu'] }));
    const custom = (image: string, count = 1) =>
      service({ namespace: 'web', labels: LABELS }, { model: { format: 'oip', image, command: ['serve'] }, resources: { accelerator: { count } } });
    const stored = custom('docker.io/old/scorer:1');
    assert.deepEqual(g.check(custom('docker.io/old/scorer:1'), stored).errors, [], 'unchanged: still admitted');
    assert.deepEqual(g.check(custom('evil.example/miner:1'), stored).errors.map((e) => e.path), ['spec.model.image'], 'another unallowed image is refused');
    assert.deepEqual(g.check(custom('docker.io/old/scorer:1', 4), stored).errors.map((e) => e.path), ['spec.resources.accelerator'], 'more GPUs in a namespace without them is refused');
  });

  it('evaluates a team’s own CEL policy, with integers as CEL ints', () => {
    const g = new EmbeddedGovernance(
      governance({ requiredLabels: [], policies: [{ name: 'max-replicas', expression: 'object.spec.scaling.maxReplicas <= 8', message: 'at most 8 replicas', fieldPath: 'spec.scaling.maxReplicas' }] }),
    );
    assert.deepEqual(g.policyNames, ['karb-resources-set', 'karb-max-replicas']);
    assert.deepEqual(g.check(service({}, { scaling: { maxReplicas: 12 } }), undefined).errors, [{ path: 'spec.scaling.maxReplicas', message: 'at most 8 replicas (policy karb-max-replicas)' }]);
    assert.deepEqual(g.check(service({}, { scaling: { maxReplicas: 8 } }), undefined).errors, []);
  });

  it('refuses when a policy cannot be evaluated, as failurePolicy Fail does, and says which', () => {
    const g = new EmbeddedGovernance(governance({ requiredLabels: [], policies: [{ name: 'tier', expression: 'object.metadata.annotations["tier"] == "gold"', message: 'gold only' }] }));
    const [error] = g.check(service({}), undefined).errors;
    assert.equal(error?.path, 'spec');
    assert.match(error!.message, /^policy karb-tier could not be evaluated \(.+\); fix the policy or the field it reads$/);
  });

  it('with action Warn admits and returns what failed', () => {
    const g = new EmbeddedGovernance(governance({ action: 'Warn' }));
    const verdict = g.check(service({}), undefined);
    assert.deepEqual(verdict.errors, []);
    assert.deepEqual(verdict.warnings, ['metadata.labels: must include team, cost-center (required of every InferenceService; add them under metadata.labels) (policy karb-required-labels)']);
  });
});

describe('the governance file', () => {
  it('applies the defaults: the KARB labels and resources, no digest requirement, Deny', () => {
    const config = governance({});
    assert.deepEqual(
      { action: config.action, requiredLabels: config.requiredLabels, requireResources: config.requireResources, requireModelDigest: config.requireModelDigest, gpuNamespaces: config.gpuNamespaces },
      { action: 'Deny', requiredLabels: ['team', 'cost-center'], requireResources: true, requireModelDigest: false, gpuNamespaces: undefined },
    );
  });

  it('names each wrong field', () => {
    assert.throws(() => governance({ allowedRegistries: ['https://ghcr.io'] }), (err: unknown) => err instanceof UsageError && /spec\.allowedRegistries\[0\]: must be a registry/.test(err.message));
    assert.throws(() => governance({ requiredLabels: ['Team Name'] }), /spec\.requiredLabels\[0\]: must be a label key/);
    assert.throws(() => governance({ bogus: true }), /governance\.yaml: invalid Governance: spec: /);
    assert.throws(() => parseGovernance('kind: Governance\napiVersion: karb.dev/v1alpha1\n---\nkind: Governance\n', 'g.yaml'), /must hold exactly one Governance document, found 2/);
    assert.throws(() => governance({ policies: [{ name: 'a', expression: 'true', message: 'm' }, { name: 'a', expression: 'true', message: 'm' }] }), /spec\.policies\[1\]\.name: a is used twice/);
  });

  it('refuses a custom policy whose CEL does not parse, naming the field and the policy', () => {
    assert.throws(
      () => governance({ policies: [{ name: 'broken', expression: 'object.spec.(', message: 'm' }] }),
      (err: unknown) => err instanceof UsageError && /^governance\.yaml: invalid Governance: spec\.policies\[0\]\.expression: policy karb-broken: not a valid CEL expression: /.test(err.message),
    );
    assert.throws(() => compile('1 +', 'policy karb-x'), PolicyExpressionError);
  });

  it('renders each team’s quota as a ResourceQuota, and names a bad quantity', () => {
    assert.deepEqual(buildQuotas(governance({ quotas: { risk: { gpus: 4, cpu: '32', memory: '128Gi' }, search: { cpu: '500m' } } })), [
      { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'karb-quota', namespace: 'risk', labels: { 'app.kubernetes.io/part-of': 'karb' } }, spec: { hard: { 'requests.nvidia.com/gpu': '4', 'requests.cpu': '32', 'requests.memory': '128Gi' } } },
      { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'karb-quota', namespace: 'search', labels: { 'app.kubernetes.io/part-of': 'karb' } }, spec: { hard: { 'requests.cpu': '500m' } } },
    ]);
    assert.throws(() => governance({ quotas: { risk: { memory: 'lots' } } }), /spec\.quotas\.risk\.memory: must be a memory quantity such as 128Gi/);
    assert.throws(() => governance({ quotas: { risk: { gpus: 1.5 } } }), /spec\.quotas\.risk\.gpus: must be a whole number of GPUs/);
  });

  it('gives embedded karb the same quotas in numbers: cores, bytes, whole GPUs; a figure left out stays out', () => {
    assert.deepEqual(quotaAmounts(governance({ quotas: { risk: { gpus: 4, cpu: '32', memory: '128Gi' }, search: { cpu: '500m' }, web: { memory: '1.5G' } } })), {
      risk: { gpus: 4, cpuCores: 32, memoryBytes: 128 * 1024 ** 3 },
      search: { cpuCores: 0.5 },
      web: { memoryBytes: 1.5e9 },
    });
    assert.deepEqual(quotaAmounts(governance({})), {}, 'no quotas: none');
  });
});

