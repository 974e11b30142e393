/**
 * Async jobs through a real gateway on loopback: 202 + Location, polling to the
 * replica's answer, visibility only to the creating key, queue bound, errors.
 */
import { after, before, describe, it as test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { startGateway, type GatewayOptions } from '../gateway.ts';
import { InMemoryRoutingTable, type Route } from '../routing-table.ts';
import { httpClient, revision, route, startReplica, unusedPort, waitFor, type ReplicaHandler } from '../test-support.ts';
import { KeyStore } from '../../control/key-store.ts';
import { StoreKeyResolver } from '../../edge/key-resolver.ts';
import { systemClock } from '../../util/clock.ts';
import { SqliteJobStore } from './sqlite-store.ts';
import { RedisJobStore } from './redis-store.ts';
import { startRedis, type TestRedis } from '../../edge/test-redis.ts';
import type { JobStore } from './types.ts';

const INFER = '/v2/models/fraud/infer';
const ASYNC = { prefer: 'respond-async', 'content-type': 'application/json' };

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.close();
});

type StoreKind = 'sqlite' | 'redis';
function openStore(kind: StoreKind, dir: string): JobStore {
  return kind === 'sqlite'
    ? new SqliteJobStore(join(dir, 'jobs.db'), systemClock)
    : new RedisJobStore({ url: redis.url, clock: systemClock, prefix: `karb:test:${dir.slice(-6)}:`, consumer: 'gateway-0' });
}

