import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../util/clock.ts';
import type { AccessAttributes } from './custom-metrics.ts';
import { startCustomMetricsServer, type CustomMetricsServer } from './custom-metrics-server.ts';
import { parseRequestHeaderConfig, remoteUser, type RemoteUser } from './request-header.ts';

const HPA = 'system:serviceaccount:kube-system:horizontal-pod-autoscaler';
const PATH = '/apis/custom.metrics.k8s.io/v1beta2/namespaces/ml/inferenceservices.karb.dev/fraud/karb_service_concurrency';

/** A CA and certificates signed by it, made with openssl (as the test cluster's are). */
function makeCerts(dir: string) {
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  writeFileSync(join(dir, 'ext.cnf'), '[client]\nextendedKeyUsage = clientAuth\n[server]\nextendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string) => ssl(['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '1', '-subj', `/CN=${name}`]);
  const leaf = (name: string, cn: string, signer: string, ext: string) => {
    ssl(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-days', '1', '-extfile', 'ext.cnf', '-extensions', ext, '-out', `${name}.crt`]);
  };
  ca('front-proxy-ca');
  ca('other-ca');
  ca('serving-ca');
  leaf('front-proxy-client', 'front-proxy-client', 'front-proxy-ca', 'client');
  leaf('intruder', 'intruder', 'front-proxy-ca', 'client');
  leaf('forged', 'front-proxy-client', 'other-ca', 'client');
  leaf('serving', 'karb-controller', 'serving-ca', 'server');
  const pair = (name: string) => ({ cert: readFileSync(join(dir, `${name}.crt`)), key: readFileSync(join(dir, `${name}.key`)) });
  return { pair, file: (name: string) => join(dir, name) };
}

