// A replica SIGKILLed with requests in flight: a closed loop of 64 callers over
// four real replica processes, one killed mid-load. Inference is idempotent, so
// every request the dead replica held, and every one sent to it before the
// control plane takes it out of the table, is retried: no caller sees a 502.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { childReplica } from './child-replica.ts';
import { answerWithName, gatewayFor, httpClient, metricValue, replica, revision, route, unusedPort } from '../server/test-support.ts';

const BODY = '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}';
const CONCURRENCY = 64;
/** Requests answered before the kill, before the table drops the victim, and in all. */
const KILL_AT = 600;
const UNLIST_AT = 3_600;
const TOTAL = 4_600;

test('SIGKILL of one of four replicas with 64 requests in flight: every request gets 200', async (t) => {
  // 10–30 ms per answer: about 16 requests sit in each replica at any moment.
  const replicas = await Promise.all([0, 1, 2, 3].map(() => childReplica(t, 20)));
  const urls = replicas.map((r) => r.url);
  const { gw, table } = await gatewayFor(t, [route('m', [revision('m-1', 100, urls)])]);
  const client = httpClient();
  t.after(() => client.close());
  const victim = replicas[1]!;

  let done = 0;
  const failures = new Map<string, number>();
  const note = (what: string): void => void failures.set(what, (failures.get(what) ?? 0) + 1);
  const caller = async (): Promise<void> => {
    while (done < TOTAL) {
      try {
        const r = await client.send(`${gw.url}/v2/models/m/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: BODY,
        });
        if (r.status !== 200) note(`${r.status} ${r.text()}`);
      } catch (err) {
        note(`client error ${(err as { code?: string }).code ?? (err as Error).message}`);
      }
      done++;
      if (done === KILL_AT) victim.child.kill('SIGKILL');
      // What the control plane does once it sees the replica gone; until then the gateway is on its own.
      if (done === UNLIST_AT) table.replace([route('m', [revision('m-1', 100, urls.filter((u) => u !== victim.url))])]);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, caller));

  const text = await gw.metrics();
  const retried = (reason: string): number => metricValue(text, 'karb_gateway_retries_total', `service="m",reason="${reason}"`);
  t.diagnostic(
    `${done} requests; retries connect ${retried('connect')}, reset ${retried('reset')}; ` +
      `budget refusals ${metricValue(text, 'karb_gateway_retry_budget_exhausted_total', 'service="m"')}`,
  );
  assert.equal(victim.child.signalCode, 'SIGKILL', 'the replica was killed during the run');
  assert.deepEqual(Object.fromEntries(failures), {}, 'every request was answered 200');
  assert.ok(retried('reset') + retried('connect') >= 1, 'requests the kill cut were retried');
});

test('a connection failure gets one retry outside the retry budget; a 503 and a second connection failure do not', async (t) => {
  const good = await replica(t, answerWithName('good'));
  const draining = await replica(t, (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end('{"error":"draining"}');
  });
  const dead = `http://127.0.0.1:${await unusedPort()}`;
  const deadToo = `http://127.0.0.1:${await unusedPort()}`;
  // A budget that allows nothing, and no ejection: every attempt picks among all endpoints.
  const { gw } = await gatewayFor(
    t,
    [
      route('one-dead', [revision('one-dead-1', 100, [dead, good.url])]),
      route('two-dead', [revision('two-dead-1', 100, [dead, deadToo, good.url])]),
      route('draining', [revision('draining-1', 100, [draining.url, good.url])]),
    ],
    { routing: { retryBudget: { maxBanked: 0, minConcurrent: 0 }, outlier: { consecutiveFailures: 1_000 } } },
  );
  const client = httpClient();
  t.after(() => client.close());
  const statuses = async (model: string, n: number): Promise<Map<number, number>> => {
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const r = await client.send(`${gw.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
      counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    }
    return counts;
  };
  const text = async (): Promise<string> => gw.metrics();

  assert.deepEqual(Object.fromEntries(await statuses('one-dead', 40)), { 200: 40 }, 'a refused connection is retried with no budget at all');
  assert.ok(metricValue(await text(), 'karb_gateway_retries_total', 'service="one-dead",reason="connect"') >= 1);

  // About one request in three meets both dead endpoints; the second refusal needs the budget.
  const twoDead = await statuses('two-dead', 60);
  assert.ok((twoDead.get(502) ?? 0) >= 1 && (twoDead.get(200) ?? 0) >= 1, `one free retry per request: ${JSON.stringify(Object.fromEntries(twoDead))}`);
  assert.ok(metricValue(await text(), 'karb_gateway_retry_budget_exhausted_total', 'service="two-dead"') >= 1);

  const drained = await statuses('draining', 30);
  assert.ok((drained.get(503) ?? 0) >= 1, `a 503 stays within the budget: ${JSON.stringify(Object.fromEntries(drained))}`);
  assert.equal(metricValue(await text(), 'karb_gateway_retries_total', 'service="draining",reason="status_503"'), 0);
});

test('a request on a kept-alive connection that the replica closes under it is retried, with no budget needed', async (t) => {
  // Answers the first request on each connection and drops the connection under the second:
  // the request was sent on a reused socket, and it closed before any response byte.
  const served = new WeakMap<Socket, number>();
  const closer = await replica(t, (_req, res) => {
    const socket = res.socket!;
    const n = (served.get(socket) ?? 0) + 1;
    served.set(socket, n);
    if (n > 1) {
      socket.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"replica":"closer"}');
  });
  const good = await replica(t, answerWithName('good'));
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [closer.url, good.url])])], {
    routing: { retryBudget: { maxBanked: 0, minConcurrent: 0 } },
  });
  const client = httpClient();
  t.after(() => client.close());
  for (let i = 0; i < 40; i++) {
    const r = await client.send(`${gw.url}/v2/models/m/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
    assert.equal(r.status, 200, r.text());
  }
  assert.ok(metricValue(await gw.metrics(), 'karb_gateway_retries_total', 'service="m",reason="reset"') >= 1, 'a dropped connection was met');
});
