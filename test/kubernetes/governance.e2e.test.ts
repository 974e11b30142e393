/**
 * Governance on the test cluster's real API server, as `karb install --governance --team` renders
 * it: the policies as ValidatingAdmissionPolicies (CEL the API server evaluates), and for every
 * case the same verdict from embedded karb's admission evaluating the same CEL text (one policy
 * text, two evaluators); the roles for people, proven by acting as people bound to them; a team's
 * namespace enforcing Pod Security "restricted", and the privileged-pods policy on its own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { parseInferenceService } from '../../src/api/index.ts';
import { EmbeddedGovernance } from '../../src/governance/admit.ts';
import { parseGovernance } from '../../src/governance/config.ts';
import { withGovernance } from '../../src/governance/kubernetes.ts';
import { buildInstallObjects } from '../../src/runtime/kubernetes/install.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/runtime/kubernetes/options.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { waitFor } from '../helpers.ts';
import { getJson, kubectlOk, startKarbTestCluster, SYSTEM_NAMESPACE, type KarbTestCluster } from './support.ts';

const GOVERNANCE = `
apiVersion: karb.dev/v1alpha1
kind: Governance
spec:
  requiredLabels: [team, cost-center]
  gpuNamespaces: [ml-gpu]
  allowedRegistries: [ghcr.io/acme]
  requireModelDigest: true
  policies:
    - name: max-replicas
      expression: object.spec.scaling.maxReplicas <= 16
      message: at most 16 replicas per service; ask the platform team for more
      fieldPath: spec.scaling.maxReplicas
`;
const config = parseGovernance(GOVERNANCE, 'governance.yaml');
const embedded = new EmbeddedGovernance(config);
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const LABELS = { team: 'risk', 'cost-center': 'cc-7' };

interface Case {
  what: string;
  namespace: string;
  labels: Record<string, string>;
  spec: Record<string, unknown>;
  /** The field a refusal names; undefined: admitted. */
  refusedAt?: string;
}

const model = (extra: Record<string, unknown> = {}) => ({ uri: 'pvc://models/fraud-v1.onnx', digest: DIGEST, ...extra });
const CASES: Case[] = [
  { what: 'a compliant service', namespace: 'team-a', labels: LABELS, spec: { model: model() } },
  { what: 'a missing cost-center label', namespace: 'team-a', labels: { team: 'risk' }, spec: { model: model() }, refusedAt: 'metadata.labels' },
  { what: 'no labels at all', namespace: 'team-a', labels: {}, spec: { model: model() }, refusedAt: 'metadata.labels' },
  { what: 'an accelerator outside the GPU namespaces', namespace: 'team-a', labels: LABELS, spec: { model: model(), resources: { accelerator: { count: 1 } } }, refusedAt: 'spec.resources.accelerator' },
  { what: 'an accelerator in a GPU namespace', namespace: 'ml-gpu', labels: LABELS, spec: { model: model(), resources: { accelerator: { count: 1 } } } },
  { what: 'requests without memory', namespace: 'team-a', labels: LABELS, spec: { model: model(), resources: { requests: { cpu: '1' } } }, refusedAt: 'spec.resources' },
  { what: 'an image from an allowed registry', namespace: 'team-a', labels: LABELS, spec: { model: { format: 'oip', image: 'ghcr.io/acme/scorer:1', command: ['scorer', '$PORT'] } } },
  { what: 'an image from a look-alike registry', namespace: 'team-a', labels: LABELS, spec: { model: { format: 'oip', image: 'ghcr.io/acme-evil/scorer:1', command: ['scorer', '$PORT'] } }, refusedAt: 'spec.model.image' },
  { what: "the built-in server's model without a digest", namespace: 'team-a', labels: LABELS, spec: { model: { uri: 'pvc://models/fraud-v1.onnx' } }, refusedAt: 'spec.model.digest' },
  { what: "a team's own policy: 24 replicas", namespace: 'team-a', labels: LABELS, spec: { model: model(), scaling: { maxReplicas: 24 } }, refusedAt: 'spec.scaling.maxReplicas' },
];

const manifest = (name: string, c: Pick<Case, 'namespace' | 'labels' | 'spec'>) => ({
  apiVersion: 'karb.dev/v1alpha1',
  kind: 'InferenceService',
  metadata: { name, namespace: c.namespace, ...(Object.keys(c.labels).length > 0 ? { labels: c.labels } : {}) },
  spec: c.spec,
});

