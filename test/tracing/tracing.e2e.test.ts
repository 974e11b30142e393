/**
 * Traces from the gateway to the model, received by a real OpenTelemetry Collector (built from
 * the Go module proxy: collector.ts). One request with the caller's `traceparent` goes through a
 * gateway (tracing on, in this process) to a replica that answers its first attempt 503 and
 * forwards the retry to a real `karb serve` (tracing on through OTEL_* variables, its own
 * process). The test reads the spans back from the collector and checks the whole tree, the
 * joins across processes, that no secret reached an attribute, the duration histogram's
 * exemplar, and that a caller's unsampled trace is not recorded anywhere. Then the same join in
 * a whole `karb up`, whose replicas inherit its OTEL_* variables.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ensureCollector, startCollector, type Collector, type ReceivedSpan } from './collector.ts';
import { startGateway, type Gateway } from '../../src/gateway/server/gateway.ts';
import { InMemoryRoutingTable } from '../../src/gateway/discovery/routing-table.ts';
import { startTracing, type Tracing } from '../../src/observability/tracing/start.ts';
import { CLI, MODELS, NODE, REPO_ROOT, ensureModels } from '../../src/serving/test-helpers.ts';
import { waitFor } from '../../src/util/wait-for.ts';
import { listen } from '../../src/util/http.ts';
import type { AddressInfo } from 'node:net';
import { karb, ROOT, startKarbUp, workDir, type KarbUp } from '../helpers.ts';

const SECRET = 'Bearer karb_tracetest_do-not-record-me';
const BODY = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [0.11, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] }] });

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

describe('traces from the gateway to the model, in a real OTLP receiver', () => {
  let dir: string;
  let collector: Collector;
  let serve: ChildProcess;
  let flaky: http.Server;
  let gateway: Gateway;
  let tracing: Tracing | undefined;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'karb-tracing-'));
    const [binary] = await Promise.all([ensureCollector((line) => console.error(line)), ensureModels()]);
    collector = await startCollector(binary, dir);
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_TRACES_SAMPLER: 'parentbased_always_on' };

    serve = spawn(NODE, [CLI, 'serve', '--model', MODELS.fraudV1, '--name', 'fraud', '--port', '0'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...otel },
    });
    const lines: Array<Record<string, unknown>> = [];
    createInterface({ input: serve.stdout! }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const listening = await waitFor('karb serve to listen', () => lines.find((l) => l.msg === 'listening') ?? (serve.exitCode !== null && { exited: true }), 60_000);
    assert.ok(!('exited' in listening), 'karb serve started');
    const serveUrl = String(listening.url);

    // A replica whose first answer is a draining 503: the gateway retries, and the retry reaches the model.
    let calls = 0;
    flaky = http.createServer((req, res) => {
      if (calls++ === 0) {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"draining"}');
        req.resume();
        return;
      }
      const onward = http.request(`${serveUrl}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(onward);
    });
    await listen(flaky, 0, '127.0.0.1', 'the flaky replica');
    const flakyUrl = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`;

    tracing = await startTracing({ serviceName: 'karb-gateway', env: otel, warn: (m) => assert.fail(`unexpected tracing warning: ${m}`), scheduledDelayMs: 50 });
    assert.ok(tracing, 'tracing is on with an endpoint set');
    const table = new InMemoryRoutingTable();
    table.replace([
      { model: 'fraud', namespace: 'default', service: 'fraud', format: 'oip', revisions: [{ revision: 'fraud-00001', weight: 100, endpoints: [{ replica: 'fraud-00001-r0', url: flakyUrl }] }] },
    ]);
    gateway = await startGateway({ routingTable: table, port: 0, metricsPort: 0, tracing });
  });

  after(async () => {
    await gateway?.close();
    await tracing?.shutdown();
    flaky?.close();
    if (serve && serve.exitCode === null) {
      const exited = new Promise((resolve) => serve.once('exit', resolve));
      serve.kill('SIGTERM');
      await exited;
    }
    await collector?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function infer(traceparent: string): Promise<number> {
    const r = await fetch(`${gateway.url}/v2/models/fraud/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent, authorization: SECRET },
      body: BODY,
    });
    await r.arrayBuffer();
    return r.status;
  }

  it('records one request as one tree: edge, route, two attempts with a retry between, and the model server’s queue, batch and inference', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    assert.equal(await infer(`00-${traceId}-${callerSpan}-01`), 200);
    await tracing!.flush();

    const names = ['POST /v2/models/{model}/infer', 'karb.edge', 'karb.route', 'karb.upstream', 'karb.retry', 'karb.queue', 'karb.batch', 'karb.inference'];
    // karb serve exports in the background (every second): wait for its spans to arrive.
    const spans = await waitFor('the trace’s spans at the collector', () => {
      const got = collector.spans().filter((s) => s.traceId === traceId);
      const serverRoots = got.filter((s) => s.service === 'karb-serve' && s.kind === 2);
      return names.every((n) => got.some((s) => s.name === n)) && serverRoots.length === 1 && got.some((s) => s.name === 'karb.inference') ? got : undefined;
    }, 60_000);

    const one = (predicate: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan => {
      const found = spans.filter(predicate);
      assert.equal(found.length, 1, `exactly one ${what}; spans: ${spans.map((s) => `${s.service}/${s.name}`).join(', ')}`);
      return found[0]!;
    };
    const root = one((s) => s.service === 'karb-gateway' && s.kind === 2, 'gateway root');
    assert.equal(root.name, 'POST /v2/models/{model}/infer');
    assert.equal(root.parentSpanId, callerSpan, "the caller's traceparent is the gateway root's parent");
    assert.equal(root.attributes['http.response.status_code'], 200);
    assert.equal(root.attributes['karb.service'], 'fraud');
    assert.equal(root.attributes['karb.revision'], 'fraud-00001');
    assert.equal(root.attributes['karb.attempts'], 2);

    const children = (parent: ReceivedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId);
    const gatewayChildren = children(root).filter((s) => s.service === 'karb-gateway');
    assert.deepEqual(gatewayChildren.map((s) => s.name).sort(), ['karb.edge', 'karb.retry', 'karb.route', 'karb.upstream', 'karb.upstream']);
    const attempts = gatewayChildren.filter((s) => s.name === 'karb.upstream').sort((a, b) => Number(a.attributes['karb.attempt']) - Number(b.attributes['karb.attempt']));
    assert.deepEqual(attempts.map((a) => [a.kind, a.attributes['karb.attempt'], a.attributes['http.response.status_code']]), [[3, 1, 503], [3, 2, 200]]);
    assert.equal(attempts[0]!.attributes['karb.retry.reason'], one((s) => s.name === 'karb.retry', 'retry').attributes['karb.retry.reason']);
    assert.equal(attempts[0]!.status, 2, 'the 503 attempt is an error');
    // The spans follow the request in time: edge, route, first attempt, backoff, second attempt.
    const [edge, route, retry] = ['karb.edge', 'karb.route', 'karb.retry'].map((n) => one((s) => s.name === n, n));
    assert.ok(edge!.endNanos <= route!.startNanos && route!.endNanos <= attempts[0]!.startNanos + 1000n);
    assert.ok(attempts[0]!.endNanos <= retry!.endNanos && retry!.endNanos <= attempts[1]!.startNanos + 1000n);

    // Across the process boundary: the model server's root is the second attempt's child.
    const serverRoot = one((s) => s.service === 'karb-serve' && s.kind === 2, 'model server root');
    assert.equal(serverRoot.parentSpanId, attempts[1]!.spanId, "the model server's root is joined to the attempt that reached it");
    assert.equal(serverRoot.name, 'POST /v2/models/{model}/infer');
    assert.equal(serverRoot.attributes['http.response.status_code'], 200);
    assert.deepEqual(children(serverRoot).map((s) => s.name).sort(), ['karb.batch', 'karb.queue']);
    const batch = one((s) => s.name === 'karb.batch', 'batch');
    assert.equal(batch.attributes['karb.batch.rows'], 1);
    assert.deepEqual(children(batch).map((s) => s.name), ['karb.inference']);

    // No secret and no body in any attribute.
    for (const s of spans) {
      for (const [key, value] of Object.entries(s.attributes)) {
        assert.ok(!String(value).includes('karb_tracetest'), `${s.name} ${key} holds the Authorization header`);
        assert.ok(!String(value).includes('0.11'), `${s.name} ${key} holds the request body`);
      }
    }

    // The duration histogram's bucket carries the trace as an exemplar, for a scraper that asks for OpenMetrics.
    const open = await fetch(`${gateway.metricsUrl}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    assert.match(open.headers.get('content-type') ?? '', /^application\/openmetrics-text/);
    const openText = await open.text();
    assert.match(openText, new RegExp(`karb_gateway_request_duration_seconds_bucket\\{le="[^"]+",service="fraud",revision="fraud-00001"\\} \\d+ # \\{trace_id="${traceId}"\\} [0-9.e-]+ [0-9.]+\\n`));
    assert.ok(openText.endsWith('# EOF\n'));
    const plain = await (await fetch(`${gateway.metricsUrl}/metrics`)).text();
    assert.ok(!plain.includes('trace_id') && !plain.includes('# EOF'), 'the plain text format carries no exemplars');
  });

  it("records nothing, in either process, of a request whose caller's traceparent is not sampled", async () => {
    const unsampled = hex(16);
    assert.equal(await infer(`00-${unsampled}-${hex(8)}-00`), 200);
    // A sampled request after it: once its spans from both processes arrived, the earlier request's would have too.
    const marker = hex(16);
    assert.equal(await infer(`00-${marker}-${hex(8)}-01`), 200);
    await tracing!.flush();
    await waitFor('the sampled request’s spans from both processes', () => {
      const got = collector.spans().filter((s) => s.traceId === marker);
      return got.some((s) => s.service === 'karb-gateway' && s.kind === 2) && got.some((s) => s.name === 'karb.inference');
    }, 60_000);
    assert.deepEqual(collector.spans().filter((s) => s.traceId === unsampled), []);
  });
});

describe('traces in karb up: the platform’s gateway and the replicas it starts', () => {
  let dir: string;
  let collector: Collector;
  let work: ReturnType<typeof workDir>;
  let up: KarbUp | undefined;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'karb-tracing-up-'));
    const [binary] = await Promise.all([ensureCollector((line) => console.error(line)), ensureModels()]);
    collector = await startCollector(binary, dir);
    work = workDir();
    // karb up reads the variables at start; its replicas inherit them (runtime/local/replica-command.ts).
    const saved = { ...process.env };
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = collector.endpoint;
    process.env.OTEL_SERVICE_NAME = 'karb-up-gateway';
    try {
      up = await startKarbUp(work.dir);
    } finally {
      for (const k of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SERVICE_NAME']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
    const applied = await karb(['apply', '-f', path.join(ROOT, 'examples', 'fraud-detector.yaml'), '--server', up.controlUrl], { cwd: work.dir });
    assert.equal(applied.code, 0, applied.stderr);
  });

  after(async () => {
    await up?.stop();
    await collector?.stop();
    work?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('joins the gateway’s spans and the replica’s in one trace, each under its own service name', async () => {
    const u = up!;
    await waitFor('fraud-detector to answer', async () => {
      const r = await fetch(`${u.gatewayUrl}/v2/models/fraud-detector/infer`, { method: 'POST', headers: u.auth, body: BODY });
      await r.arrayBuffer();
      return r.status === 200;
    }, 60_000);
    const traceId = hex(16);
    const r = await fetch(`${u.gatewayUrl}/v2/models/fraud-detector/infer`, { method: 'POST', headers: { ...u.auth, traceparent: `00-${traceId}-${hex(8)}-01` }, body: BODY });
    await r.arrayBuffer();
    assert.equal(r.status, 200);
    const spans = await waitFor('the request’s spans from the gateway and the replica', () => {
      const got = collector.spans().filter((s) => s.traceId === traceId);
      return got.some((s) => s.service === 'karb-up-gateway' && s.kind === 2) && got.some((s) => s.name === 'karb.inference') ? got : undefined;
    }, 60_000);
    const attempt = spans.find((s) => s.name === 'karb.upstream');
    const served = spans.find((s) => s.service === 'karb-serve' && s.kind === 2);
    assert.ok(attempt && served, spans.map((s) => `${s.service}/${s.name}`).join(', '));
    assert.equal(served.parentSpanId, attempt.spanId);
    for (const s of spans) for (const v of Object.values(s.attributes)) assert.ok(!String(v).includes(u.apiKey), `${s.name} holds the API key`);
  });
});
