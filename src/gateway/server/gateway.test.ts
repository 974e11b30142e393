import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { ManualClock } from '../../util/clock.ts';
import type { Gateway } from './gateway.ts';
import {
  answerWithName,
  httpClient,
  revision,
  route,
  runConcurrently,
  seededRandom,
  unusedPort,
  gatewayFor,
  replica,
} from './test-support.ts';
import { waitFor } from '../../util/wait-for.ts';

const client = httpClient();
test.after(() => client.close());

const INFER_BODY = '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}';

function infer(gw: Gateway, model: string, headers: Record<string, string> = {}) {
  return client.send(`${gw.url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: INFER_BODY,
  });
}

test('health endpoints answer 200 without any model', async (t) => {
  const { gw } = await gatewayFor(t, []);
  const live = await client.send(`${gw.url}/v2/health/live`);
  assert.equal(live.status, 200);
  assert.deepEqual(live.json(), { live: true });
  const ready = await client.send(`${gw.url}/v2/health/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.json(), { ready: true });
});

test('requests are routed by model name, infer and metadata alike', async (t) => {
  const a = await replica(t, answerWithName('a'));
  const b = await replica(t, answerWithName('b'));
  const { gw } = await gatewayFor(t, [
    route('alpha', [revision('alpha-00001', 100, [a.url])]),
    route('beta', [revision('beta-00001', 100, [b.url])]),
  ]);

  const ra = await infer(gw, 'alpha');
  assert.equal(ra.status, 200);
  assert.deepEqual(ra.json(), { replica: 'a' });
  assert.equal(ra.headers['x-karb-revision'], 'alpha-00001');

  const rb = await client.send(`${gw.url}/v2/models/beta/versions/3/infer`, { method: 'POST', body: INFER_BODY });
  assert.deepEqual(rb.json(), { replica: 'b' });
  assert.equal(rb.headers['x-karb-revision'], 'beta-00001');

  const meta = await client.send(`${gw.url}/v2/models/beta`);
  assert.equal(meta.status, 200);
  assert.deepEqual(meta.json(), { replica: 'b' });

  assert.deepEqual(
    a.seen.map((r) => `${r.method} ${r.url}`),
    ['POST /v2/models/alpha/infer'],
  );
  assert.deepEqual(
    b.seen.map((r) => `${r.method} ${r.url}`),
    ['POST /v2/models/beta/versions/3/infer', 'GET /v2/models/beta'],
  );
});

test('the replica only sees paths the gateway built: an encoded version is refused, a query is dropped', async (t) => {
  const a = await replica(t, answerWithName('a'));
  const { gw } = await gatewayFor(t, [route('alpha', [revision('alpha-00001', 100, [a.url])])]);

  const climb = await client.send(`${gw.url}/v2/models/alpha/versions/..%2F..%2Fadmin/infer`, { method: 'POST', body: INFER_BODY });
  assert.equal(climb.status, 400);
  assert.match((climb.json() as { error: string }).error, /model version '\.\.%2F\.\.%2Fadmin' is not a version name/);

  const withQuery = await client.send(`${gw.url}/v2/models/alpha/versions/2/infer?next=../../admin`, { method: 'POST', body: INFER_BODY });
  assert.equal(withQuery.status, 200);
  assert.deepEqual(
    a.seen.map((r) => `${r.method} ${r.url}`),
    ['POST /v2/models/alpha/versions/2/infer'],
  );
});

test('model readiness reflects whether the route has a ready endpoint', async (t) => {
  const a = await replica(t, answerWithName('a'));
  const { gw } = await gatewayFor(t, [
    route('up', [revision('up-00001', 100, [a.url])]),
    route('cold', [revision('cold-00001', 100, [])]),
  ]);
  const up = await client.send(`${gw.url}/v2/models/up/ready`);
  assert.equal(up.status, 200);
  assert.deepEqual(up.json(), { name: 'up', ready: true });

  const cold = await client.send(`${gw.url}/v2/models/cold/ready`);
  assert.equal(cold.status, 503);
  assert.equal(cold.headers['retry-after'], '1');
  assert.match((cold.json() as { error: string }).error, /model 'cold' has no ready replica/);
  assert.equal(a.seen.length, 0, 'readiness is answered by the gateway, not proxied');
});

