import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeApiError } from '../../runtime/kubernetes/api-client.ts';
import { explainStartFailure } from './preflight.ts';

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
