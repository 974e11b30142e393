// Progressive-delivery routing: preview by `x-karb-revision` and rollout mirroring.
// Table tests of the pure choices, then a real gateway against real node:http replicas on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import type { SignalSink } from '../../observability/hub.ts';
import { InvalidRevisionHeaderError, RevisionNotRoutableError } from '../server/errors.ts';
import type { Gateway } from '../server/gateway.ts';
import { mirrorOutcome, mirrorTarget } from './mirror.ts';
import { MAX_REVISION_NAME_LENGTH, REVISION_HEADER, previewRevision } from './preview.ts';
import type { Route } from '../discovery/routing-table.ts';
import {
  answerWithName,
  gatewayFor,
  httpClient,
  metricValue,
  replica,
  revision,
  route,
  seededRandom,
  unusedPort,
  type ReplicaHandler,
} from '../server/test-support.ts';
import { waitFor } from '../../util/wait-for.ts';

const client = httpClient();
test.after(() => client.close());

const INFER_BODY = '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}';

function infer(gw: Gateway, model: string, headers: Record<string, string> = {}, body = INFER_BODY) {
  return client.send(`${gw.url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}


const failing: ReplicaHandler = (_req, res) => {
  res.writeHead(500, { 'content-type': 'application/json' });
  res.end('{"error":"broken"}');
};

const draining: ReplicaHandler = (_req, res) => {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
  res.end('{"error":"draining"}');
};

/** A SignalSink that records what the gateway reports. */
function recordingSink() {
  const started: Array<{ service: string; revision: string }> = [];
  const finished: Array<{ service: string; revision: string; endpoint: string; latencyMs: number; status: number; depth: number; waitMs: number }> = [];
  const sink: SignalSink = {
    requestStarted: (service, revision) => void started.push({ service, revision }),
    requestFinished: (service, revision, endpoint, latencyMs, status, depth, waitMs = -1) =>
      void finished.push({ service, revision, endpoint, latencyMs, status, depth, waitMs }),
    heldChanged: () => {},
    requestRefused: () => {},
  };
  const startedFor = (rev: string) => started.filter((s) => s.revision === rev).length;
  const finishedFor = (rev: string) => finished.filter((s) => s.revision === rev);
  /** Every copy sent has finished (sends are reported synchronously, before the caller's answer). */
  const settled = (rev: string) => waitFor(`copies to ${rev} to finish`, () => finishedFor(rev).length === startedFor(rev));
  return { sink, started, finished, startedFor, finishedFor, settled };
}

function withMirror(r: Route, mirrorRevision: string, percent: number): Route {
  return { ...r, mirror: { revision: mirrorRevision, percent } };
}

// ── pure parts ──

test('x-karb-revision resolves to a listed revision, whatever its weight', () => {
  const r = route('fraud-detector', [
    revision('fraud-detector-00001', 100, ['http://a']),
    revision('fraud-detector-00002', 0, ['http://b']),
    revision('fraud-detector-00003', 0, []),
  ]);
  const ok: Array<[header: string | string[] | undefined, want: string | undefined, why: string]> = [
    [undefined, undefined, 'no header: the split decides'],
    ['fraud-detector-00001', 'fraud-detector-00001', 'the weighted revision'],
    ['fraud-detector-00002', 'fraud-detector-00002', 'a weight-0 preview revision'],
    ['fraud-detector-00003', 'fraud-detector-00003', 'listed without endpoints (the router answers 503)'],
  ];
  for (const [header, want, why] of ok) assert.equal(previewRevision(r, header)?.revision, want, why);

  const notRoutable: Array<[header: string, why: string]> = [
    ['fraud-detector-00009', 'not in the route'],
    ['a', 'one character is a plausible name'],
    ['a'.repeat(MAX_REVISION_NAME_LENGTH), 'the longest plausible name'],
  ];
  for (const [header, why] of notRoutable) {
    assert.throws(
      () => previewRevision(r, header),
      (e) =>
        e instanceof RevisionNotRoutableError &&
        e.status === 404 &&
        e.code === 'REVISION_NOT_ROUTABLE' &&
        e.message ===
          `revision ${header} is not routable for model fraud-detector; routable: fraud-detector-00001, fraud-detector-00002, fraud-detector-00003`,
      why,
    );
  }

  const invalid: Array<[header: string | string[], why: string]> = [
    ['', 'empty'],
    ['Fraud-detector-00001', 'upper case'],
    ['-fraud', 'starts with a dash'],
    ['fraud-', 'ends with a dash'],
    ['fraud_detector', 'underscore'],
    ['fraud-detector-00001, fraud-detector-00002', 'two headers, joined'],
    [['fraud-detector-00001', 'fraud-detector-00002'], 'two headers, as an array'],
    ['a'.repeat(MAX_REVISION_NAME_LENGTH + 1), 'one character too long'],
    ['http://10.0.0.1:9000', 'a URL'],
    ['../fraud', 'a path'],
  ];
  for (const [header, why] of invalid) {
    assert.throws(
      () => previewRevision(r, header),
      (e) => e instanceof InvalidRevisionHeaderError && e.status === 400 && e.code === 'INVALID_REVISION_HEADER',
      why,
    );
  }
});

test('the mirror decision: which requests are copied, and where', () => {
  const never = (): number => {
    throw new Error('random must not be drawn');
  };
  const base = route('m', [revision('m-1', 90, ['http://a']), revision('m-2', 10, ['http://b']), revision('m-3', 0, [])]);
  const cases: Array<[r: Route, served: string, random: () => number, want: string | undefined, why: string]> = [
    [base, 'm-1', never, undefined, 'no mirror configured'],
    [withMirror(base, 'm-2', 100), 'm-1', never, 'm-2', '100%: always, without a draw'],
    [withMirror(base, 'm-2', 100), 'm-2', never, undefined, 'served by the mirror revision itself'],
    [withMirror(base, 'm-2', 0), 'm-1', never, undefined, '0%: never'],
    [withMirror(base, 'm-2', -5), 'm-1', never, undefined, 'a negative share is none'],
    [withMirror(base, 'm-2', 50), 'm-1', () => 0.49, 'm-2', 'draw inside the share'],
    [withMirror(base, 'm-2', 50), 'm-1', () => 0.5, undefined, 'draw at the edge of the share'],
    [withMirror(base, 'm-2', 1), 'm-1', () => 0.0099, 'm-2', '1%: a low draw'],
    [withMirror(base, 'm-2', 150), 'm-1', never, 'm-2', 'over 100 is all'],
    [withMirror(base, 'm-3', 100), 'm-1', never, undefined, 'the mirror revision has no ready endpoint'],
    [withMirror(base, 'm-9', 100), 'm-1', never, undefined, 'the mirror revision is not in the route'],
  ];
  for (const [r, served, random, want, why] of cases) assert.equal(mirrorTarget(r, served, random)?.revision, want, why);

  const outcomes: Array<[status: number, want: string]> = [[200, 'ok'], [204, 'ok'], [299, 'ok'], [0, 'error'], [304, 'error'], [404, 'error'], [500, 'error'], [503, 'error']];
  for (const [status, want] of outcomes) assert.equal(mirrorOutcome(status), want, String(status));
});

// ── preview routing through a gateway ──

test('x-karb-revision reaches a weight-0 revision, on every request and over the session header', async (t) => {
  const stable = await replica(t, answerWithName('stable'));
  const preview = await replica(t, answerWithName('preview'));
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [stable.url]), revision('m-2', 0, [preview.url])])]);

  for (let i = 0; i < 10; i++) {
    const r = await infer(gw, 'm', { [REVISION_HEADER]: 'm-2', 'x-karb-session': `user-${i}` });
    assert.equal(r.status, 200);
    assert.equal(r.headers[REVISION_HEADER], 'm-2');
    assert.deepEqual(r.json(), { replica: 'preview' });
  }
  assert.equal(preview.seen.length, 10);
  assert.equal(stable.seen.length, 0, 'no preview request went to the weighted revision');
  assert.ok(preview.seen.every((s) => s.headers[REVISION_HEADER] === undefined), 'the header is not passed on');

  const plain = await infer(gw, 'm');
  assert.equal(plain.headers[REVISION_HEADER], 'm-1', 'without the header the split decides');
  assert.equal(preview.seen.length, 10);
});

test('an unknown revision is 404 naming what is routable; a malformed one is 400', async (t) => {
  const stable = await replica(t, answerWithName('stable'));
  const chat = await replica(t, answerWithName('chat'));
  const { gw } = await gatewayFor(t, [
    route('fraud-detector', [revision('fraud-detector-00001', 90, [stable.url]), revision('fraud-detector-00002', 10, [stable.url])]),
    { ...route('chat', [revision('chat-00001', 100, [chat.url])]), format: 'openai' },
  ]);

  const unknown = await infer(gw, 'fraud-detector', { [REVISION_HEADER]: 'fraud-detector-00009' });
  assert.equal(unknown.status, 404);
  assert.deepEqual(unknown.json(), {
    error: 'revision fraud-detector-00009 is not routable for model fraud-detector; routable: fraud-detector-00001, fraud-detector-00002',
  });

  for (const bad of ['Fraud-Detector', 'x'.repeat(71), 'fraud-detector-00001/../x', 'fraud-detector-00001,fraud-detector-00002']) {
    const r = await infer(gw, 'fraud-detector', { [REVISION_HEADER]: bad });
    assert.equal(r.status, 400, bad);
    assert.match((r.json() as { error: string }).error, /x-karb-revision .* is not a revision name/);
  }

  // OpenAI paths keep OpenAI's error shape.
  const openai = await client.send(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [REVISION_HEADER]: 'chat-00002' },
    body: '{"model":"chat","messages":[]}',
  });
  assert.equal(openai.status, 404);
  assert.deepEqual(openai.json(), {
    error: {
      message: 'revision chat-00002 is not routable for model chat; routable: chat-00001',
      type: 'invalid_request_error',
      param: null,
      code: 'revision_not_routable',
    },
  });
  assert.equal(stable.seen.length, 0, 'refused requests reach no replica');
  assert.equal(chat.seen.length, 0);
});

test('a named revision without endpoints is 503 with Retry-After, never served elsewhere', async (t) => {
  const stable = await replica(t, answerWithName('stable'));
  const other = await replica(t, answerWithName('other'));
  const { gw } = await gatewayFor(t, [
    { ...route('m', [revision('m-1', 100, [stable.url]), revision('m-2', 0, [])]), fallback: ['other'] },
    route('other', [revision('other-1', 100, [other.url])]),
  ]);
  const r = await infer(gw, 'm', { [REVISION_HEADER]: 'm-2' });
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.match((r.json() as { error: string }).error, /revision 'm-2' of model 'm' has no ready replica/);
  assert.equal(stable.seen.length, 0);
  assert.equal(other.seen.length, 0, 'no fallback for a pinned request');
});

test('retries of a pinned request stay in the named revision', async (t) => {
  const stable = await replica(t, answerWithName('stable'));
  const drain = await replica(t, draining);
  const good = await replica(t, answerWithName('good'));
  const fallback = await replica(t, answerWithName('fallback'));
  const { gw } = await gatewayFor(t, [
    { ...route('m', [revision('m-1', 100, [stable.url]), revision('m-2', 0, [drain.url, good.url])]), fallback: ['f'] },
    { ...route('n', [revision('n-1', 100, [stable.url]), revision('n-2', 0, [drain.url])]), fallback: ['f'] },
    route('f', [revision('f-1', 100, [fallback.url])]),
  ]);
  for (let i = 0; i < 20; i++) {
    const r = await infer(gw, 'm', { [REVISION_HEADER]: 'm-2' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { replica: 'good' });
  }
  assert.ok(drain.seen.length >= 1, 'the draining endpoint was tried and retried away from');
  // Only draining endpoints in the named revision: the caller gets their 503, not the other revision or the fallback.
  const r = await infer(gw, 'n', { [REVISION_HEADER]: 'n-2' });
  assert.equal(r.status, 503);
  assert.equal(r.headers[REVISION_HEADER], 'n-2');
  assert.equal(stable.seen.length, 0);
  assert.equal(fallback.seen.length, 0);
});

// ── mirroring through a gateway ──

test('at 100% every request is copied to the mirror revision; the caller is answered by the primary', async (t) => {
  const primary = await replica(t, answerWithName('primary'));
  const shadow = await replica(t, answerWithName('shadow'));
  const signals = recordingSink();
  const { gw } = await gatewayFor(t, [withMirror(route('m', [revision('m-1', 100, [primary.url]), revision('m-2', 0, [shadow.url])]), 'm-2', 100)], {
    signals: signals.sink,
  });
  const n = 20;
  for (let i = 0; i < n; i++) {
    const body = JSON.stringify({ n: i });
    const r = await infer(gw, 'm', { authorization: 'Bearer secret', 'x-request-id': `req-${i}`, traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` }, body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { replica: 'primary' });
    assert.equal(r.headers[REVISION_HEADER], 'm-1');
  }
  await signals.settled('m-2');
  assert.equal(primary.seen.length, n);
  assert.equal(shadow.seen.length, n);
  for (const copy of shadow.seen) {
    const id = String(copy.headers['x-request-id']);
    const i = Number(/^req-(\d+)-mirror$/.exec(id)?.[1]);
    assert.ok(Number.isInteger(i), `request id of a copy: ${id}`);
    assert.equal(copy.method, 'POST');
    assert.equal(copy.url, '/v2/models/m/infer');
    assert.equal(copy.body.toString(), JSON.stringify({ n: i }), 'the same body bytes');
    assert.equal(copy.headers['content-type'], 'application/json');
    assert.equal(copy.headers.traceparent, `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`);
    assert.equal(copy.headers.authorization, undefined, 'credentials are never copied');
  }
  assert.ok(primary.seen.every((s) => s.headers.authorization === undefined));

  const mirrored = signals.finishedFor('m-2');
  assert.equal(mirrored.length, n, 'each copy is reported under the mirror revision');
  assert.ok(mirrored.every((f) => f.service === 'm' && f.status === 200 && f.endpoint === shadow.url && f.depth === -1 && f.latencyMs >= 0));
  assert.equal(signals.startedFor('m-2'), n);
  assert.equal(signals.finishedFor('m-1').length, n, 'the served attempts are reported as before');

  const text = await gw.metrics();
  assert.equal(metricValue(text, 'karb_gateway_mirrored_requests_total', 'service="m",revision="m-2",outcome="ok"'), n);
  assert.match(text, /# TYPE karb_gateway_mirrored_requests_total counter/);
  // Copies are not requests of the gateway's callers.
  assert.equal(metricValue(text, 'karb_gateway_requests_total', 'service="m",revision="m-2",code="200"'), 0);
  assert.equal(metricValue(text, 'karb_gateway_requests_total', 'service="m",revision="m-1",code="200"'), n);
});