describe('governance on a real API server: ValidatingAdmissionPolicies, the same verdicts in embedded karb, roles for people, team namespaces', { timeout: 600_000 }, () => {
  let karbCluster: KarbTestCluster;
  let cluster: TestCluster;

  const create = (obj: unknown, as?: string, dryRun = true) =>
    cluster.kubectl(['create', '-f', '-', ...(dryRun ? ['--dry-run=server'] : []), ...(as ? ['--as', as] : [])], { input: stringify(obj) });

  before(async () => {
    karbCluster = await startKarbTestCluster();
    cluster = karbCluster.cluster;
    await kubectlOk(cluster, ['create', 'namespace', 'ml-gpu']);
    await kubectlOk(cluster, ['create', 'namespace', 'team-b']);
    // Made before governance is turned on: it breaks the label rule and must stay changeable.
    await kubectlOk(cluster, ['create', 'namespace', 'legacy']);
    await kubectlOk(cluster, ['create', '-f', '-'], stringify(manifest('old-scorer', { namespace: 'legacy', labels: {}, spec: { model: model() } })));
    const objects = withGovernance(buildInstallObjects(DEFAULT_CLUSTER_OPTIONS), { governance: config, teams: ['team-a'] }).filter((o) => o.kind !== 'Deployment' && o.kind !== 'Service');
    await kubectlOk(cluster, ['apply', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
    // The API server compiles new policies within a second or so; wait until the first refuses.
    await waitFor('the policies to take effect', async () => ((await create(manifest('probe', CASES[1]!))).code !== 0 ? true : undefined), 60_000, 250);
  });

  after(async () => {
    await karbCluster?.stop();
  });

  it('renders one ValidatingAdmissionPolicy and binding per policy, whose CEL the API server type-checks without warnings', async () => {
    const policies = await getJson(cluster, ['validatingadmissionpolicies']);
    const names = policies.items.map((p: any) => p.metadata.name).sort();
    assert.deepEqual(names, ['karb-allowed-registries', 'karb-gpu-namespaces', 'karb-max-replicas', 'karb-model-digest', 'karb-no-privileged-pods', 'karb-required-labels', 'karb-resources-set']);
    const bindings = await getJson(cluster, ['validatingadmissionpolicybindings']);
    assert.equal(bindings.items.length, names.length);
    const checked = await waitFor('the API server to type-check every policy', async () => {
      const now = await getJson(cluster, ['validatingadmissionpolicies']);
      return now.items.every((p: any) => p.status?.typeChecking !== undefined) ? now : undefined;
    }, 60_000, 500);
    for (const p of checked.items) assert.deepEqual(p.status?.typeChecking?.expressionWarnings ?? [], [], `${p.metadata.name} type-checks cleanly`);
  });

  for (const [i, c] of CASES.entries()) {
    it(`${c.what}: ${c.refusedAt ? `refused at ${c.refusedAt}` : 'admitted'} by the API server and by embedded karb alike`, async () => {
      const obj = manifest(`case-${i}`, c);
      const verdict = embedded.check(parseInferenceService(obj), undefined);
      const apiServer = await create(obj);
      if (c.refusedAt === undefined) {
        assert.deepEqual(verdict.errors, [], 'embedded karb admits it');
        assert.equal(apiServer.code, 0, `the API server admits it: ${apiServer.stderr}`);
        return;
      }
      assert.deepEqual(verdict.errors.map((e) => e.path), [c.refusedAt], 'embedded karb refuses it at that field');
      assert.notEqual(apiServer.code, 0, 'the API server refuses it');
      assert.match(apiServer.stderr, new RegExp(`ValidatingAdmissionPolicy 'karb-[a-z-]+' with binding 'karb-[a-z-]+' denied request`));
      assert.ok(apiServer.stderr.includes(c.refusedAt), `the API server names ${c.refusedAt}: ${apiServer.stderr}`);
      // The same message text, from the same CEL: embedded drops the field it names up front and adds the policy's name.
      const text = verdict.errors[0]!.message.replace(/ \(policy karb-[a-z-]+\)$/, '');
      assert.ok(apiServer.stderr.includes(text), `the same message on the API server:\n  embedded: ${text}\n  api server: ${apiServer.stderr.trim()}`);
    });
  }

  it('keeps a service made before governance changeable, and refuses a change that breaks a rule it kept', async () => {
    await kubectlOk(cluster, ['patch', 'inferenceservice', 'old-scorer', '-n', 'legacy', '--type=merge', '-p', '{"spec":{"scaling":{"maxReplicas":4}}}']);
    const broken = await cluster.kubectl(['patch', 'inferenceservice', 'old-scorer', '-n', 'legacy', '--type=merge', '-p', '{"spec":{"scaling":{"maxReplicas":32}}}']);
    assert.notEqual(broken.code, 0);
    assert.match(broken.stderr, /at most 16 replicas per service/);
    const stored = parseInferenceService(manifest('old-scorer', { namespace: 'legacy', labels: {}, spec: { model: model() } }));
    const changed = parseInferenceService(manifest('old-scorer', { namespace: 'legacy', labels: {}, spec: { model: model(), scaling: { maxReplicas: 4 } } }));
    assert.deepEqual(embedded.check(changed, stored).errors, [], 'embedded karb admits the same update');
  });

  it("gives people the roles they are bound to, and nothing more", async () => {
    await kubectlOk(cluster, ['create', 'rolebinding', 'alice-views', '--clusterrole=karb-viewer', '--user=alice', '-n', 'team-a']);
    await kubectlOk(cluster, ['create', 'rolebinding', 'bob-deploys', '--clusterrole=karb-deployer', '--user=bob', '-n', 'team-a']);
    await kubectlOk(cluster, ['create', 'rolebinding', 'carol-admins', '--clusterrole=karb-admin', '--user=carol', '-n', SYSTEM_NAMESPACE]);
    const can = async (user: string, verb: string, resource: string, namespace: string) =>
      (await cluster.kubectl(['auth', 'can-i', verb, resource, '-n', namespace, '--as', user])).stdout.trim() === 'yes';

    assert.equal((await cluster.kubectl(['get', 'inferenceservices', '-n', 'team-a', '--as', 'alice'])).code, 0, 'a viewer reads');
    const aliceCreates = await create(manifest('by-alice', CASES[0]!), 'alice');
    assert.notEqual(aliceCreates.code, 0);
    assert.match(aliceCreates.stderr, /forbidden: User "alice" cannot create resource "inferenceservices"/);

    const bobCreates = await create(manifest('by-bob', CASES[0]!), 'bob', false);
    assert.equal(bobCreates.code, 0, `a deployer applies: ${bobCreates.stderr}`);
    assert.equal((await cluster.kubectl(['delete', 'inferenceservice', 'by-bob', '-n', 'team-a', '--as', 'bob'])).code, 0, 'and deletes');
    assert.equal(await can('bob', 'create', 'inferenceservices', 'team-b'), false, 'only in the namespace it is bound in');
    assert.equal(await can('bob', 'get', 'secrets', SYSTEM_NAMESPACE), false, 'a deployer reads no API keys');
    assert.equal(await can('bob', 'create', 'deployments', 'team-a'), false, 'nor makes workloads karb did not');

    assert.equal(await can('carol', 'create', 'secrets', SYSTEM_NAMESPACE), true, 'an admin manages API keys');
    assert.equal(await can('carol', 'get', 'secrets', 'team-a'), false, 'where it is bound only');
  });

  it("makes a team's namespace enforce Pod Security restricted, deny traffic by default, and refuse privileged pods", async () => {
    const ns = await getJson(cluster, ['namespace', 'team-a']);
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    assert.equal(ns.metadata.labels['karb.dev/team'], 'team-a');
    const policies = await getJson(cluster, ['networkpolicies', '-n', 'team-a']);
    assert.deepEqual(policies.items.map((p: any) => p.metadata.name).sort(), ['karb-allow-dns', 'karb-allow-model-fetch', 'karb-default-deny']);

    const pod = (namespace: string, privileged: boolean) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'debug', namespace },
      spec: { containers: [{ name: 'sh', image: 'busybox', ...(privileged ? { securityContext: { privileged: true } } : {}) }] },
    });
    const inTeam = await create(pod('team-a', true));
    assert.notEqual(inTeam.code, 0);
    assert.match(inTeam.stderr, /privileged/);

    // The policy on its own: a team namespace without Pod Security labels.
    await kubectlOk(cluster, ['create', 'namespace', 'team-c']);
    await kubectlOk(cluster, ['label', 'namespace', 'team-c', 'karb.dev/team=team-c']);
    const byPolicy = await create(pod('team-c', true));
    assert.notEqual(byPolicy.code, 0);
    assert.match(byPolicy.stderr, /ValidatingAdmissionPolicy 'karb-no-privileged-pods'.*securityContext\.privileged is not allowed in a team namespace/);
    assert.equal((await create(pod('team-c', false))).code, 0, 'an unprivileged pod is admitted');
    assert.equal((await create(pod('team-b', true))).code, 0, 'outside team namespaces the policy does not apply');
  });
});
