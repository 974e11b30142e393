/**
 * Async jobs through a real gateway on loopback: 202 + Location, polling to the
 * replica's answer, visibility only to the creating key, queue bound, errors,
 * listing and cancelling one's own jobs.
 */
import { after, before, describe, it as test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { startGateway, type GatewayOptions } from '../../server/gateway.ts';
import { InMemoryRoutingTable, type Route } from '../../discovery/routing-table.ts';
import { httpClient, revision, route, startReplica, unusedPort, type ReplicaHandler } from '../../server/test-support.ts';
import { waitFor } from '../../../util/wait-for.ts';
import { KeyStore } from '../../../control/key-store.ts';
import { StoreKeyResolver } from '../../edge/key-resolver.ts';
import { systemClock } from '../../../util/clock.ts';
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

async function setup(
  kind: StoreKind,
  t: TestContext,
  options: { handler?: ReplicaHandler; route?: Partial<Route>; auth?: boolean; gateway?: Partial<GatewayOptions>; concurrency?: number } = {},
) {
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
    jobs: { store, pollIntervalMs: 20, concurrency: options.concurrency ?? 4 },
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
    await waitFor(`job ${location} to finish`, async () => {
      const r = await http.send(gw.url + location, { headers });
      last = r.json() as typeof last;
      return last!.status !== 'queued' && last!.status !== 'running';
    });
    return last!;
  };
  const newKey = () => ({ authorization: `Bearer ${keys.create({ namespace: 'default' }).key}` });
  return { gw, http, replica, keys, store, poll, newKey };
}

/** A replica that keeps every request waiting until `release()`, then answers 200 echoing the body at once. */
function heldReplica() {
  const waiting: Array<{ body: string; res: ServerResponse }> = [];
  let hold = true;
  const answer = (body: string, res: ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body }));
  return {
    waiting,
    handler: ((req, res) => {
      if (hold) waiting.push({ body: req.body.toString(), res });
      else answer(req.body.toString(), res);
    }) as ReplicaHandler,
    release(): void {
      hold = false;
      for (const w of waiting.splice(0)) answer(w.body, w.res);
    },
  };
}

