/**
 * The gateway's spans with an in-memory exporter: which spans a request makes, the traceparent
 * a replica receives, what an unsampled caller or a health check costs (nothing recorded), and
 * the exemplar on the duration histogram. The same tree against a real OTLP receiver and model
 * server is test/tracing/tracing.e2e.test.ts.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { InMemorySpanExporter, ParentBasedSampler, AlwaysOnSampler, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { tracingFrom, type Tracing } from '../../observability/tracing/tracing.ts';
import { answerWithName, gatewayFor, httpClient, replica, revision, route, unusedPort } from './test-support.ts';

function memoryTracing(t: TestContext): { tracing: Tracing; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  t.after(() => provider.shutdown());
  const tracing: Tracing = tracingFrom(provider, { url: 'http://unused.invalid/v1/traces', sampler: 'parentbased_always_on', ratio: 1, resource: {} });
  return { tracing, exporter };
}

/**
 * One inference request through a gateway whose replica fails the first call as `fail` does and
 * answers the next; the finished spans, and the requests the replica saw.
 */
async function retriedOnce(t: TestContext, fail: (res: ServerResponse) => void) {
  const { tracing, exporter } = memoryTracing(t);
  let calls = 0;
  const r = await replica(t, (_req, res) => {
    if (calls++ === 0) fail(res);
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [r.url])])], { tracing });
  const client = httpClient();
  t.after(() => client.close());
  assert.equal((await client.send(`${gw.url}/v2/models/m/infer`, { method: 'POST', body: '{}' })).status, 200);
  await tracing.flush();
  return { spans: exporter.getFinishedSpans(), seen: r.seen };
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER = '00f067aa0ba902b7';

describe('gateway spans', () => {
  it('joins the caller’s trace, sends the replica the attempt’s traceparent, and records edge, route and the attempt', async (t) => {
    const { tracing, exporter } = memoryTracing(t);
    const r = await replica(t, answerWithName('a'));
    const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [r.url])])], { tracing, metricsPort: 0 });
    const client = httpClient();
    t.after(() => client.close());
    const reply = await client.send(`${gw.url}/v2/models/m/infer`, { method: 'POST', body: '{}', headers: { traceparent: `00-${TRACE}-${CALLER}-01`, tracestate: 'vendor=1', authorization: 'Bearer karb_secret' } });
    assert.equal(reply.status, 200);
    await tracing.flush();

    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.parentSpanContext?.spanId === CALLER);
    assert.ok(root, 'a root whose parent is the caller');
    assert.equal(root.name, 'POST /v2/models/{model}/infer');
    const under = spans.filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId).map((s) => s.name).sort();
    assert.deepEqual(under, ['karb.edge', 'karb.route', 'karb.upstream']);
    const attempt = spans.find((s) => s.name === 'karb.upstream')!;
    assert.equal(attempt.attributes['http.response.status_code'], 200);
    assert.equal(r.seen[0]!.headers.traceparent, `00-${TRACE}-${attempt.spanContext().spanId}-01`);
    assert.equal(r.seen[0]!.headers.tracestate, 'vendor=1');
    for (const s of spans) for (const v of Object.values(s.attributes)) assert.ok(!String(v).includes('karb_secret'));

    const plain = await gw.metrics();
    assert.ok(!plain.includes('trace_id'), 'no exemplar in the plain text');
    const open = await (await fetch(`${gw.metricsUrl}/metrics`, { headers: { accept: 'application/openmetrics-text' } })).text();
    assert.match(open, new RegExp(`_bucket\\{le="[^"]+",service="m",revision="m-1"\\} 1 # \\{trace_id="${TRACE}"\\}`));
  });

  it('records nothing for a caller that did not sample, yet passes the decision on; nothing for a health check', async (t) => {
    const { tracing, exporter } = memoryTracing(t);
    const r = await replica(t, answerWithName('a'));
    const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [r.url])])], { tracing, metricsPort: 0 });
    const client = httpClient();
    t.after(() => client.close());
    assert.equal((await client.send(`${gw.url}/v2/models/m/infer`, { method: 'POST', body: '{}', headers: { traceparent: `00-${TRACE}-${CALLER}-00` } })).status, 200);
    assert.equal((await client.send(`${gw.url}/v2/health/ready`)).status, 200);
    await tracing.flush();
    assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name), []);
    assert.match(String(r.seen[0]!.headers.traceparent), new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
    const open = await (await fetch(`${gw.metricsUrl}/metrics`, { headers: { accept: 'application/openmetrics-text' } })).text();
    assert.ok(!open.includes('trace_id'), 'an unsampled trace is no exemplar');
  });

  it('records a failed attempt, the retry and the next attempt', async (t) => {
    const { spans, seen } = await retriedOnce(t, (res) => res.writeHead(503).end('{"error":"draining"}'));
    const attempts = spans.filter((s) => s.name === 'karb.upstream').map((s) => [s.attributes['karb.attempt'], s.attributes['http.response.status_code'], s.attributes['karb.retry.reason'] !== undefined]);
    assert.deepEqual(attempts.sort(), [[1, 503, true], [2, 200, false]]);
    assert.equal(spans.filter((s) => s.name === 'karb.retry').length, 1);
    // Each attempt's traceparent names its own span.
    const sent = seen.map((s) => String(s.headers.traceparent).split('-')[2]);
    assert.deepEqual(sent, spans.filter((s) => s.name === 'karb.upstream').sort((a, b) => Number(a.attributes['karb.attempt']) - Number(b.attributes['karb.attempt'])).map((s) => s.spanContext().spanId));
  });

  it('names the retry’s reason on an attempt whose connection was reset before its answer', async (t) => {
    const { spans } = await retriedOnce(t, (res) => res.socket!.destroy());
    const attempts = spans.filter((s) => s.name === 'karb.upstream').sort((a, b) => Number(a.attributes['karb.attempt']) - Number(b.attributes['karb.attempt']));
    assert.deepEqual(attempts.map((s) => [s.attributes['karb.attempt'], s.attributes['karb.retry.reason'], s.attributes['http.response.status_code']]), [[1, 'reset', undefined], [2, undefined, 200]]);
    assert.ok(attempts[0]!.attributes['error.type'] !== undefined, 'the reset attempt says how it failed');
  });

  it('names the retry’s reason on every attempt refused a connection, and none on the last one', async (t) => {
    const { tracing, exporter } = memoryTracing(t);
    const dead = `http://127.0.0.1:${await unusedPort()}`;
    const { gw } = await gatewayFor(t, [route('m', [revision('m-1', 100, [dead])])], { tracing });
    const client = httpClient();
    t.after(() => client.close());
    assert.equal((await client.send(`${gw.url}/v2/models/m/infer`, { method: 'POST', body: '{}' })).status, 502);
    await tracing.flush();
    const attempts = exporter.getFinishedSpans().filter((s) => s.name === 'karb.upstream').sort((a, b) => Number(a.attributes['karb.attempt']) - Number(b.attributes['karb.attempt']));
    const reasons = attempts.map((s) => s.attributes['karb.retry.reason']);
    assert.ok(attempts.length >= 2, `retried at least once: ${attempts.length} attempts`);
    assert.deepEqual(reasons, [...reasons.slice(0, -1).map(() => 'connect'), undefined]);
    for (const a of attempts) assert.equal(a.attributes['error.type'], 'ECONNREFUSED');
  });
});
