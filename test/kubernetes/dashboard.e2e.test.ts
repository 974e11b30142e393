/**
 * The dashboard served by `karb controller` on a real API server: the page is open (it holds no
 * data), and its data, karb's events and the rollout routes answer only callers the cluster's
 * RBAC lets `get` InferenceServices (in every namespace) — or `patch` the service, for a rollout
 * command — each caller authenticated by a service-account token (TokenReview) and authorized by
 * a SubjectAccessReview, with the RBAC `karb install` ships the controller.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { startController, type RunningController } from '../../src/control/kubernetes/controller.ts';
import { waitFor } from '../../src/util/wait-for.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { inferenceService, kubectlOk, restrictedNamespace, startKarbTestCluster, type KarbTestCluster } from './support.ts';

const NS = 'dash';

describe('the dashboard on karb controller', { timeout: 300_000 }, () => {
  let karb: KarbTestCluster;
  let cluster: TestCluster;
  let controller: RunningController;
  const tokens: Record<'viewer' | 'operator' | 'stranger', string> = { viewer: '', operator: '', stranger: '' };

  const call = (path: string, token?: string, method = 'GET') => fetch(`${controller.url}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

  before(async () => {
    karb = await startKarbTestCluster();
    cluster = karb.cluster;
    await restrictedNamespace(cluster, NS);
    // viewer: get/list/watch InferenceServices everywhere; operator: that, and patch them in NS; stranger: nothing.
    for (const account of Object.keys(tokens)) await kubectlOk(cluster, ['create', 'serviceaccount', account, '-n', NS]);
    await kubectlOk(cluster, ['create', 'clusterrole', 'karb-viewer', '--verb=get,list,watch', '--resource=inferenceservices.karb.dev']);
    await kubectlOk(cluster, ['create', 'clusterrolebinding', 'karb-viewers', '--clusterrole=karb-viewer', `--serviceaccount=${NS}:viewer`, `--serviceaccount=${NS}:operator`]);
    await kubectlOk(cluster, ['create', 'role', 'karb-operator', '-n', NS, '--verb=patch', '--resource=inferenceservices.karb.dev']);
    await kubectlOk(cluster, ['create', 'rolebinding', 'karb-operators', '-n', NS, '--role=karb-operator', `--serviceaccount=${NS}:operator`]);
    for (const account of Object.keys(tokens) as Array<keyof typeof tokens>) tokens[account] = (await kubectlOk(cluster, ['create', 'token', account, '-n', NS, '--duration=30m'])).trim();
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('fraud', NS, { model: { uri: 'pvc://models/fraud-v1.onnx' }, scaling: { minReplicas: 1, maxReplicas: 3 } }));
    const logFile = join(karb.dir, 'controller.log');
    controller = await startController({ kubeconfig: karb.kubeconfig, port: 0, host: '127.0.0.1', identity: 'dashboard-test', log: (r) => appendFileSync(logFile, `${JSON.stringify(r)}\n`) });
  });

  after(async () => {
    await controller?.close();
    await karb?.stop();
  });

  test('the page is open and forbids inline script; its data needs a token', async () => {
    const page = await call('/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(await page.text(), /<script type="module" src="\/dashboard\/app\.js">/);
    const anonymous = await call('/api/v1/dashboard/services');
    assert.equal(anonymous.status, 401);
    assert.equal((await errorOf(anonymous)).code, 'UNAUTHENTICATED');
    const bogus = await call('/api/v1/dashboard/services', 'not-a-token');
    assert.equal(bogus.status, 401, 'the API server’s TokenReview refuses it');
    await bogus.arrayBuffer();
  });

  test('RBAC decides: a caller who may not get InferenceServices everywhere is refused, saying what to grant', async () => {
    for (const path of ['/api/v1/dashboard/services', '/api/v1/events']) {
      const refused = await call(path, tokens.stranger);
      assert.equal(refused.status, 403, path);
      const error = await errorOf(refused);
      assert.equal(error.code, 'FORBIDDEN');
      assert.match(error.message, new RegExp(`system:serviceaccount:${NS}:stranger may not get inferenceservices\\.karb\\.dev in every namespace; grant it`));
    }
  });

  test('a viewer sees the services with their SLO state, replicas and policy, and karb’s events', async () => {
    const services = await waitFor(
      'the service on the dashboard',
      async () => {
        const res = await call('/api/v1/dashboard/services', tokens.viewer);
        assert.equal(res.status, 200);
        const body = (await res.json()) as { items: Array<Record<string, any>> };
        return body.items.find((s) => s.namespace === NS && s.name === 'fraud');
      },
      60_000,
    );
    assert.equal(services.policy, 'gascl');
    assert.equal(services.replicas.max, 3);
    assert.equal(typeof services.sloStatus.state, 'string');
    assert.equal(services.latestRevision, 'fraud-00001');
    const events = await waitFor(
      'the revision’s event',
      async () => {
        const res = await call('/api/v1/events', tokens.viewer);
        const body = (await res.json()) as { items: Array<{ reason: string; service: string }> };
        return body.items.some((e) => e.reason === 'RevisionCreated' && e.service === 'fraud') ? body.items : undefined;
      },
      60_000,
    );
    assert.ok(events.length > 0);
    const rollout = await call(`/api/v1/services/fraud/rollout?namespace=${NS}`, tokens.viewer);
    assert.equal(rollout.status, 200);
    assert.deepEqual(((await rollout.json()) as Record<string, unknown>).rollout, null, 'one revision: no rollout');
  });

  test('a rollout command needs patch on the service: a viewer is refused, an operator reaches the rollout', async () => {
    const viewer = await call(`/api/v1/services/fraud/rollout/pause?namespace=${NS}`, tokens.viewer, 'POST');
    assert.equal(viewer.status, 403);
    assert.match((await errorOf(viewer)).message, new RegExp(`may not patch inferenceservices\\.karb\\.dev in namespace ${NS}`));
    const operator = await call(`/api/v1/services/fraud/rollout/pause?namespace=${NS}`, tokens.operator, 'POST');
    assert.equal(operator.status, 404, 'authorized: the service has no rollout to pause');
    assert.equal((await errorOf(operator)).code, 'NO_ROLLOUT');
    const unknown = await call(`/api/v1/services/fraud/rollout/rewind?namespace=${NS}`, tokens.operator, 'POST');
    assert.equal(unknown.status, 404);
    assert.equal((await errorOf(unknown)).code, 'UNKNOWN_ROLLOUT_COMMAND');
    const wrongMethod = await call(`/api/v1/services/fraud/rollout/pause?namespace=${NS}`, tokens.operator, 'GET');
    assert.equal(wrongMethod.status, 405);
    await wrongMethod.arrayBuffer();
  });
});
