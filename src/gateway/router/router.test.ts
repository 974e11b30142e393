// The router end to end: real gateway, real node:http replicas on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import type { Gateway } from '../server/gateway.ts';
import { DEFAULT_RETRY_BUDGET_MAX_BANKED } from './retry-budget.ts';
import {
  answerWithName,
  httpClient,
  revision,
  route,
  runConcurrently,
  unusedPort,
  type ReplicaHandler,
  gatewayFor,
  replica,
  metricValue,
} from '../server/test-support.ts';
import { waitFor } from '../../util/wait-for.ts';

const client = httpClient();
test.after(() => client.close());

const INFER_BODY = '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}';

/** An inference whose body carries a tag the replica can read back. */
function tagged(gw: Gateway, model: string, n: string) {
  return client.send(`${gw.url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ n }),
  });
}

function infer(gw: Gateway, model: string, headers: Record<string, string> = {}) {
  return client.send(`${gw.url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: INFER_BODY,
  });
}

const draining: ReplicaHandler = (_req, res) => {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
  res.end('{"error":"draining"}');
};


test('a connect error is retried on another endpoint, with the same body', async (t) => {
  const good = await replica(t, answerWithName('good'));
  const dead = `http://127.0.0.1:${await unusedPort()}`;
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [dead, good.url])])]);
  for (let i = 0; i < 30; i++) {
    const r = await infer(gw, 'm');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { replica: 'good' });
  }
  assert.ok(good.seen.every((s) => s.body.toString() === INFER_BODY), 'the replayed body is byte-exact');
  const text = await gw.metrics();
  assert.ok(metricValue(text, 'karb_gateway_retries_total', 'service="m",reason="connect"') >= 1);
});

test('a 503 from a draining replica is retried on another endpoint', async (t) => {
  const drain = await replica(t, draining);
  const good = await replica(t, answerWithName('good'));
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [drain.url, good.url])])]);
  for (let i = 0; i < 30; i++) assert.equal((await infer(gw, 'm')).status, 200);
  assert.ok(drain.seen.length >= 1, 'the draining replica was tried');
  assert.equal(good.seen.length, 30);
  assert.ok(metricValue(await gw.metrics(), 'karb_gateway_retries_total', 'service="m",reason="status_503"') >= 1);
});

test('the retry budget bounds attempts when every replica answers 503', async (t) => {
  const a = await replica(t, draining);
  const b = await replica(t, draining);
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [a.url, b.url])])]);
  const requests = 500;
  let refused = 0;
  await runConcurrently(requests, 20, async () => {
    if ((await infer(gw, 'm')).status === 503) refused++;
  });
  assert.equal(refused, requests, 'every caller gets the 503');
  const attempts = a.seen.length + b.seen.length;
  const floor = DEFAULT_RETRY_BUDGET_MAX_BANKED;
  t.diagnostic(`attempts per request under total failure: ${(attempts / requests).toFixed(3)}`);
  assert.ok(attempts <= 1.2 * requests + floor, `attempts ${attempts} ≤ 1.2 × ${requests} + ${floor}`);
  assert.ok(attempts > requests, 'some retries were made');
  const text = await gw.metrics();
  assert.ok(metricValue(text, 'karb_gateway_retry_budget_exhausted_total', 'service="m"') > 0, 'the budget ran out');
});

