import { after, describe, it, type TestContext } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStore } from '../../control/key-store.ts';
import { StoreKeyResolver } from '../edge/key-resolver.ts';
import { systemClock } from '../../util/clock.ts';
import { SqliteJobStore } from './jobs/sqlite-store.ts';
import assert from 'node:assert/strict';
import { ManualClock } from '../../util/clock.ts';
import { startGateway, type Gateway } from '../server/gateway.ts';
import { ObservableRoutingTable } from '../discovery/observable-routing-table.ts';
import { answerWithName, httpClient, revision, route, startReplica, type FakeReplica } from '../server/test-support.ts';
import { waitFor } from '../../util/wait-for.ts';
import type { Route } from '../discovery/routing-table.ts';

async function setup(options: { maxHeld?: number; timeoutMs?: number } = {}) {
  const table = new ObservableRoutingTable();
  table.replace([route('cold', [revision('cold-00001', 100, [])])]);
  const clock = new ManualClock(1_000_000);
  const cold: Route[] = [];
  const gateway = await startGateway({
    routingTable: table,
    port: 0,
    clock,
    hold: {
      onTableChange: (l) => table.onReplace(l),
      onColdRequest: (r) => cold.push(r),
      timeoutMs: () => options.timeoutMs ?? 5_000,
      ...(options.maxHeld !== undefined ? { maxHeldPerService: options.maxHeld } : {}),
    },
  });
  return { table, clock, cold, gateway };
}

const heldGauge = async (gateway: Gateway) => /karb_gateway_held_requests\{service="cold"\} (\d+)/.exec(await gateway.metrics())?.[1];

describe('hold-while-cold', () => {
  const client = httpClient();
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await client.close();
  });

  it('holds requests while no replica is ready and releases them in order once one appears', async () => {
    const { table, cold, gateway } = await setup();
    cleanups.push(() => gateway.close());
    const replica: FakeReplica = await startReplica(answerWithName('r1'));
    cleanups.push(() => replica.close());

    const replies = [];
    for (const i of [0, 1, 2]) {
      replies.push(client.send(`${gateway.url}/v2/models/cold/infer`, { method: 'POST', body: `{"i":${i}}` }));
      await waitFor(`request ${i} to be held`, () => cold.length === i + 1);
    }
    assert.equal(await heldGauge(gateway), '3');
    assert.equal(cold[0]!.service, 'cold');

    table.replace([route('cold', [revision('cold-00001', 100, [replica.url])])]);
    const answers = await Promise.all(replies);
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200]);
    assert.deepEqual(replica.seen.map((s) => s.body.toString()), ['{"i":0}', '{"i":1}', '{"i":2}']);
    assert.equal(await heldGauge(gateway), '0');
  });

  it('answers 503 with Retry-After when no replica is ready within the hold time', async () => {
    const { clock, cold, gateway } = await setup({ timeoutMs: 2_000 });
    cleanups.push(() => gateway.close());
    const reply = client.send(`${gateway.url}/v2/models/cold/infer`, { method: 'POST', body: '{}' });
    await waitFor('the request to be held', () => cold.length === 1);
    clock.advance(1_999);
    assert.equal(await heldGauge(gateway), '1');
    clock.advance(1);
    const r = await reply;
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
    assert.match(String((r.json() as { error: string }).error), /no ready replica within 2000 ms/);
  });

  it('refuses with 503 beyond the cap of held requests', async () => {
    const { cold, gateway } = await setup({ maxHeld: 2 });
    cleanups.push(() => gateway.close());
    const held = [0, 1].map(() => client.send(`${gateway.url}/v2/models/cold/infer`, { method: 'POST', body: '{}' }));
    await waitFor('two held requests', () => cold.length === 2);
    const third = await client.send(`${gateway.url}/v2/models/cold/infer`, { method: 'POST', body: '{}' });
    assert.equal(third.status, 503);
    assert.ok(third.headers['retry-after']);
    assert.match(String((third.json() as { error: string }).error), /already holds 2 requests/);
    await gateway.close();
    for (const r of await Promise.all(held)) assert.equal(r.status, 503);
  });

  it('does not hold readiness checks: /ready answers 503 at once', async () => {
    const { cold, gateway } = await setup();
    cleanups.push(() => gateway.close());
    const r = await client.send(`${gateway.url}/v2/models/cold/ready`);
    assert.equal(r.status, 503);
    assert.equal(cold.length, 0);
  });
});