async function setup(kind: StoreKind, t: TestContext, options: { handler?: ReplicaHandler; route?: Partial<Route>; auth?: boolean; gateway?: Partial<GatewayOptions> } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'karb-async-'));
  const store = openStore(kind, dir);
  const replica = await startReplica(options.handler ?? ((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ echo: req.body.toString() }));
  }));
  const table = new InMemoryRoutingTable();
  table.replace([
    { ...route('fraud', [revision('fraud-00001', 100, [replica.url])]), asyncEnabled: true, asyncMaxQueued: 100, asyncTtlMs: 60_000, ...options.route },
    route('sync-only', [revision('sync-only-00001', 100, [replica.url])]),
  ]);
  const keys = new KeyStore(':memory:');
  const gw = await startGateway({
    routingTable: table,
    port: 0,
    jobs: { store, pollIntervalMs: 20, concurrency: 4 },
    ...(options.auth ? { edge: { keys: new StoreKeyResolver(keys) } } : {}),
    ...options.gateway,
  });
  const http = httpClient();
  t.after(async () => {
    await http.close();
    await gw.close();
    await replica.close();
    await store.close();
    keys.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const poll = async (location: string, headers: Record<string, string> = {}) => {
    let last: { status: string; result?: { status: number; body: unknown } } | undefined;
    await waitFor(async () => {
      const r = await http.send(gw.url + location, { headers });
      last = r.json() as typeof last;
      return last!.status !== 'queued' && last!.status !== 'running';
    }, `job ${location} to finish`);
    return last!;
  };
  return { gw, http, replica, keys, store, poll };
}

for (const kind of ['sqlite', 'redis'] as const) {
  describe(`async jobs through the gateway (${kind} store)`, () => {
  test('a respond-async request is accepted with 202 and its job ends with the replica answer', async (t) => {
    const { gw, http, replica, keys, poll } = await setup(kind, t, { auth: true });
    const alice = { authorization: `Bearer ${keys.create({ namespace: 'default' }).key}` };
    const r = await http.send(gw.url + INFER, { method: 'POST', headers: { ...ASYNC, ...alice }, body: '{"inputs":[]}' });
    assert.equal(r.status, 202, r.text());
    assert.equal(r.headers['preference-applied'], 'respond-async');
    const body = r.json() as { id: string; status: string };
    assert.equal(body.status, 'queued');
    assert.equal(r.headers.location, `/v1/jobs/${body.id}`);

    const done = await poll(r.headers.location as string, alice);
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(done.result, { status: 200, contentType: 'application/json', body: { echo: '{"inputs":[]}' } });
    assert.equal(replica.seen.length, 1);
    assert.equal(replica.seen[0]!.url, INFER);
    // The worker's internal credential never reaches a replica.
    assert.equal(replica.seen[0]!.headers['x-karb-job-token'], undefined);
    assert.equal(replica.seen[0]!.headers.prefer, undefined);
  });

  test('a job is visible only to the key that created it; others get the same 404 as an unknown id', async (t) => {
    const { gw, http, keys, poll } = await setup(kind, t, { auth: true });
    const alice = { authorization: `Bearer ${keys.create({ namespace: 'default' }).key}` };
    const bob = { authorization: `Bearer ${keys.create({ namespace: 'default' }).key}` };
    const r = await http.send(gw.url + INFER, { method: 'POST', headers: { ...ASYNC, ...alice }, body: '{}' });
    const location = r.headers.location as string;
    await poll(location, alice);

    const asBob = await http.send(gw.url + location, { headers: bob });
    const unknown = await http.send(gw.url + '/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA', { headers: alice });
    const malformed = await http.send(gw.url + '/v1/jobs/nope', { headers: alice });
    for (const reply of [asBob, unknown, malformed]) {
      assert.equal(reply.status, 404);
      assert.equal((reply.json() as { error: { code: string } }).error.code, 'job_not_found');
    }
    assert.equal(asBob.text(), unknown.text());
    assert.equal((await http.send(gw.url + location)).status, 401);
  });

  test('async to a service without async enabled is a 400 saying how to enable it', async (t) => {
    const { gw, http } = await setup(kind, t);
    const r = await http.send(gw.url + '/v2/models/sync-only/infer', { method: 'POST', headers: ASYNC, body: '{}' });
    assert.equal(r.status, 400);
    assert.match((r.json() as { error: string }).error, /spec\.traffic\.async\.enabled: true/);
    // Without the preference the same request is answered synchronously.
    assert.equal((await http.send(gw.url + '/v2/models/sync-only/infer', { method: 'POST', body: '{}' })).status, 200);
  });

  test('past maxQueued unfinished jobs the caller gets 429 with Retry-After; held jobs finish once the replica answers', async (t) => {
    const waiting: ServerResponse[] = [];
    let hold = true;
    const { gw, http, poll } = await setup(kind, t, {
      route: { asyncMaxQueued: 2 },
      handler: (_req, res) => {
        if (!hold) {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
          return;
        }
        waiting.push(res);
      },
    });
    const send = () => http.send(gw.url + INFER, { method: 'POST', headers: ASYNC, body: '{}' });
    const a = await send();
    const b = await send();
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    const full = await send();
    assert.equal(full.status, 429);
    assert.ok(Number(full.headers['retry-after']) > 0);
    assert.match((full.json() as { error: string }).error, /maxQueued/);

    await waitFor(() => waiting.length === 2, 'both jobs to reach the replica');
    hold = false;
    for (const res of waiting) res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    for (const r of [a, b]) assert.equal((await poll(r.headers.location as string)).status, 'succeeded');
    assert.equal((await send()).status, 202);

    const metrics = await gw.metrics();
    assert.match(metrics, /karb_gateway_async_jobs_total\{service="fraud",outcome="accepted"\} 3/);
    assert.match(metrics, /karb_gateway_async_jobs_total\{service="fraud",outcome="rejected"\} 1/);
    assert.match(metrics, /karb_gateway_async_jobs\{state="succeeded"\} [23]/);
  });

  test('a replica error becomes a failed job carrying its status and body', async (t) => {
    const { gw, http, poll } = await setup(kind, t, {
      handler: (_req, res) => {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad tensor"}');
      },
    });
    const r = await http.send(gw.url + INFER, { method: 'POST', headers: ASYNC, body: '{}' });
    const done = await poll(r.headers.location as string);
    assert.equal(done.status, 'failed');
    assert.deepEqual(done.result, { status: 400, contentType: 'application/json', body: { error: 'bad tensor' } });
  });

  test('an async OpenAI request may not stream', async (t) => {
    const { gw, http, poll } = await setup(kind, t, { route: { format: 'openai' } });
    const stream = await http.send(gw.url + '/v1/chat/completions', { method: 'POST', headers: ASYNC, body: JSON.stringify({ model: 'fraud', stream: true, messages: [] }) });
    assert.equal(stream.status, 400);
    assert.equal((stream.json() as { error: { code: string } }).error.code, 'async_stream_unsupported');
    const plain = await http.send(gw.url + '/v1/chat/completions', { method: 'POST', headers: ASYNC, body: JSON.stringify({ model: 'fraud', messages: [] }) });
    assert.equal(plain.status, 202);
    const done = await poll(plain.headers.location as string);
    assert.equal(done.status, 'succeeded');
  });
  });
}

test('a gateway without a job store answers job lookups with 404 and serves Prefer: respond-async synchronously', async (t) => {
  const replica = await startReplica((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"sync":true}'));
  const table = new InMemoryRoutingTable();
  table.replace([{ ...route('fraud', [revision('fraud-00001', 100, [replica.url])]), asyncEnabled: true }]);
  const gw = await startGateway({ routingTable: table, port: 0 });
  const http = httpClient();
  t.after(async () => {
    await http.close();
    await gw.close();
    await replica.close();
  });
  const lookup = await http.send(gw.url + '/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA');
  assert.equal(lookup.status, 404);
  assert.equal((lookup.json() as { error: { code: string } }).error.code, 'job_not_found');
  const r = await http.send(gw.url + INFER, { method: 'POST', headers: ASYNC, body: '{}' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['preference-applied'], undefined);
});

test('with its Redis job store unreachable the gateway still starts, and async requests get 503 with Retry-After', async (t) => {
  const replica = await startReplica((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  const table = new InMemoryRoutingTable();
  table.replace([{ ...route('fraud', [revision('fraud-00001', 100, [replica.url])]), asyncEnabled: true }]);
  const store = new RedisJobStore({ url: `redis://127.0.0.1:${await unusedPort()}`, clock: systemClock, consumer: 'gateway-0' });
  const gw = await startGateway({ routingTable: table, port: 0, jobs: { store, pollIntervalMs: 50 } });
  const http = httpClient();
  t.after(async () => {
    await http.close();
    await gw.close();
    await store.close();
    await replica.close();
  });
  const r = await http.send(gw.url + INFER, { method: 'POST', headers: ASYNC, body: '{}' });
  assert.equal(r.status, 503);
  assert.ok(Number(r.headers['retry-after']) > 0);
  assert.match((r.json() as { error: string }).error, /async jobs are unavailable/);
  // Synchronous traffic and metrics do not depend on the job store.
  assert.equal((await http.send(gw.url + INFER, { method: 'POST', body: '{}' })).status, 200);
  assert.equal((await http.send(gw.url + '/metrics')).status, 200);
});