test('consecutive failures eject an endpoint, never more than half of them', async (t) => {
  const failing: ReplicaHandler = (_req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"error":"broken"}');
  };
  const bad = await replica(t, failing);
  const goods = [await replica(t, answerWithName('g1')), await replica(t, answerWithName('g2')), await replica(t, answerWithName('g3'))];
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [bad.url, ...goods.map((g) => g.url)])])], {
    routing: { outlier: { consecutiveFailures: 3 } },
  });
  await waitFor('three failures at the bad replica', async () => {
    await infer(gw, 'm');
    return bad.seen.length >= 3;
  });
  const before = bad.seen.length;
  for (let i = 0; i < 60; i++) assert.equal((await infer(gw, 'm')).status, 200, 'an ejected endpoint gets no traffic');
  assert.equal(bad.seen.length, before);
  let text = await gw.metrics();
  assert.equal(metricValue(text, 'karb_gateway_ejections_total', 'service="m"'), 1);
  assert.equal(metricValue(text, 'karb_gateway_ejected_endpoints', 'service="m"'), 1);

  // All four failing: at most two are ejected; the others keep their share.
  const all = [await replica(t, failing), await replica(t, failing), await replica(t, failing), await replica(t, failing)];
  const second = await gatewayFor(t, [route('n', [revision('n-1', 100, all.map((r) => r.url))])], {
    routing: { outlier: { consecutiveFailures: 2 } },
  });
  for (let i = 0; i < 80; i++) assert.equal((await infer(second.gw, 'n')).status, 500);
  text = await second.gw.metrics();
  assert.equal(metricValue(text, 'karb_gateway_ejections_total', 'service="n"'), 2);
  assert.equal(metricValue(text, 'karb_gateway_ejected_endpoints', 'service="n"'), 2);
  const lastTen = all.map((r) => r.seen.length);
  for (let i = 0; i < 20; i++) await infer(second.gw, 'n');
  const served = all.filter((r, i) => r.seen.length > lastTen[i]!).length;
  assert.equal(served, 2, 'exactly the two endpoints not ejected keep answering');
});

test('no ready endpoint or spent retries fall back one level, with x-karb-fallback', async (t) => {
  const backup = await replica(t, answerWithName('backup'));
  const third = await replica(t, answerWithName('third'));
  const drain = await replica(t, draining);
  const { gw } = await gatewayFor(t, [
    { ...route('empty', [revision('empty-1', 100, [])]), fallback: ['missing', 'backup'] },
    { ...route('sick', [revision('sick-1', 100, [drain.url])]), fallback: ['backup'] },
    { ...route('backup', [revision('backup-1', 100, [backup.url])]), fallback: ['third'] },
    { ...route('third', [revision('third-1', 100, [third.url])]) },
    { ...route('chain', [revision('chain-1', 100, [])]), fallback: ['empty'] },
  ], { routing: { outlier: { consecutiveFailures: 1000 } } });

  const r = await infer(gw, 'empty');
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-karb-fallback'], 'backup');
  assert.deepEqual(r.json(), { replica: 'backup' });

  const sick = await infer(gw, 'sick');
  assert.equal(sick.status, 200, 'after its retries the sick service falls back');
  assert.equal(sick.headers['x-karb-fallback'], 'backup');
  assert.equal(drain.seen.length, 3, 'the first try and two retries went to the primary');

  const direct = await infer(gw, 'backup');
  assert.equal(direct.headers['x-karb-fallback'], undefined, 'a healthy service answers itself');

  const chain = await infer(gw, 'chain');
  assert.equal(chain.status, 503, "a fallback's own fallback is never used");
  assert.equal(third.seen.length, 0);
  assert.ok(metricValue(await gw.metrics(), 'karb_gateway_fallbacks_total', 'service="empty",fallback="backup"') === 1);
});

test('x-karb-session pins a session to one revision', async (t) => {
  const stable = await replica(t, answerWithName('stable'));
  const canary = await replica(t, answerWithName('canary'));
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 50, [stable.url]), revision('m-2', 50, [canary.url])])]);
  const bySession = new Map<string, Set<string>>();
  await runConcurrently(200, 10, async (i) => {
    const session = `s-${i % 40}`;
    const r = await infer(gw, 'm', { 'x-karb-session': session });
    const set = bySession.get(session) ?? new Set<string>();
    set.add(String(r.headers['x-karb-revision']));
    bySession.set(session, set);
  });
  for (const [session, revisions] of bySession) assert.equal(revisions.size, 1, `${session} saw ${[...revisions].join(', ')}`);
  const onCanary = [...bySession.values()].filter((s) => s.has('m-2')).length;
  assert.ok(onCanary >= 8 && onCanary <= 32, `sessions split about evenly, ${onCanary} of 40 on the canary`);
});