test('a mirror answering 500, or not listening, changes nothing for callers', async (t) => {
  const primary = await replica(t, answerWithName('primary'));
  const broken = await replica(t, failing);
  const dead = `http://127.0.0.1:${await unusedPort()}`;
  const signals = recordingSink();
  const { gw } = await gatewayFor(
    t,
    [
      withMirror(route('a', [revision('a-1', 100, [primary.url]), revision('a-2', 0, [broken.url])]), 'a-2', 100),
      withMirror(route('b', [revision('b-1', 100, [primary.url]), revision('b-2', 0, [dead])]), 'b-2', 100),
    ],
    { signals: signals.sink, routing: { outlier: { consecutiveFailures: 2 } } },
  );
  const n = 15;
  for (let i = 0; i < n; i++) {
    for (const model of ['a', 'b']) {
      const r = await infer(gw, model);
      assert.equal(r.status, 200, model);
      assert.deepEqual(r.json(), { replica: 'primary' });
    }
  }
  await signals.settled('a-2');
  await signals.settled('b-2');
  assert.equal(broken.seen.length, n, 'a failing copy is not retried');
  assert.ok(signals.finishedFor('a-2').every((f) => f.status === 500));
  assert.ok(signals.finishedFor('a-2').every((f) => f.waitMs === 0), 'an answered copy went out at once, and its replica said nothing of a queue');
  assert.ok(signals.finishedFor('b-2').every((f) => f.status === 0), 'no answer is status 0');
  assert.ok(signals.finishedFor('b-2').every((f) => f.waitMs === -1), 'and no wait');
  assert.equal(signals.finishedFor('b-2').length, n);

  const text = await gw.metrics();
  assert.equal(metricValue(text, 'karb_gateway_mirrored_requests_total', 'service="a",revision="a-2",outcome="error"'), n);
  assert.equal(metricValue(text, 'karb_gateway_mirrored_requests_total', 'service="b",revision="b-2",outcome="error"'), n);
  assert.equal(metricValue(text, 'karb_gateway_mirrored_requests_total', 'service="a",revision="a-2",outcome="ok"'), 0);
  for (const service of ['a', 'b']) {
    assert.equal(metricValue(text, 'karb_gateway_ejections_total', `service="${service}"`), 0, 'failing copies eject nothing');
    assert.equal(metricValue(text, 'karb_gateway_retry_budget_exhausted_total', `service="${service}"`), 0);
  }
  assert.doesNotMatch(text, /karb_gateway_retries_total\{/, 'failing copies are never retried');
});

test('0% copies nothing; 50% copies about half, with a seeded random source', async (t) => {
  const primary = await replica(t, answerWithName('primary'));
  const shadow = await replica(t, answerWithName('shadow'));
  const signals = recordingSink();
  const revisions = [revision('m-1', 100, [primary.url]), revision('m-2', 0, [shadow.url])];
  const { gw, table } = await gatewayFor(t, [withMirror(route('m', revisions), 'm-2', 0)], {
    signals: signals.sink,
    random: seededRandom(42),
  });
  for (let i = 0; i < 30; i++) assert.equal((await infer(gw, 'm')).status, 200);
  assert.equal(signals.startedFor('m-2'), 0, 'no copy was sent');
  assert.equal(shadow.seen.length, 0);

  table.replace([withMirror(route('m', revisions), 'm-2', 50)]);
  const n = 400;
  for (let i = 0; i < n; i++) assert.equal((await infer(gw, 'm')).status, 200);
  await signals.settled('m-2');
  const copies = shadow.seen.length;
  t.diagnostic(`copied ${copies} of ${n} at 50%`);
  assert.ok(copies > 0.35 * n && copies < 0.65 * n, `${copies} of ${n} copied at 50%`);
  assert.equal(signals.startedFor('m-2'), copies);
  assert.equal(metricValue(await gw.metrics(), 'karb_gateway_mirrored_requests_total', 'service="m",revision="m-2",outcome="ok"'), copies);
});

test('requests the split or the header sends to the mirror revision are not copied again', async (t) => {
  const primary = await replica(t, answerWithName('primary'));
  const canary = await replica(t, answerWithName('canary'));
  const signals = recordingSink();
  const { gw } = await gatewayFor(t, [withMirror(route('m', [revision('m-1', 50, [primary.url]), revision('m-2', 50, [canary.url])]), 'm-2', 100)], {
    signals: signals.sink,
    random: seededRandom(7),
  });
  const n = 60;
  let servedByPrimary = 0;
  for (let i = 0; i < n; i++) {
    const r = await infer(gw, 'm', { 'x-request-id': `req-${i}` });
    assert.equal(r.status, 200);
    if (r.headers[REVISION_HEADER] === 'm-1') servedByPrimary++;
  }
  for (let i = 0; i < 5; i++) assert.equal((await infer(gw, 'm', { [REVISION_HEADER]: 'm-2', 'x-request-id': `pin2-${i}` })).status, 200);
  for (let i = 0; i < 5; i++) assert.equal((await infer(gw, 'm', { [REVISION_HEADER]: 'm-1', 'x-request-id': `pin1-${i}` })).status, 200);
  await signals.settled('m-2');
  assert.ok(servedByPrimary > 0 && servedByPrimary < n, 'the split used both revisions');
  const copies = canary.seen.filter((s) => String(s.headers['x-request-id']).endsWith('-mirror'));
  assert.equal(copies.length, servedByPrimary + 5, 'one copy per request served by the other revision, none of the rest');
  assert.equal(canary.seen.length, n + 10, 'every request reached the mirror revision exactly once');
  assert.equal(copies.filter((s) => String(s.headers['x-request-id']).startsWith('pin1-')).length, 5);
});

test('a retried request is copied once', async (t) => {
  const drain = await replica(t, draining);
  const good = await replica(t, answerWithName('good'));
  const shadow = await replica(t, answerWithName('shadow'));
  const signals = recordingSink();
  const { gw } = await gatewayFor(t, [withMirror(route('m', [revision('m-1', 100, [drain.url, good.url]), revision('m-2', 0, [shadow.url])]), 'm-2', 100)], {
    signals: signals.sink,
  });
  const n = 30;
  for (let i = 0; i < n; i++) assert.equal((await infer(gw, 'm')).status, 200);
  await signals.settled('m-2');
  assert.ok(drain.seen.length >= 1, 'some requests were retried');
  assert.equal(shadow.seen.length, n);
});

test('copies in flight per service are bounded; past the bound they are skipped and counted', async (t) => {
  const primary = await replica(t, answerWithName('primary'));
  const held: ServerResponse[] = [];
  const shadow = await replica(t, (_req, res) => void held.push(res));
  const signals = recordingSink();
  const { gw } = await gatewayFor(t, [withMirror(route('m', [revision('m-1', 100, [primary.url]), revision('m-2', 0, [shadow.url])]), 'm-2', 100)], {
    signals: signals.sink,
    mirror: { maxInFlightPerService: 2 },
  });
  for (let i = 0; i < 5; i++) assert.equal((await infer(gw, 'm')).status, 200, 'a stuck mirror does not hold callers');
  assert.equal(signals.startedFor('m-2'), 2);
  let text = await gw.metrics();
  assert.equal(metricValue(text, 'karb_gateway_mirrored_requests_total', 'service="m",revision="m-2",outcome="skipped"'), 3);
  await waitFor('two copies at the mirror', () => held.length === 2);
  for (const res of held.splice(0)) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  }
  await signals.settled('m-2');
  assert.equal(metricValue(await gw.metrics(), 'karb_gateway_mirrored_requests_total', 'service="m",revision="m-2",outcome="ok"'), 2);
  // Room again once they finished.
  assert.equal((await infer(gw, 'm')).status, 200);
  assert.equal(signals.startedFor('m-2'), 3);
  await waitFor('the next copy at the mirror', () => held.length === 1);
  held[0]!.end();
  await signals.settled('m-2');
  text = await gw.metrics();
  assert.equal(metricValue(text, 'karb_gateway_mirrored_requests_total', 'service="m",revision="m-2",outcome="skipped"'), 3);
});
