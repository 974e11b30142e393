import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { FailureLog, LogLineBucket } from './failure-log.ts';
import { ManualClock } from '../../util/clock.ts';
import { answerWithName, gatewayFor, httpClient, replica, revision, route } from './test-support.ts';
import { waitFor } from '../../util/wait-for.ts';

const client = httpClient();
test.after(() => client.close());
const INFER_BODY = '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}';

test('a bucket writes its burst, then its rate, and says how many lines it left out', () => {
  const bucket = new LogLineBucket({ perSecond: 10, burst: 3 }, 0);
  assert.deepEqual([bucket.take(0), bucket.take(0), bucket.take(0)], [0, 0, 0], 'the burst');
  assert.deepEqual([bucket.take(0), bucket.take(50)], [-1, -1], 'then nothing until a token is back');
  assert.equal(bucket.take(100), 2, 'a token after 100 ms at 10/s: the line says two were left out');
  assert.equal(bucket.take(100), -1);
  assert.equal(bucket.take(10_000), 1, 'refilled, never past the burst');
  assert.deepEqual([bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)], [0, 0, -1]);
});

test('client errors cannot use up the budget of server errors', async () => {
  const registry = new Registry();
  const log = new FailureLog(registry, 0, { perSecond: 1, burst: 2 });
  assert.deepEqual([401, 404, 405, 499].map((s) => log.take(s, 0)), [0, 0, -1, -1]);
  assert.deepEqual([502, 503, 504].map((s) => log.take(s, 0)), [0, 0, -1]);
  const text = await registry.metrics();
  assert.match(text, /karb_gateway_log_lines_dropped_total\{class="client_error"\} 2/);
  assert.match(text, /karb_gateway_log_lines_dropped_total\{class="server_error"\} 1/);
});

test('a flood of bad requests is counted in full but logged within the budget; good requests are all logged', async (t) => {
  const a = await replica(t, answerWithName('a'));
  const records: Array<Record<string, unknown>> = [];
  const clock = new ManualClock(Date.UTC(2030, 0, 1));
  const { gw } = await gatewayFor(t, [route('m', [revision('m-00001', 100, [a.url])])], {
    clock,
    log: (r) => records.push(r),
    failureLogBudget: { perSecond: 10, burst: 20 },
  });
  for (let i = 0; i < 200; i++) await client.send(`${gw.url}/v2/models/m/infer`, { method: 'GET' });
  for (let i = 0; i < 5; i++) await client.send(`${gw.url}/v2/models/m/infer`, { method: 'POST', body: INFER_BODY });
  // Lines are written when each response closes: wait for the accounting before the clock moves.
  await waitFor('every request to be counted', async () => /code="405"\} 200/.test(await gw.metrics()) && /code="200"\} 5/.test(await gw.metrics()));
  clock.advance(1000);
  await client.send(`${gw.url}/nowhere`);
  await waitFor('the 404 to be logged', () => records.some((r) => r.status === 404));

  const lines = records.filter((r) => r.msg === 'request');
  const failed = lines.filter((r) => r.status === 405);
  assert.equal(failed.length, 20, 'the burst of 405s, then nothing while the clock stands still');
  assert.equal(lines.filter((r) => r.status === 200).length, 5, 'every good request is logged');
  const after = lines.find((r) => r.status === 404);
  assert.equal(after?.unloggedBefore, 180, 'the next line written says how many were left out');
  const text = await gw.metrics();
  assert.match(text, /karb_gateway_requests_total\{service="",revision="",code="405"\} 200/);
  assert.match(text, /karb_gateway_log_lines_dropped_total\{class="client_error"\} 180/);
});