test('unknown model, unknown path and wrong method get 404/404/405 with clear messages', async (t) => {
  const { gw } = await gatewayFor(t, []);

  const unknown = await infer(gw, 'nope');
  assert.equal(unknown.status, 404);
  assert.deepEqual(unknown.json(), { error: "model 'nope' not found; karb get services lists the served models" });
  assert.equal(unknown.headers['content-type'], 'application/json');

  const path = await client.send(`${gw.url}/v3/whatever`);
  assert.equal(path.status, 404);
  assert.match((path.json() as { error: string }).error, /^no route for GET \/v3\/whatever; the gateway serves/);

  const method = await client.send(`${gw.url}/v2/models/x/infer`);
  assert.equal(method.status, 405);
  assert.equal(method.headers.allow, 'POST');
  assert.deepEqual(method.json(), { error: 'GET is not allowed on /v2/models/x/infer; use POST' });

  const post = await client.send(`${gw.url}/v2/health/ready`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET');
});

test('a declared body over the limit is refused with 413 before reaching a replica', async (t) => {
  const a = await replica(t, answerWithName('a'));
  const { gw } = await gatewayFor(t, [route('m', [revision('m-00001', 100, [a.url])])], { bodyLimitBytes: 1024 });
  const r = await client.send(`${gw.url}/v2/models/m/infer`, { method: 'POST', body: Buffer.alloc(1025, 1) });
  assert.equal(r.status, 413);
  assert.match((r.json() as { error: string }).error, /larger than the gateway's limit of 1024 bytes/);

  const ok = await client.send(`${gw.url}/v2/models/m/infer`, { method: 'POST', body: Buffer.alloc(1024, 1) });
  assert.equal(ok.status, 200);
  assert.equal(a.seen.length, 1);
  assert.equal(a.seen[0]!.body.length, 1024);
});

test('a streamed body is counted as it arrives and cut off with 413 past the limit', async (t) => {
  const a = await replica(t, answerWithName('a'));
  const { gw } = await gatewayFor(t, [route('m', [revision('m-00001', 100, [a.url])])], { bodyLimitBytes: 1000 });
  const socket = connect(gw.port, '127.0.0.1');
  t.after(() => socket.destroy());
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
  const chunk = 'a'.repeat(600);
  socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
  socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
  // The body never ends: the gateway must answer on the count alone, then cut the connection.
  await closed;
  assert.match(received, /^HTTP\/1\.1 413 /);
  assert.match(received, /larger than the gateway's limit of 1000 bytes/);
  assert.equal(a.seen.length, 0);
});

test('no ready endpoint gives 503 with Retry-After and counts it', async (t) => {
  const { gw } = await gatewayFor(t, [route('cold', [revision('cold-00001', 100, [])])]);
  const r = await infer(gw, 'cold');
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.match((r.json() as { error: string }).error, /model 'cold' has no ready replica right now; retry shortly/);
  assert.match(await gw.metrics(), /karb_gateway_no_endpoint_total\{service="cold"\} 1/);
});

test('an unreachable replica gives 502 and a silent one 504, with messages and no stack', async (t) => {
  const port = await unusedPort();
  const silent = await replica(t, () => {}); // reads the request, never answers
  const { gw } = await gatewayFor(
    t,
    [
      route('gone', [revision('gone-00001', 100, [`http://127.0.0.1:${port}`])]),
      route('slow', [revision('slow-00001', 100, [silent.url])]),
    ],
    { upstreamTimeoutMs: 300 },
  );

  const gone = await infer(gw, 'gone');
  assert.equal(gone.status, 502);
  assert.deepEqual(gone.json(), { error: "replica 'gone-00001-r0' of model 'gone' could not be reached (connection refused)" });

  const slow = await infer(gw, 'slow');
  assert.equal(slow.status, 504);
  assert.deepEqual(slow.json(), { error: "replica 'slow-00001-r0' of model 'slow' did not answer within 300 ms" });

  const text = await gw.metrics();
  assert.match(text, /karb_gateway_requests_total\{service="gone",revision="gone-00001",code="502"\} 1/);
  assert.match(text, /karb_gateway_requests_total\{service="slow",revision="slow-00001",code="504"\} 1/);
  assert.match(text, /karb_gateway_upstream_inflight_requests\{service="slow"\} 0/);
});

test('traffic splits across revisions by weight (seeded, 1,000 requests)', async (t) => {
  const stable = await replica(t, answerWithName('stable'));
  const canary = await replica(t, answerWithName('canary'));
  const { gw } = await gatewayFor(
    t,
    [route('m', [revision('m-00001', 80, [stable.url]), revision('m-00002', 20, [canary.url])])],
    { random: seededRandom(42) },
  );
  const byRevision = new Map<string, number>();
  await runConcurrently(1000, 16, async () => {
    const r = await infer(gw, 'm');
    assert.equal(r.status, 200);
    const rev = String(r.headers['x-karb-revision']);
    byRevision.set(rev, (byRevision.get(rev) ?? 0) + 1);
  });
  const canaryShare = (byRevision.get('m-00002') ?? 0) / 1000;
  assert.ok(Math.abs(canaryShare - 0.2) < 0.04, `canary share ${canaryShare} should be about 0.20`);
  assert.equal(stable.seen.length + canary.seen.length, 1000);
  assert.equal(canary.seen.length, byRevision.get('m-00002'), 'x-karb-revision names the revision that served');
});

test('a slow replica gets fewer requests than a fast one under concurrency', async (t) => {
  const fast = await replica(t, answerWithName('fast'));
  const slow = await replica(t, (req, res) => {
    setTimeout(() => answerWithName('slow')(req, res), 40);
  });
  const { gw } = await gatewayFor(t, [route('m', [revision('m-00001', 100, [fast.url, slow.url])])], {
    random: seededRandom(7),
  });
  await runConcurrently(300, 8, async () => {
    assert.equal((await infer(gw, 'm')).status, 200);
  });
  assert.equal(fast.seen.length + slow.seen.length, 300);
  assert.ok(
    slow.seen.length * 3 < fast.seen.length,
    `least-outstanding should favour the fast replica (fast ${fast.seen.length}, slow ${slow.seen.length})`,
  );
});

test('bodies and headers pass through byte-exact; request ids are kept or generated', async (t) => {
  const reply = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0d, 0x0a, 0x7b, 0xc3, 0x28, 0x00]);
  const a = await replica(t, (req, res) => {
    const out = Buffer.concat([req.body, reply]);
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': out.length,
      'x-model-header': 'kept',
      // Hop-by-hop: `Connection` names a header that belongs to this connection only.
      connection: 'keep-alive, X-Hop',
      'x-hop': 'per-connection',
    });
    res.end(out);
  });
  // A replica that streams (chunked, no content-length).
  const chunked = await replica(t, (req, res) => {
    res.writeHead(201, { 'content-type': 'application/x-binary' });
    res.write(req.body.subarray(0, 100));
    setTimeout(() => res.end(req.body.subarray(100)), 5);
  });
  const { gw } = await gatewayFor(t, [
    route('bin', [revision('bin-00001', 100, [a.url])]),
    route('stream', [revision('stream-00001', 100, [chunked.url])]),
  ]);

  const body = Buffer.alloc(70_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 8)) & 0xff;
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const r = await client.send(`${gw.url}/v2/models/bin/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', traceparent, 'x-request-id': 'req-123', cookie: 'secret=1' },
    body,
  });
  assert.equal(r.status, 200);
  assert.ok(r.body.equals(Buffer.concat([body, reply])), 'response body is byte-exact');
  assert.equal(r.headers['content-type'], 'application/octet-stream');
  assert.equal(r.headers['x-model-header'], 'kept');
  assert.equal(r.headers['x-hop'], undefined, 'a header named by Connection is not forwarded');
  assert.equal(r.headers['x-request-id'], 'req-123');
  assert.equal(r.headers['x-karb-revision'], 'bin-00001');
  assert.equal(r.headers['content-length'], String(body.length + reply.length));

  const seen = a.seen[0]!;
  assert.ok(seen.body.equals(body), 'request body is byte-exact');
  assert.equal(seen.headers['content-type'], 'application/octet-stream');
  assert.equal(seen.headers.traceparent, traceparent);
  assert.equal(seen.headers['x-request-id'], 'req-123');
  assert.equal(seen.headers.cookie, undefined, 'only the listed headers are forwarded');

  const s = await client.send(`${gw.url}/v2/models/stream/infer`, { method: 'POST', body });
  assert.equal(s.status, 201);
  assert.ok(s.body.equals(body));
  const generated = s.headers['x-request-id'];
  assert.match(String(generated), /^[0-9a-f-]{36}$/);
  assert.equal(chunked.seen[0]!.headers['x-request-id'], generated, 'the replica sees the generated id');
});

test('redirects from a replica are passed back, not followed', async (t) => {
  const elsewhere = await replica(t, answerWithName('elsewhere'));
  const a = await replica(t, (_req, res) => {
    res.writeHead(307, { location: `${elsewhere.url}/v2/models/m/infer` });
    res.end();
  });
  const { gw } = await gatewayFor(t, [route('m', [revision('m-00001', 100, [a.url])])]);
  const r = await infer(gw, 'm');
  assert.equal(r.status, 307);
  assert.equal(r.headers.location, `${elsewhere.url}/v2/models/m/infer`);
  assert.equal(elsewhere.seen.length, 0);
});

test('an endpoint removed from the table stops getting traffic and its pool is closed', async (t) => {
  const clock = new ManualClock(0);
  const a = await replica(t, answerWithName('a'));
  const b = await replica(t, answerWithName('b'));
  const { gw, table } = await gatewayFor(t, [route('m', [revision('m-00001', 100, [a.url, b.url])])], {
    clock,
    poolSweepIntervalMs: 1000,
    random: seededRandom(3),
  });
  await runConcurrently(40, 4, async () => {
    assert.equal((await infer(gw, 'm')).status, 200);
  });
  assert.ok(a.seen.length > 0 && b.seen.length > 0, 'both endpoints served before the change');
  assert.ok(b.openSockets() > 0, 'the gateway keeps connections to b alive');

  table.replace([route('m', [revision('m-00001', 100, [a.url])])]);
  const bBefore = b.seen.length;
  await runConcurrently(20, 4, async () => {
    assert.equal((await infer(gw, 'm')).status, 200);
  });
  assert.equal(b.seen.length, bBefore, 'no request reaches a removed endpoint');

  clock.advance(1000);
  await waitFor("the gateway's connections to the removed endpoint to close", () => b.openSockets() === 0);
  assert.ok(a.openSockets() > 0, 'connections to the remaining endpoint stay open');
  assert.equal((await infer(gw, 'm')).status, 200);
});

test('the gateway survives clients that abort mid-body and mid-response', async (t) => {
  let answer: (() => void) | undefined;
  let upstreamSawClose = false;
  const hanging = await replica(t, (_req, res) => {
    res.on('close', () => (upstreamSawClose = true));
    answer = () => answerWithName('late')(_req, res);
  });
  const a = await replica(t, answerWithName('a'));
  const { gw } = await gatewayFor(t, [
    route('hang', [revision('hang-00001', 100, [hanging.url])]),
    route('m', [revision('m-00001', 100, [a.url])]),
  ]);

  // 1. Headers and half a body, then the client disappears.
  const s1 = connect(gw.port, '127.0.0.1');
  s1.on('error', () => {});
  await new Promise<void>((resolve) => s1.once('connect', () => resolve()));
  s1.write('POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n' + 'x'.repeat(500));
  await new Promise((r) => setTimeout(r, 20));
  s1.destroy();

  // 2. A full request to a replica that has not answered yet, then the client disappears.
  const s2 = connect(gw.port, '127.0.0.1');
  s2.on('error', () => {});
  await new Promise<void>((resolve) => s2.once('connect', () => resolve()));
  s2.write(`POST /v2/models/hang/infer HTTP/1.1\r\nhost: x\r\ncontent-length: ${INFER_BODY.length}\r\n\r\n${INFER_BODY}`);
  await waitFor('the request to reach the replica', () => answer !== undefined);
  s2.destroy();
  await waitFor('the gateway to abandon the upstream request', () => upstreamSawClose);
  answer!();

  let text = '';
  await waitFor('both aborted requests to be counted as 499', async () => {
    text = await gw.metrics();
    return text.includes('code="499"} 1') && text.split('code="499"').length === 3;
  });
  assert.match(text, /karb_gateway_requests_total\{service="m",revision="",code="499"\} 1/);
  assert.match(text, /karb_gateway_requests_total\{service="hang",revision="hang-00001",code="499"\} 1/);
  assert.match(text, /karb_gateway_upstream_inflight_requests\{service="hang"\} 0/);
  assert.equal(a.seen.length, 0, 'a half-sent body is never forwarded');

  const ok = await infer(gw, 'm');
  assert.equal(ok.status, 200);
});

test('GET /metrics on the metrics listener serves the gateway metrics in Prometheus text; each request is logged', async (t) => {
  const a = await replica(t, answerWithName('a'));
  const records: Array<Record<string, unknown>> = [];
  const { gw } = await gatewayFor(t, [route('m', [revision('m-00001', 100, [a.url])])], {
    clock: new ManualClock(Date.UTC(2030, 0, 1)),
    log: (r) => records.push(r),
    metricsPort: 0,
  });
  await infer(gw, 'm', { 'x-request-id': 'log-me' });
  await infer(gw, 'unknown');
  await waitFor('both requests to be logged', () => records.filter((r) => r.msg === 'request').length === 2);
  const [ok, missing] = records.filter((r) => r.msg === 'request');
  assert.equal(ok!.time, '2030-01-01T00:00:00.000Z', 'log time comes from the injected clock');
  assert.equal(ok!.requestId, 'log-me');
  assert.equal(ok!.status, 200);
  assert.equal(ok!.revision, 'm-00001');
  assert.equal(ok!.replica, 'm-00001-r0');
  assert.equal(typeof ok!.durationMs, 'number');
  assert.equal(missing!.status, 404);
  assert.equal(missing!.error, 'MODEL_NOT_FOUND');

  assert.notEqual(gw.metricsUrl, undefined);
  assert.notEqual(gw.metricsUrl, gw.url);
  assert.equal((await client.send(`${gw.metricsUrl}/v2/models/m/infer`, { method: 'POST', body: INFER_BODY })).status, 404, 'and that listener routes nothing');
  const r = await client.send(`${gw.metricsUrl}/metrics`);
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain/);
  const text = r.text();
  assert.match(text, /karb_gateway_requests_total\{service="m",revision="m-00001",code="200"\} 1/);
  assert.match(text, /karb_gateway_requests_total\{service="",revision="",code="404"\} 1/);
  assert.match(text, /karb_gateway_request_duration_seconds_count\{service="m",revision="m-00001"\} 1/);
  assert.match(text, /karb_gateway_upstream_inflight_requests\{service="m"\} 0/);
  assert.match(text, /# TYPE karb_gateway_no_endpoint_total counter/);
  assert.doesNotMatch(text, /unknown/, 'a model name from the caller never becomes a label');
  // The port tenants call never lists the services: metrics have a listener of their own.
  assert.equal((await client.send(`${gw.url}/metrics`)).status, 404);
});