describe('hold-while-cold after the edge checks', () => {
  const client = httpClient();
  after(() => client.close());

  async function withEdge(t: TestContext, extra: Partial<Route> = {}, jobs = false) {
    const table = new ObservableRoutingTable();
    table.replace([{ ...route('cold', [revision('cold-00001', 100, [])]), namespace: 'payments', ...extra }, { ...route('other', [revision('other-00001', 100, [])]), namespace: 'payments' }]);
    const keys = new KeyStore(':memory:');
    const dir = mkdtempSync(join(tmpdir(), 'karb-hold-'));
    const store = jobs ? new SqliteJobStore(join(dir, 'jobs.db'), systemClock) : undefined;
    const cold: string[] = [];
    const gateway = await startGateway({
      routingTable: table,
      port: 0,
      edge: { keys: new StoreKeyResolver(keys) },
      hold: { onTableChange: (l) => table.onReplace(l), onColdRequest: (r) => cold.push(r.service), timeoutMs: () => 10_000 },
      ...(store ? { jobs: { store, pollIntervalMs: 20 } } : {}),
    });
    t.after(async () => {
      await gateway.close();
      keys.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { table, keys, cold, gateway };
  }

  it('never wakes a service for a key outside its scope: 403 at once', async (t) => {
    const { keys, cold, gateway } = await withEdge(t);
    const key = keys.create({ namespace: 'payments', services: ['other'] }).key;
    const r = await client.send(`${gateway.url}/v2/models/cold/infer`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: '{}' });
    assert.equal(r.status, 403);
    assert.deepEqual(cold, [], 'no activation for a refused request');
  });

  it('never wakes a service for a key over its rate limit: 429 at once', async (t) => {
    const { table, keys, cold, gateway } = await withEdge(t);
    const key = keys.create({ namespace: 'payments', rps: 1, burst: 1 }).key;
    const auth = { authorization: `Bearer ${key}` };
    const first = client.send(`${gateway.url}/v2/models/cold/infer`, { method: 'POST', headers: auth, body: '{}' });
    await waitFor('the first request to be held', () => cold.length === 1);
    const second = await client.send(`${gateway.url}/v2/models/cold/infer`, { method: 'POST', headers: auth, body: '{}' });
    assert.equal(second.status, 429);
    assert.equal(cold.length, 1, 'the limited request did not ask for a replica');
    const replica = await startReplica(answerWithName('r1'));
    t.after(() => replica.close());
    table.replace([{ ...route('cold', [revision('cold-00001', 100, [replica.url])]), namespace: 'payments' }]);
    assert.equal((await first).status, 200, 'the held request is answered by the replica that appeared');
  });

  it('queues an async request for a cold service at once (202) instead of holding it; its job runs once a replica is up', async (t) => {
    const { table, keys, cold, gateway } = await withEdge(t, { asyncEnabled: true, asyncMaxQueued: 10, asyncTtlMs: 60_000 }, true);
    const key = keys.create({ namespace: 'payments' }).key;
    const auth = { authorization: `Bearer ${key}` };
    const accepted = await client.send(`${gateway.url}/v2/models/cold/infer`, { method: 'POST', headers: { ...auth, prefer: 'respond-async', 'content-type': 'application/json' }, body: '{"x":1}' });
    assert.equal(accepted.status, 202);
    await waitFor('the job dispatch to ask for a replica', () => cold.length >= 1);
    const replica = await startReplica(answerWithName('r1'));
    t.after(() => replica.close());
    table.replace([{ ...route('cold', [revision('cold-00001', 100, [replica.url])]), namespace: 'payments', asyncEnabled: true, asyncMaxQueued: 10, asyncTtlMs: 60_000 }]);
    const location = String(accepted.headers.location);
    await waitFor('the job to succeed', async () => ((await client.send(`${gateway.url}${location}`, { headers: auth })).json() as { status: string }).status === 'succeeded');
    assert.equal(replica.seen.length, 1);
    assert.equal(replica.seen[0]!.body.toString(), '{"x":1}');
  });
});