test('the endpoint pick avoids a replica that reports a long queue', async (t) => {
  const busy = await replica(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-karb-queue-depth': '50' });
    res.end('{"replica":"busy"}');
  });
  const idle = await replica(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-karb-queue-depth': '0' });
    res.end('{"replica":"idle"}');
  });
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [busy.url, idle.url])])], {
    routing: { queueDepthStaleMs: 60_000 },
  });
  for (let i = 0; i < 50; i++) assert.equal((await infer(gw, 'm')).status, 200);
  assert.ok(busy.seen.length <= 1, `the busy replica got ${busy.seen.length} of 50 (only before its first report)`);
});

test('per-try timeout moves a stuck attempt on; the deadline ends with 504', async (t) => {
  const stuck = await replica(t, () => {});
  const good = await replica(t, answerWithName('good'));
  const { gw } = await gatewayFor(t, [
    route('m', [revision('m-1', 100, [stuck.url, good.url])]),
    route('s', [revision('s-1', 100, [stuck.url])]),
  ], { routing: { perTryTimeoutMs: 150, deadlineMs: 2_000 } });
  // The split between the two endpoints is random: send until an attempt has landed on the stuck
  // one and timed out (six requests missed it about once in six runs), every answer a 200.
  for (let i = 0; i < 50 && !(metricValue(await gw.metrics(), 'karb_gateway_retries_total', 'service="m",reason="timeout"') >= 1); i++) {
    assert.equal((await infer(gw, 'm')).status, 200);
  }
  assert.ok(metricValue(await gw.metrics(), 'karb_gateway_retries_total', 'service="m",reason="timeout"') >= 1);

  const second = await gatewayFor(t, [route('s', [revision('s-1', 100, [stuck.url])])], { routing: { deadlineMs: 300 } });
  const r = await infer(second.gw, 's');
  assert.equal(r.status, 504);
  assert.match(String((r.json() as { error: string }).error), /request deadline of 300 ms/);
});

test('backpressure: requests wait for a free slot in order; past the bound 503, or 429 with async', async (t) => {
  const held: ServerResponse[] = [];
  const order: string[] = [];
  const holding: ReplicaHandler = (req, res) => {
    order.push(String((JSON.parse(req.body.toString()) as { n: string }).n));
    held.push(res);
  };
  const slow = await replica(t, holding);
  const slowToo = await replica(t, holding);
  const target = { concurrencyLimit: 2 };
  const { gw } = await gatewayFor(t, [
    { ...route('m', [revision('m-1', 100, [slow.url])]), ...target },
    { ...route('a', [revision('a-1', 100, [slowToo.url])]), ...target, asyncEnabled: true },
  ], { routing: { queueBound: 3 } });
  const replies = [0, 1, 2, 3, 4].map((n) => tagged(gw, 'm', String(n)));
  await waitFor('two in flight and three waiting', () => held.length === 2 && gw.queueDepth('m') === 3);
  assert.match(await gw.metrics(), /karb_gateway_queue_depth\{service="m"\} 3/);

  const over = await tagged(gw, 'm', 'over');
  assert.equal(over.status, 503);
  assert.equal(over.headers['retry-after'], '1');
  assert.match((over.json() as { error: string }).error, /wait queue is full/);

  const asyncReplies = [0, 1, 2, 3, 4].map((n) => tagged(gw, 'a', `a${n}`));
  await waitFor('the async service queue to fill', () => held.length === 4 && gw.queueDepth('a') === 3);
  const hinted = await tagged(gw, 'a', 'a-over');
  assert.equal(hinted.status, 429);
  assert.match((hinted.json() as { error: string }).error, /Prefer: respond-async/);

  // Free the slots as they fill: the waiting requests go in arrival order.
  await waitFor('every queued request to reach its replica', () => {
    while (held.length > 0) {
      const res = held.shift()!;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    }
    return order.length === 10;
  });
  for (const r of [...(await Promise.all(replies)), ...(await Promise.all(asyncReplies))]) assert.equal(r.status, 200);
  assert.deepEqual(order.filter((n) => !n.startsWith('a')), ['0', '1', '2', '3', '4']);
  assert.deepEqual(order.filter((n) => n.startsWith('a')), ['a0', 'a1', 'a2', 'a3', 'a4']);
  assert.equal(gw.queueDepth('m'), 0);
  assert.match(await gw.metrics(), /karb_gateway_queue_rejected_total\{service="a",code="429"\} 1/);
});
