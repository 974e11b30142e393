/**
 * The edge steps in a real gateway (in process, real HTTP on loopback) with a
 * real key store in memory: every refusal, scopes, rate-limit headers, the
 * deadline header, client-supplied hosts, and TLS.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { ManualClock } from '../../util/clock.ts';
import { startGateway, type Gateway, type GatewayOptions } from '../server/gateway.ts';
import { InMemoryRoutingTable, type Route } from '../discovery/routing-table.ts';
import { answerWithName, httpClient, revision, startReplica, type FakeReplica } from '../server/test-support.ts';
import { KeyStore } from '../../control/key-store.ts';
import { StoreKeyResolver } from './key-resolver.ts';

const client = httpClient();
test.after(() => client.close());

const BODY = '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}';

function routeIn(namespace: string, model: string, url: string, extra: Partial<Route> = {}): Route {
  return { model, namespace, service: model, format: 'oip', revisions: [revision(`${model}-00001`, 100, [url])], ...extra };
}

interface Setup {
  gw: Gateway;
  keys: KeyStore;
  replica: FakeReplica;
  clock: ManualClock;
}

async function setup(t: TestContext, options: Partial<GatewayOptions> & { routes?: (url: string) => Route[] } = {}): Promise<Setup> {
  const replica = await startReplica(answerWithName('r1'));
  t.after(() => replica.close());
  const clock = new ManualClock(Date.parse('2026-06-01T00:00:00Z'));
  const keys = new KeyStore(':memory:', { clock });
  t.after(() => keys.close());
  const table = new InMemoryRoutingTable();
  table.replace(options.routes?.(replica.url) ?? [routeIn('payments', 'fraud', replica.url), routeIn('payments', 'churn', replica.url), routeIn('other', 'spam', replica.url)]);
  const gw = await startGateway({ routingTable: table, port: 0, clock, edge: { keys: new StoreKeyResolver(keys) }, ...options });
  t.after(() => gw.close());
  return { gw, keys, replica, clock };
}

const infer = (gw: Gateway, model: string, headers: Record<string, string> = {}) =>
  client.send(`${gw.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: BODY });
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

test('every bad key gets the same 401, counted by reason, and reaches no replica', async (t) => {
  const { gw, keys, replica, clock } = await setup(t);
  const good = keys.create({ namespace: 'payments' }).key;
  const revoked = keys.create({ namespace: 'payments' });
  keys.revoke(revoked.record.id);
  const expired = keys.create({ namespace: 'payments', lifetimeMs: 60_000 });
  clock.advance(60_000);
  const id = good.slice(5, 21);
  const cases: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['not bearer', { authorization: `Basic ${good}` }],
    ['malformed', bearer('sk-not-a-karb-key')],
    ['wrong secret', bearer(`karb_${id}_${'A'.repeat(43)}`)],
    ['unknown id', bearer(`karb_ffffffffffffffff_${good.slice(-43)}`)],
    ['revoked', bearer(revoked.key)],
    ['expired', bearer(expired.key)],
  ];
  const bodies = new Set<string>();
  for (const [why, headers] of cases) {
    const res = await infer(gw, 'fraud', headers);
    assert.equal(res.status, 401, why);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="karb"');
    bodies.add(res.text());
  }
  assert.deepEqual([...bodies], ['{"error":"invalid or missing API key"}'], 'one body for every reason');
  // Unknown models are not revealed to unauthenticated callers either.
  assert.equal((await infer(gw, 'no-such-model')).status, 401);
  assert.equal(replica.seen.length, 0);
  const metrics = await gw.metrics();
  for (const reason of ['missing', 'malformed', 'mismatch', 'unknown', 'revoked', 'expired']) {
    assert.match(metrics, new RegExp(`karb_gateway_auth_failures_total\\{reason="${reason}"\\} [1-9]`), reason);
  }
  assert.equal((await infer(gw, 'fraud', bearer(good))).status, 200);
  assert.equal(replica.seen[0]!.headers.authorization, undefined, 'the key is not forwarded to the replica');
});

test('scopes: other namespaces and services outside the allowlist get 403 naming the model', async (t) => {
  const { gw, keys } = await setup(t);
  const narrow = keys.create({ namespace: 'payments', services: ['fraud'] }).key;
  assert.equal((await infer(gw, 'fraud', bearer(narrow))).status, 200);
  for (const model of ['churn', 'spam']) {
    const res = await infer(gw, model, bearer(narrow));
    assert.equal(res.status, 403, model);
    const message = (res.json() as { error: string }).error;
    assert.match(message, new RegExp(`'${model}'`));
    assert.ok(!message.includes(narrow.slice(5, 21)) && !message.includes(narrow.slice(-43)), 'the key is not named');
  }
  assert.match(await gw.metrics(), /karb_gateway_auth_failures_total\{reason="scope"\} 2/);
  // Metadata and unknown models behave the same for an authenticated caller.
  assert.equal((await client.send(`${gw.url}/v2/models/fraud`, { headers: bearer(narrow) })).status, 200);
  assert.equal((await infer(gw, 'no-such-model', bearer(narrow))).status, 404);
  // Readiness is the model's business too: outside the scope it is the same 403, never a 200.
  assert.equal((await client.send(`${gw.url}/v2/models/fraud/ready`, { headers: bearer(narrow) })).status, 200);
  for (const model of ['churn', 'spam']) {
    assert.equal((await client.send(`${gw.url}/v2/models/${model}/ready`, { headers: bearer(narrow) })).status, 403, `${model}/ready`);
  }
  assert.equal((await client.send(`${gw.url}/v2/models/fraud/ready`)).status, 401, 'no key, no readiness');
});

test('per-key and per-service limits: 429 with Retry-After and x-ratelimit-* headers, also on success', async (t) => {
  const { gw, keys, clock } = await setup(t, {
    routes: (url) => [routeIn('payments', 'fraud', url), routeIn('payments', 'churn', url, { rateLimit: { requestsPerSecond: 1, burst: 2 } })],
  });
  const key = keys.create({ namespace: 'payments', rps: 2, burst: 3 }).key;
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await infer(gw, 'fraud', bearer(key));
    statuses.push(res.status);
    assert.equal(res.headers['x-ratelimit-limit'], '2');
    if (res.status === 200) assert.equal(res.headers['x-ratelimit-remaining'], String(2 - i));
    else {
      assert.equal(res.headers['retry-after'], '1');
      assert.equal(res.headers['x-ratelimit-remaining'], '0');
      assert.equal(res.headers['x-ratelimit-reset'], '2');
      assert.match((res.json() as { error: string }).error, /rate limit of 2 requests\/s for this API key/);
    }
  }
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  clock.advance(500);
  assert.equal((await infer(gw, 'fraud', bearer(key))).status, 200, 'a token back after 1/rate');

  // The service limit (1/s, burst 2) applies to every key together.
  const other = keys.create({ namespace: 'payments' }).key;
  clock.advance(10_000);
  const churn = [await infer(gw, 'churn', bearer(other)), await infer(gw, 'churn', bearer(key)), await infer(gw, 'churn', bearer(other))];
  assert.deepEqual(churn.map((r) => r.status), [200, 200, 429]);
  assert.match((churn[2]!.json() as { error: string }).error, /for model 'churn'/);
  const metrics = await gw.metrics();
  assert.match(metrics, /karb_gateway_ratelimited_total\{service="fraud",scope="key"\} 1/);
  assert.match(metrics, /karb_gateway_ratelimited_total\{service="churn",scope="service"\} 1/);
  assert.doesNotMatch(metrics, new RegExp(key.slice(5, 21)), 'no key id in any metric label');
});

test('x-karb-timeout-ms: malformed values get 400, valid ones pass through', async (t) => {
  const { gw, keys } = await setup(t);
  const key = keys.create({ namespace: 'payments' }).key;
  for (const bad of ['abc', '0', '-5', '1.5', '']) {
    const res = await infer(gw, 'fraud', { ...bearer(key), 'x-karb-timeout-ms': bad });
    assert.equal(res.status, 400, `'${bad}'`);
    assert.match((res.json() as { error: string }).error, /x-karb-timeout-ms must be a whole number/);
  }
  assert.equal((await infer(gw, 'fraud', { ...bearer(key), 'x-karb-timeout-ms': '5000' })).status, 200);
  assert.equal((await infer(gw, 'fraud', { ...bearer(key), 'x-karb-timeout-ms': '999999999999' })).status, 200, 'capped, not refused');
});

test('client-supplied hosts and absolute-form targets are never fetched: only the routing table is', async (t) => {
  const { gw, keys, replica } = await setup(t);
  const elsewhere = await startReplica(answerWithName('elsewhere'));
  t.after(() => elsewhere.close());
  const key = keys.create({ namespace: 'payments' }).key;
  const elsewhereHost = new URL(elsewhere.url).host;
  const res = await infer(gw, 'fraud', { ...bearer(key), host: elsewhereHost, 'x-forwarded-host': elsewhereHost, forwarded: `host=${elsewhereHost}` });
  assert.equal(res.status, 200);
  assert.deepEqual(res.json(), { replica: 'r1' });

  // An absolute-form request target naming another server.
  const raw = await rawRequest(
    gw.port,
    `POST ${elsewhere.url}/v2/models/fraud/infer HTTP/1.1\r\nHost: ${elsewhereHost}\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY}`,
  );
  assert.match(raw, /^HTTP\/1\.1 404/, 'an absolute-form target matches no gateway path');
  assert.equal(elsewhere.seen.length, 0, 'nothing was sent to the client-named server');
  assert.equal(replica.seen.length, 1);
});

test('TLS: the gateway serves HTTPS from PEM files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'karb-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const { gw, keys } = await setup(t, { tls: { cert: readFileSync(cert), key: readFileSync(keyFile) } });
  assert.match(gw.url, /^https:\/\//);
  const key = keys.create({ namespace: 'payments' }).key;
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest(`${gw.url}/v2/models/fraud/infer`, { method: 'POST', ca: readFileSync(cert), headers: { ...bearer(key), 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(BODY);
  });
  assert.equal(status, 200);
  assert.deepEqual(JSON.parse(body), { replica: 'r1' });
});

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += d));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.write(text);
  });
}

test('single-gateway accuracy: 50 req/s offered for 5 s to a 10 req/s key admits burst + rate × 5', async (t) => {
  const { gw, keys, clock, replica } = await setup(t);
  const key = keys.create({ namespace: 'payments', rps: 10, burst: 10 }).key;
  const perSecond: number[] = [];
  for (let second = 0; second < 5; second++) {
    let admitted = 0;
    for (let i = 0; i < 50; i++) {
      if ((await infer(gw, 'fraud', bearer(key))).status === 200) admitted++;
      clock.advance(20);
    }
    perSecond.push(admitted);
  }
  const total = perSecond.reduce((a, b) => a + b, 0);
  // Full bucket (10) plus 10 tokens a second; the refill of the last instant lands after the run.
  assert.ok(total <= 10 + 10 * 5, `admitted ${total} (${perSecond})`);
  assert.ok(total >= 10 + 10 * 5 - 1, `admitted ${total} (${perSecond})`);
  assert.deepEqual(perSecond.slice(1), [10, 10, 10, 10], 'after the burst, exactly the rate');
  assert.equal(replica.seen.length, total, 'refused requests never reach the replica');
});

test('GET /v1/models lists only the models the key may call', async (t) => {
  const openai = (namespace: string, model: string, url: string): Route => routeIn(namespace, model, url, { format: 'openai' });
  const { gw, keys } = await setup(t, { routes: (url) => [openai('payments', 'chat', url), openai('payments', 'summarize', url), openai('other', 'spam-lm', url)] });
  const list = async (key: string) => ((await client.send(`${gw.url}/v1/models`, { headers: bearer(key) })).json() as { data: Array<{ id: string }> }).data.map((m) => m.id).sort();
  assert.deepEqual(await list(keys.create({ namespace: 'payments' }).key), ['chat', 'summarize'], 'its namespace only');
  assert.deepEqual(await list(keys.create({ namespace: 'payments', services: ['chat'] }).key), ['chat'], 'its service allowlist only');
  assert.deepEqual(await list(keys.create({ namespace: 'nobody' }).key), [], 'nothing outside its scope');
});
