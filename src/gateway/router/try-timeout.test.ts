// The per-try timeout a route carries (derived from its SLO) and timeouts as
// evidence for ejection: a hung replica costs a request one try, not its
// deadline, and stops getting traffic after two of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childReplica } from './child-replica.ts';
import { OutlierDetector } from './outlier.ts';
import { perTryTimeoutForSlo } from '../discovery/routing-table.ts';
import { gatewayFor, httpClient, metricValue, replica, revision, route, runConcurrently } from '../server/test-support.ts';

const BODY = '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}';

test('the per-try timeout is 4 × the p95 target, never under 1 s', () => {
  const cases: Array<[p95Ms: number, want: number, why: string]> = [
    [250, 1_000, 'the default SLO: 4 × 250 ms'],
    [2_000, 8_000, 'a slow model gets a long try'],
    [400, 1_600, '4 × the target'],
    [100, 1_000, 'a tight target is floored at 1 s'],
    [0.5, 1_000, 'a tiny target too'],
    [333.3, 1_334, 'whole milliseconds, rounded up'],
  ];
  for (const [p95, want, why] of cases) assert.equal(perTryTimeoutForSlo(p95), want, why);
});

test('per-try timeouts eject after two without a success between; other failures after five', () => {
  const urls = ['a', 'b', 'c', 'd'];
  const od = new OutlierDetector();
  assert.deepEqual(od.recordFailure('a', urls, 0, true), { ejected: false, reason: 'BelowThreshold' });
  od.recordSuccess('a', 0);
  assert.equal(od.recordFailure('a', urls, 0, true).ejected, false, 'a success between two timeouts forgives the first');
  assert.equal(od.recordFailure('a', urls, 0).ejected, false, 'a 5xx between them does not');
  assert.deepEqual(od.recordFailure('a', urls, 0, true), { ejected: true, reason: 'ConsecutiveTimeouts', forMs: 30_000 });
  for (let i = 0; i < 4; i++) assert.equal(od.recordFailure('b', urls, 0).ejected, false, `failure ${i + 1} of b is not a timeout`);
  assert.deepEqual(od.recordFailure('b', urls, 0), { ejected: true, reason: 'ConsecutiveFailures', forMs: 30_000 });
  // The half cap holds for timeouts too: a fleet-wide slowdown never ejects more than half.
  od.recordFailure('c', urls, 0, true);
  assert.equal(od.recordFailure('c', urls, 0, true).reason, 'MaxEjectedShare');
  assert.equal(new OutlierDetector({ consecutiveTimeouts: 3 }).recordFailure('x', urls, 0, true).ejected, false);
});

test("the route's per-try timeout bounds a try; the gateway's routing.perTryTimeoutMs overrides it", async (t) => {
  const stuck = await replica(t, () => {});
  const stuckRoute = { ...route('m', [revision('m-1', 100, [stuck.url])]), perTryTimeoutMs: 200 };
  const client = httpClient();
  t.after(() => client.close());
  const infer = (url: string) => client.send(`${url}/v2/models/m/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
  // No other replica and no retries: the caller sees which bound ended the try.
  const byRoute = await gatewayFor(t, [stuckRoute], { routing: { deadlineMs: 10_000, maxRetries: 0 } });
  const r1 = await infer(byRoute.gw.url);
  assert.equal(r1.status, 504);
  assert.match(r1.text(), /did not answer within 200 ms/);

  const byOption = await gatewayFor(t, [stuckRoute], { routing: { deadlineMs: 10_000, maxRetries: 0, perTryTimeoutMs: 100 } });
  const r2 = await infer(byOption.gw.url);
  assert.equal(r2.status, 504);
  assert.match(r2.text(), /did not answer within 100 ms/);

  const unset = await gatewayFor(t, [{ ...stuckRoute, perTryTimeoutMs: 0 }], { routing: { deadlineMs: 300, maxRetries: 0 } });
  const r3 = await infer(unset.gw.url);
  assert.equal(r3.status, 504);
  assert.match(r3.text(), /request deadline of 300 ms/, 'a route without a usable per-try timeout has only the deadline');
});

test('a hung replica (SIGSTOP) costs its requests one try: retried on the other replica, then ejected', async (t) => {
  const hung = await childReplica(t);
  const healthy = await childReplica(t);
  // The SLO of the examples (p95 250 ms) → 1 s per try; the deadline is far longer than every try together.
  const slo = { ...route('m', [revision('m-1', 100, [hung.url, healthy.url])]), perTryTimeoutMs: perTryTimeoutForSlo(250) };
  const { gw } = await gatewayFor(t, [slo], { routing: { deadlineMs: 10_000 } });
  const client = httpClient();
  t.after(() => client.close());
  const answers: Array<{ status: number; pid?: number }> = [];
  const infer = async (): Promise<void> => {
    const r = await client.send(`${gw.url}/v2/models/m/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
    answers.push({ status: r.status, ...(r.status === 200 ? { pid: (r.json() as { pid: number }).pid } : {}) });
  };
  // Both replicas served (keep-alive connections open to each), then one hangs.
  await runConcurrently(20, 4, infer);
  assert.ok(answers.some((a) => a.pid === hung.pid), 'the replica to hang served before');
  hung.child.kill('SIGSTOP');
  answers.length = 0;

  const metric = async (name: string, labels: string): Promise<number> => metricValue(await gw.metrics(), name, labels);
  // Four callers at a time until the endpoint is out: each request that went to it waited one try.
  const allOk = (): boolean => answers.every((a) => a.status === 200);
  for (let round = 0; round < 20 && allOk() && (await metric('karb_gateway_ejected_endpoints', 'service="m"')) === 0; round++) {
    await runConcurrently(4, 4, infer);
  }
  const timeouts = await metric('karb_gateway_retries_total', 'service="m",reason="timeout"');
  t.diagnostic(`${answers.length} requests until the ejection; ${timeouts} tries timed out`);
  assert.deepEqual(answers.filter((a) => a.status !== 200 || a.pid !== healthy.pid), [], 'every request answered 200 by the healthy replica');
  assert.ok(timeouts >= 2, `tries at the hung replica were retried (${timeouts})`);
  assert.equal(await metric('karb_gateway_ejections_total', 'service="m"'), 1, 'the hung replica is ejected');

  // Ejected: new traffic no longer waits on it.
  answers.length = 0;
  await runConcurrently(40, 4, infer);
  assert.deepEqual(answers.filter((a) => a.status !== 200 || a.pid !== healthy.pid), []);
  assert.equal(await metric('karb_gateway_retries_total', 'service="m",reason="timeout"'), timeouts, 'no try went to the ejected replica');
});