describe('the custom metrics API server: front-proxy certificate, user in headers, SubjectAccessReview', () => {
  let dir: string;
  let certs: ReturnType<typeof makeCerts>;
  let server: CustomMetricsServer;
  let leading = true;
  const reviews: Array<[RemoteUser, AccessAttributes]> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'karb-metrics-api-'));
    certs = makeCerts(dir);
    const config = parseRequestHeaderConfig({
      'requestheader-client-ca-file': readFileSync(certs.file('front-proxy-ca.crt'), 'utf8'),
      'requestheader-allowed-names': '["front-proxy-client"]',
      'requestheader-username-headers': '["X-Remote-User"]',
      'requestheader-group-headers': '["X-Remote-Group"]',
      'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
    });
    server = await startCustomMetricsServer({
      port: 0,
      host: '127.0.0.1',
      certFile: certs.file('serving.crt'),
      keyFile: certs.file('serving.key'),
      requestHeader: async () => config,
      authorize: async (user, access) => {
        reviews.push([user, access]);
        return user.name === HPA || user.groups.includes('system:masters') ? { allowed: true } : { allowed: false, reason: 'no RBAC rule' };
      },
      source: { services: () => ['fraud'], service: (_ns, name) => (name === 'fraud' ? { stable: { windowSeconds: 60, concurrency: 2.5 } } : undefined) },
      ready: () => leading,
      clock: new ManualClock(Date.parse('2026-05-01T12:00:00Z')),
    });
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string, client: { cert: Buffer; key: Buffer } | undefined, headers: Record<string, string | string[]> = {}) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request(`${server.url}${path}`, { ca: readFileSync(certs.file('serving-ca.crt')), ...(client ?? {}), headers }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end();
    });

  test('the HPA’s request through the front proxy: authorized by a review of exactly the metric, answered with its value', async () => {
    const r = await get(PATH, certs.pair('front-proxy-client'), { 'x-remote-user': HPA, 'x-remote-group': ['system:serviceaccounts', 'system:serviceaccounts:kube-system'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.items[0].value, '2500m');
    const [user, access] = reviews.at(-1)!;
    assert.deepEqual(user, { name: HPA, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'], extra: {} });
    assert.deepEqual(access, {
      resource: { namespace: 'ml', verb: 'get', group: 'custom.metrics.k8s.io', version: 'v1beta2', resource: 'inferenceservices.karb.dev', subresource: 'karb_service_concurrency', name: 'fraud' },
    });
  });

  test('a user RBAC does not allow: 403 Status in the API server’s words', async () => {
    const r = await get(PATH, certs.pair('front-proxy-client'), { 'x-remote-user': 'system:serviceaccount:ml:nobody' });
    assert.equal(r.status, 403);
    assert.equal(r.body.kind, 'Status');
    assert.equal(r.body.reason, 'Forbidden');
    assert.match(r.body.message, /User "system:serviceaccount:ml:nobody" cannot get resource "inferenceservices.karb.dev\/karb_service_concurrency" in API group "custom.metrics.k8s.io" in the namespace "ml": no RBAC rule/);
  });

  test('discovery is reviewed as a non-resource path (the aggregator asks as system:kube-aggregator)', async () => {
    const r = await get('/apis/custom.metrics.k8s.io/v1beta2', certs.pair('front-proxy-client'), { 'x-remote-user': 'system:kube-aggregator', 'x-remote-group': 'system:masters' });
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, 'APIResourceList');
    assert.deepEqual(reviews.at(-1)![1], { nonResource: { path: '/apis/custom.metrics.k8s.io/v1beta2', verb: 'get' } });
  });

  test('no certificate, another CA’s, a name not allowed, or no user header: 401, and the headers are not believed', async () => {
    const before = reviews.length;
    const headers = { 'x-remote-user': HPA };
    for (const [client, why] of [
      [undefined, /no client certificate/],
      [certs.pair('forged'), /not signed by the API server’s request-header client CA/],
      [certs.pair('intruder'), /"intruder" is not one of requestheader-allowed-names/],
    ] as const) {
      const r = await get(PATH, client, headers);
      assert.equal(r.status, 401);
      assert.equal(r.body.reason, 'Unauthorized');
      assert.match(r.body.message, why);
    }
    const noUser = await get(PATH, certs.pair('front-proxy-client'));
    assert.equal(noUser.status, 401);
    assert.match(noUser.body.message, /no user in X-Remote-User/);
    assert.equal(reviews.length, before, 'nothing unauthenticated reaches the authorizer');
  });

  test('a standby answers metrics with 503', async () => {
    leading = false;
    try {
      const r = await get(PATH, certs.pair('front-proxy-client'), { 'x-remote-user': HPA });
      assert.equal(r.status, 503);
      assert.equal(r.body.reason, 'ServiceUnavailable');
    } finally {
      leading = true;
    }
  });

  test('reload rereads the certificate files', async () => {
    await server.reload();
    const r = await get(PATH, certs.pair('front-proxy-client'), { 'x-remote-user': HPA });
    assert.equal(r.status, 200);
  });
});

test('remoteUser: extra headers unescaped and lowercased, the first username header that is set, system:authenticated added once', () => {
  const config = parseRequestHeaderConfig({
    'requestheader-client-ca-file': '-----BEGIN CERTIFICATE-----\n',
    'requestheader-username-headers': '["X-Remote-User","X-Other-User"]',
    'requestheader-group-headers': '["X-Remote-Group"]',
    'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
    'requestheader-uid-headers': '["X-Remote-Uid"]',
  });
  assert.deepEqual(remoteUser({ 'x-other-user': ['alice'], 'x-remote-extra-scopes%2fread': ['a', 'b'], 'x-remote-uid': ['u1'] }, config), {
    name: 'alice',
    uid: 'u1',
    groups: ['system:authenticated'],
    extra: { 'scopes/read': ['a', 'b'] },
  });
  assert.deepEqual(remoteUser({ 'x-remote-user': ['bob'], 'x-remote-group': ['system:authenticated'] }, config)?.groups, ['system:authenticated']);
  assert.equal(remoteUser({}, config), undefined);
  assert.throws(() => parseRequestHeaderConfig({}), /no requestheader-client-ca-file: the API server proxies to aggregated APIs only when started with --requestheader-client-ca-file/);
  assert.throws(() => parseRequestHeaderConfig({ 'requestheader-client-ca-file': '-----BEGIN CERTIFICATE-----', 'requestheader-allowed-names': 'x' }), /not a JSON list/);
});
