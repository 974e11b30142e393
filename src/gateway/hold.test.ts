import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../util/clock.ts';
import { startGateway, type Gateway } from './gateway.ts';
import { ObservableRoutingTable } from './observable-routing-table.ts';
import { answerWithName, httpClient, revision, route, startReplica, waitFor, type FakeReplica } from './test-support.ts';
import type { Route } from './routing-table.ts';

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
      await waitFor(() => cold.length === i + 1, `request ${i} to be held`);
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
    await waitFor(() => cold.length === 1, 'the request to be held');
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
    await waitFor(() => cold.length === 2, 'two held requests');
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
