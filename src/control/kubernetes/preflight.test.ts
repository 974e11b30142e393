import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeApiError, type KubeClient } from '../../runtime/kubernetes/api-client.ts';
import { ControllerStartError, explainStartFailure, requireNodeList } from './preflight.ts';

const SERVER = 'https://10.0.0.1:6443';

test('a failed first list says what to fix: the CRD, the credentials, the RBAC, the address', () => {
  const missing = explainStartFailure(new KubeApiError(404, 'NotFound', 'the server could not find the requested resource'), SERVER, undefined);
  assert.equal(missing.code, 'CONTROLLER_CANNOT_START');
  assert.match(missing.message, /no InferenceService resource: install karb's CRD first \(karb install \| kubectl apply -f -\)/);
  assert.match(explainStartFailure(new KubeApiError(401, 'Unauthorized', 'Unauthorized'), SERVER, undefined).message, /does not accept these credentials/);
  assert.match(explainStartFailure(new KubeApiError(403, 'Forbidden', 'forbidden'), SERVER, 'ml').message, /may not list InferenceServices in namespace ml \(403\): bind them to the karb-controller ClusterRole/);
  const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
  assert.equal(explainStartFailure(refused, SERVER, undefined).message, `cannot reach the API server at ${SERVER} (ECONNREFUSED): check --kubeconfig and that the cluster is up`);
});

test('credentials that may not list Nodes stop the start, saying what karb reads them for and how to fix it', async () => {
  const forbidden = { list: async () => Promise.reject(new KubeApiError(403, 'Forbidden', 'nodes is forbidden')) } as unknown as KubeClient;
  await assert.rejects(requireNodeList(forbidden, 'to count each pool’s room'), (err: unknown) => {
    assert.ok(err instanceof ControllerStartError);
    assert.equal(err.code, 'CONTROLLER_CANNOT_START');
    assert.match(err.message, /may not list Nodes \(403\), which karb controller reads to count each pool’s room: apply the karb-controller ClusterRole/);
    return true;
  });
  // Any other failure is not an RBAC problem and passes through as it is.
  const down = { list: async () => Promise.reject(new TypeError('fetch failed')) } as unknown as KubeClient;
  await assert.rejects(requireNodeList(down, 'to count each pool’s room'), /fetch failed/);
  const allowed = { list: async () => ({ items: [] }) } as unknown as KubeClient;
  await requireNodeList(allowed, 'to count each pool’s room');
});