interface JobView {
  id: string;
  status: string;
  result?: { status: number; contentType: string; body?: unknown };
}
interface JobList {
  object: string;
  data: JobView[];
  has_more: boolean;
  next: string | null;
}
interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: string };
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

    await waitFor('both jobs to reach the replica', () => waiting.length === 2);
    hold = false;
    for (const res of waiting) res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    for (const r of [a, b]) assert.equal((await poll(r.headers.location as string)).status, 'succeeded');
    assert.equal((await send()).status, 202);

    const metrics = await gw.metrics();
    assert.match(metrics, /karb_gateway_async_jobs_total\{service="fraud",outcome="accepted"\} 3/);
    assert.match(metrics, /karb_gateway_async_jobs_total\{service="fraud",outcome="rejected"\} 1/);
    assert.match(metrics, /karb_gateway_async_jobs_stored\{state="succeeded"\} [23]/);
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

  test("GET /v1/jobs lists only the caller's jobs, newest first, a page at a time, filtered by status", async (t) => {
    const { gw, http, poll, newKey } = await setup(kind, t, {
      auth: true,
      handler: (req, res) => {
        const fail = req.body.toString().includes('fail');
        res.writeHead(fail ? 400 : 200, { 'content-type': 'application/json' }).end(fail ? '{"error":"bad"}' : '{"ok":true}');
      },
    });
    const [alice, bob] = [newKey(), newKey()];
    const create = async (key: Record<string, string>, body: string) => {
      const r = await http.send(gw.url + INFER, { method: 'POST', headers: { ...ASYNC, ...key }, body });
      assert.equal(r.status, 202, r.text());
      const id = (r.json() as { id: string }).id;
      await poll(`/v1/jobs/${id}`, key);
      return id;
    };
    const list = async (key: Record<string, string>, query = '') => {
      const r = await http.send(`${gw.url}/v1/jobs${query}`, { headers: key });
      assert.equal(r.status, 200, r.text());
      return r.json() as JobList;
    };
    const a0 = await create(alice, '{"n":0}');
    const b0 = await create(bob, '{"n":0}');
    const a1 = await create(alice, '{"fail":true}');
    const a2 = await create(alice, '{"n":2}');

    const all = await list(alice);
    assert.equal(all.object, 'list');
    assert.deepEqual(all.data.map((j) => j.id), [a2, a1, a0]);
    assert.deepEqual([all.has_more, all.next], [false, null]);
    // The view of GET /v1/jobs/{id}, without the result body.
    assert.deepEqual(all.data[1]!.result, { status: 400, contentType: 'application/json' });
    const { result: read, ...readRest } = (await http.send(`${gw.url}/v1/jobs/${a1}`, { headers: alice })).json() as JobView;
    const { result: listed, ...listedRest } = all.data[1]!;
    assert.deepEqual(listedRest, readRest);
    assert.deepEqual(read, { ...listed, body: { error: 'bad' } });

    const first = await list(alice, '?limit=2');
    assert.deepEqual(first.data.map((j) => j.id), [a2, a1]);
    assert.equal(first.has_more, true);
    assert.equal(typeof first.next, 'string');
    // A job created between pages does not move the next one.
    const a3 = await create(alice, '{"n":3}');
    const second = await list(alice, `?limit=2&after=${encodeURIComponent(first.next!)}`);
    assert.deepEqual(second.data.map((j) => j.id), [a0]);
    assert.deepEqual([second.has_more, second.next], [false, null]);

    assert.deepEqual((await list(alice, '?status=failed')).data.map((j) => j.id), [a1]);
    assert.deepEqual((await list(alice, '?status=succeeded')).data.map((j) => j.id), [a3, a2, a0]);
    assert.deepEqual((await list(alice, '?status=queued')).data, []);
    assert.deepEqual((await list(bob)).data.map((j) => j.id), [b0]);
    assert.equal((await http.send(`${gw.url}/v1/jobs`)).status, 401);
  });

  test('DELETE /v1/jobs/{id} cancels a queued job, and the replica never receives it', async (t) => {
    const held = heldReplica();
    const { gw, http, poll, replica } = await setup(kind, t, { handler: held.handler, concurrency: 1 });
    const send = (body: string) => http.send(gw.url + INFER, { method: 'POST', headers: ASYNC, body });
    const busy = await send('first');
    await waitFor('the first job to reach the replica', () => held.waiting.length === 1);
    // The one worker slot is taken, so this one waits in the queue.
    const queued = (await send('second')).headers.location as string;
    assert.equal(((await http.send(gw.url + queued)).json() as JobView).status, 'queued');

    const cancel = await http.send(gw.url + queued, { method: 'DELETE' });
    assert.equal(cancel.status, 200, cancel.text());
    const view = cancel.json() as JobView;
    assert.equal(view.status, 'cancelled');
    assert.equal(`/v1/jobs/${view.id}`, queued);
    assert.equal(view.result, undefined);
    assert.equal(((await http.send(gw.url + queued)).json() as JobView).status, 'cancelled');
    assert.deepEqual(((await http.send(`${gw.url}/v1/jobs?status=cancelled`)).json() as JobList).data.map((j) => j.id), [view.id]);

    held.release();
    assert.equal((await poll(busy.headers.location as string)).status, 'succeeded');
    // Claims go oldest first: had the cancelled job still been runnable, it would have run before this one.
    assert.equal((await poll((await send('third')).headers.location as string)).status, 'succeeded');
    assert.deepEqual(replica.seen.map((r) => r.body.toString()), ['first', 'third']);
    assert.equal(((await http.send(gw.url + queued)).json() as JobView).status, 'cancelled');
    assert.match(await gw.metrics(), /karb_gateway_async_jobs_total\{service="fraud",outcome="cancelled"\} 1/);
    assert.match(await gw.metrics(), /karb_gateway_async_jobs_stored\{state="cancelled"\} 1/);
  });

  test('DELETE /v1/jobs/{id} on a running job: it stays cancelled when the replica answers later', async (t) => {
    const held = heldReplica();
    const { gw, http, poll } = await setup(kind, t, { handler: held.handler, concurrency: 1 });
    const send = (body: string) => http.send(gw.url + INFER, { method: 'POST', headers: ASYNC, body });
    const running = (await send('slow')).headers.location as string;
    await waitFor('the job to reach the replica', () => held.waiting.length === 1);
    assert.equal(((await http.send(gw.url + running)).json() as JobView).status, 'running');

    const cancel = await http.send(gw.url + running, { method: 'DELETE' });
    assert.equal(cancel.status, 200, cancel.text());
    assert.equal((cancel.json() as JobView).status, 'cancelled');

    held.release(); // the replica did the work after all (at-least-once); its answer is discarded
    // With one worker slot, the next job runs only once the worker is done with the cancelled one.
    assert.equal((await poll((await send('next')).headers.location as string)).status, 'succeeded');
    const after = (await http.send(gw.url + running)).json() as JobView;
    assert.equal(after.status, 'cancelled');
    assert.equal(after.result, undefined);
    const metrics = await gw.metrics();
    assert.match(metrics, /karb_gateway_async_jobs_total\{service="fraud",outcome="cancelled"\} 1/);
    assert.match(metrics, /karb_gateway_async_jobs_total\{service="fraud",outcome="succeeded"\} 1/);
  });

  test("cancelling a finished job is a 409 naming its state; another key's job is the same 404 as an unknown id", async (t) => {
    const held = heldReplica();
    const { gw, http, poll, newKey } = await setup(kind, t, { auth: true, handler: held.handler });
    const [alice, bob] = [newKey(), newKey()];
    const job = (await http.send(gw.url + INFER, { method: 'POST', headers: { ...ASYNC, ...alice }, body: '{}' })).headers.location as string;
    await waitFor('the job to reach the replica', () => held.waiting.length === 1);

    const asBob = await http.send(gw.url + job, { method: 'DELETE', headers: bob });
    const unknown = await http.send(gw.url + '/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA', { method: 'DELETE', headers: alice });
    const malformed = await http.send(gw.url + '/v1/jobs/nope', { method: 'DELETE', headers: alice });
    for (const reply of [asBob, unknown, malformed]) {
      assert.equal(reply.status, 404);
      assert.equal((reply.json() as OpenAIError).error.code, 'job_not_found');
    }
    assert.equal(asBob.text(), unknown.text());
    assert.equal(((await http.send(gw.url + job, { headers: alice })).json() as JobView).status, 'running');
    assert.equal((await http.send(gw.url + job, { method: 'DELETE' })).status, 401);

    held.release();
    assert.equal((await poll(job, alice)).status, 'succeeded');
    const late = await http.send(gw.url + job, { method: 'DELETE', headers: alice });
    assert.equal(late.status, 409);
    const err = (late.json() as OpenAIError).error;
    assert.equal(err.code, 'job_already_finished');
    assert.match(err.message, /already succeeded/);
    assert.equal(((await http.send(gw.url + job, { headers: alice })).json() as JobView).status, 'succeeded');
  });

  test('a bad status, limit or after is a 400 naming the parameter; other methods are a 405', async (t) => {
    const { gw, http } = await setup(kind, t);
    const cases: Array<[string, string, RegExp]> = [
      ['?status=done', 'status', /queued, running, succeeded, failed, expired, cancelled/],
      ['?status=', 'status', /status must be one of/],
      ['?status=queued&status=running', 'status', /at most once/],
      ['?limit=0', 'limit', /from 1 to 100/],
      ['?limit=101', 'limit', /from 1 to 100/],
      ['?limit=ten', 'limit', /from 1 to 100/],
      ['?after=bogus', 'after', /'next' value of a previous page/],
    ];
    for (const [query, param, message] of cases) {
      const r = await http.send(`${gw.url}/v1/jobs${query}`);
      assert.equal(r.status, 400, query);
      const err = (r.json() as OpenAIError).error;
      assert.equal(err.code, 'invalid_job_query', query);
      assert.equal(err.param, param, query);
      assert.match(err.message, message, query);
    }
    const post = await http.send(`${gw.url}/v1/jobs`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET');
    const put = await http.send(`${gw.url}/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA`, { method: 'PUT', body: '{}' });
    assert.equal(put.status, 405);
    assert.equal(put.headers.allow, 'GET, DELETE');
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
  assert.equal((await http.send(gw.url + '/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA', { method: 'DELETE' })).status, 404);
  const list = await http.send(gw.url + '/v1/jobs');
  assert.equal(list.status, 200);
  assert.deepEqual(list.json(), { object: 'list', data: [], has_more: false, next: null });
  assert.equal((await http.send(gw.url + '/v1/jobs?limit=0')).status, 400);
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
  assert.match(await gw.metrics(), /karb_gateway_requests_total/);
});
