// Each request's SLI outcome, reported once from the exchange's finish (sli-sink.ts): real gateway,
// real node:http replicas on loopback, and the counters the guard after promotion reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from './gateway.ts';
import { answerWithName, gatewayFor, httpClient, metricValue, replica, revision, route, type ReplicaHandler } from './test-support.ts';
import { RevisionCounters } from '../../observability/revision-counters.ts';
import { KeyStore } from '../../control/key-store.ts';
import { StoreKeyResolver } from '../edge/key-resolver.ts';
import { waitFor } from '../../util/wait-for.ts';

const client = httpClient();
test.after(() => client.close());

const BODY = '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}';

function infer(gw: Gateway, model: string, headers: Record<string, string> = {}) {
  return client.send(`${gw.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: BODY });
}

const unavailable: ReplicaHandler = (_req, res) => {
  res.writeHead(503, { 'content-type': 'application/json' });
  res.end('{"error":"draining"}');
};

const total = (bins: Uint32Array) => bins.reduce((a, b) => a + b, 0);

test('a request whose failed attempt a retry fixed counts once, as good; analysis still sees the failed attempt', async (t) => {
  const bad = await replica(t, unavailable);
  const good = await replica(t, answerWithName('good'));
  const counters = new RevisionCounters();
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [bad.url, good.url])])], { signals: counters, sli: counters });
  const n = 20;
  for (let i = 0; i < n; i++) assert.equal((await infer(gw, 'm')).status, 200);
  assert.ok(bad.seen.length >= 1, 'some request was retried');
  // The outcome is reported when the response closes, which may come after the caller has read it.
  await waitFor('every request counted', () => counters.sliSnapshot('m-1').requests === n);
  const sli = counters.sliSnapshot('m-1');
  assert.equal(sli.serverErrors, 0, 'the caller saw no error');
  assert.equal(total(sli.answered), n);
  await waitFor('every attempt counted', () => counters.snapshot('m-1').requests === n + bad.seen.length);
  assert.equal(counters.snapshot('m-1').errors, bad.seen.length, 'each 503 attempt still counts for analysis');
  assert.equal(metricValue(await gw.metrics(), 'karb_gateway_requests_total', 'service="m",revision="m-1",code="200"'), n, 'as the Prometheus series count');
});

test('a 503 the gateway makes itself (no ready endpoint) counts against the service’s main revision', async (t) => {
  const counters = new RevisionCounters();
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 10, []), revision('m-2', 90, [])])], { signals: counters, sli: counters });
  assert.equal((await infer(gw, 'm')).status, 503);
  await waitFor('the request counted', () => counters.sliSnapshot('m-2').requests === 1);
  assert.equal(counters.sliSnapshot('m-2').serverErrors, 1);
  assert.equal(counters.sliSnapshot('m-1').requests, 0, 'counted once, against the revision with most traffic');
  assert.equal(counters.snapshot('m-2').requests, 0, 'no attempt reached a replica');
});

test('the caller’s own rate limit is outside the SLIs; the service’s own limit sheds load and counts', async (t) => {
  const r = await replica(t, answerWithName('r'));
  const keys = new KeyStore(':memory:');
  t.after(() => keys.close());
  const counters = new RevisionCounters();
  const routes = [
    route('tenant', [revision('tenant-1', 100, [r.url])]),
    { ...route('capped', [revision('capped-1', 100, [r.url])]), rateLimit: { requestsPerSecond: 0.001, burst: 1 } },
  ];
  const { gw } = await gatewayFor(t, routes, { signals: counters, sli: counters, edge: { keys: new StoreKeyResolver(keys) } });
  const key = { authorization: `Bearer ${keys.create({ namespace: 'default', rps: 0.001, burst: 1 }).key}` };
  const other = { authorization: `Bearer ${keys.create({ namespace: 'default' }).key}` };
  assert.deepEqual([(await infer(gw, 'tenant', key)).status, (await infer(gw, 'tenant', key)).status, (await infer(gw, 'tenant', key)).status], [200, 429, 429]);
  assert.deepEqual([(await infer(gw, 'capped', other)).status, (await infer(gw, 'capped', other)).status], [200, 429]);
  // The exchange's finish counts the Prometheus series and reports the SLI outcome together: wait for the former.
  const text = await waitFor('every request counted', async () => {
    const m = await gw.metrics();
    const counted = (labels: string) => metricValue(m, 'karb_gateway_requests_total', labels);
    return counted('service="tenant",revision="tenant-1",code="200"') === 1 && counted('service="tenant",revision="",code="429"') === 2 && counted('service="capped",revision="",code="429"') === 1 ? m : undefined;
  });
  assert.equal(metricValue(text, 'karb_gateway_requests_outside_sli_total', 'service="tenant",revision=""'), 2, 'the rules subtract these');
  assert.equal(metricValue(text, 'karb_gateway_requests_outside_sli_total', 'service="capped",revision=""'), 0);
  assert.equal(counters.sliSnapshot('tenant-1').requests, 1, 'the tenant’s refusals are in neither SLI');
  const capped = counters.sliSnapshot('capped-1');
  assert.deepEqual([capped.requests, capped.serverErrors, total(capped.answered)], [2, 0, 1], 'shed by the service’s limit: not answered, so bad for latency');
});
