/**
 * `karb up --governance FILE`: every apply is checked against the governance file's CEL
 * policies (the same text `karb install --governance` gives a cluster's API server, compared
 * case by case in test/kubernetes/governance.e2e.test.ts). Deny refuses with 422 naming the field
 * and the policy, and nothing is stored; Warn admits and `karb apply` prints the warning.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { karb, startKarbUp, workDir, type KarbUp } from './helpers.ts';

const governance = (action: string) => `apiVersion: karb.dev/v1alpha1
kind: Governance
spec:
  action: ${action}
  requiredLabels: [team, cost-center]
  policies:
    - name: small-batches
      expression: object.spec.model.batching.maxBatchSize <= 64
      message: batches of at most 64 rows keep p95 within the SLO
      fieldPath: spec.model.batching.maxBatchSize
`;

const service = (name: string, labels: Record<string, string>, maxBatchSize = 32) =>
  stringify({
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, labels },
    spec: { model: { uri: 'file://models/fraud-v1.onnx', batching: { maxBatchSize } }, scaling: { minReplicas: 0, maxReplicas: 1 } },
  });

describe('karb up --governance', () => {
  const work = workDir();
  const warnWork = workDir();
  let deny: KarbUp;
  let warn: KarbUp;

  before(async () => {
    writeFileSync(join(work.dir, 'governance.yaml'), governance('Deny'));
    writeFileSync(join(warnWork.dir, 'governance.yaml'), governance('Warn'));
    deny = await startKarbUp(work.dir, {}, ['--governance', 'governance.yaml']);
    warn = await startKarbUp(warnWork.dir, {}, ['--governance', 'governance.yaml']);
  });

  after(async () => {
    await deny?.stop();
    await warn?.stop();
    work.cleanup();
    warnWork.cleanup();
  });

  const apply = (up: KarbUp, manifest: string) => karb(['apply', '-f', '-', '--server', up.controlUrl, '--token', up.adminToken], { cwd: up === warn ? warnWork.dir : work.dir, input: manifest });

  it('refuses a service that breaks a policy, naming each field and policy, and stores nothing', async () => {
    const refused = await apply(deny, service('unlabelled', { team: 'risk' }, 128));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /metadata\.labels: must include cost-center \(required of every InferenceService; add them under metadata\.labels\) \(policy karb-required-labels\)/);
    assert.match(refused.stderr, /spec\.model\.batching\.maxBatchSize: batches of at most 64 rows keep p95 within the SLO \(policy karb-small-batches\)/);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
    const stored = await fetch(`${deny.controlUrl}/api/v1/services/unlabelled`, { headers: deny.admin });
    assert.equal(stored.status, 404, 'nothing was stored');

    const direct = await fetch(`${deny.controlUrl}/api/v1/services/unlabelled`, { method: 'PUT', headers: deny.admin, body: service('unlabelled', {}) });
    assert.equal(direct.status, 422);
    const body = (await direct.json()) as { error: { code: string; details: Array<{ path: string }> } };
    assert.equal(body.error.code, 'INVALID_SPEC');
    assert.deepEqual(body.error.details.map((d) => d.path), ['metadata.labels']);
  });

  it('admits a service that meets every policy', async () => {
    const admitted = await apply(deny, service('labelled', { team: 'risk', 'cost-center': 'cc-7' }));
    assert.equal(admitted.code, 0, admitted.stderr);
    assert.match(admitted.stdout, /inferenceservice\/labelled created/);
    assert.equal(admitted.stderr, '');
  });

  it('with action Warn admits and prints what failed', async () => {
    const warned = await apply(warn, service('unlabelled', {}));
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stdout, /inferenceservice\/unlabelled created/);
    assert.match(warned.stderr, /^warning: inferenceservice\/unlabelled: metadata\.labels: must include team, cost-center .*\(policy karb-required-labels\)$/m);
  });

  it('refuses to start on a governance file it cannot use, saying what is wrong', async () => {
    writeFileSync(join(work.dir, 'broken.yaml'), governance('Deny').replace('<= 64', '<= ('));
    const broken = await karb(['up', '--governance', 'broken.yaml', '--port', '0', '--gateway-port', '0'], { cwd: work.dir, timeoutMs: 30_000 });
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /broken\.yaml: invalid Governance: spec\.policies\[0\]\.expression: policy karb-small-batches: not a valid CEL expression/);
    const missing = await karb(['up', '--governance', 'nope.yaml', '--port', '0', '--gateway-port', '0'], { cwd: work.dir, timeoutMs: 30_000 });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--governance: cannot read nope\.yaml \(ENOENT\)/);
  });
});
