import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { loadOnnxModel, type ModelSession } from './onnx-model.ts';
import { startModelServer, type ModelServer, type ModelServerOptions } from './server.ts';
import { ensureModels, metricValue, MODELS, withRun } from './test-helpers.ts';
import { waitFor } from '../util/wait-for.ts';
import { createDriftMonitor } from './drift.ts';
import { freePort } from '../util/free-port.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** Feature rows unique to request `k`: no two requests (or rows) share values. */
function featureRows(k: number, rows: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: 8 }, (_, c) => Math.fround(Math.sin(k * 12.9898 + r * 78.233 + c * 37.719) * 3)));
}

function inferBody(rows: number[][], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...extra, inputs: [{ name: 'features', datatype: 'FP32', shape: [rows.length, 8], data: rows }] });
}

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

async function call(url: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Prometheus text and the like stay strings.
  }
  return { status: res.status, headers: res.headers, body };
}

const post = (url: string, body: string) => call(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });

/** Sends the headers and part of an infer body, keeping the request open until `finish()` is called. */
function openPartialRequest(url: string, body: string) {
  const cut = Math.floor(body.length / 2);
  let finish = () => {};
  const reply = new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.write(body.slice(0, cut));
    finish = () => req.end(body.slice(cut));
  });
  return { reply, finish: () => finish() };
}

describe('model server over HTTP (fraud-v1, real ONNX Runtime)', () => {
  let model: ModelSession;
  let reference: InferenceSession;
  const servers: ModelServer[] = [];

  async function start(options: Partial<ModelServerOptions> = {}): Promise<ModelServer> {
    const server = await startModelServer({ model, name: 'fraud-v1', port: 0, ...options });
    servers.push(server);
    return server;
  }

  /** Probabilities straight from an in-process ONNX Runtime session on the same rows. */
  async function expected(rows: number[][]): Promise<Float32Array> {
    const out = await reference.run({ features: new Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 8]) });
    return out.probability!.data as Float32Array;
  }

  before(async () => {
    await ensureModels();
    model = await loadOnnxModel(MODELS.fraudV1, { intraOpThreads: 1 });
    reference = await InferenceSession.create(MODELS.fraudV1, { intraOpNumThreads: 1 });
  });

  after(async () => {
    for (const s of servers) await s.close();
    await model?.close();
    await reference?.release();
  });

  describe('with default settings', () => {
    let server: ModelServer;
    before(async () => {
      server = await start();
    });

    it('answers health, server and model metadata', async () => {
      assert.deepEqual((await call(`${server.url}/v2/health/live`)).body, { live: true });
      assert.deepEqual((await call(`${server.url}/v2/health/ready`)).body, { ready: true });
      assert.equal((await call(`${server.url}/v2/models/fraud-v1/ready`)).status, 200);
      assert.equal((await call(`${server.url}/v2/models/fraud-v1/versions/1/ready`)).status, 200);
      const v2 = await call(`${server.url}/v2`);
      assert.equal(v2.body.name, 'karb');
      const meta = await call(`${server.url}/v2/models/fraud-v1`);
      assert.equal(meta.status, 200);
      assert.deepEqual(meta.body, {
        name: 'fraud-v1',
        versions: ['1'],
        platform: 'onnxruntime',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 8] }],
        outputs: [{ name: 'probability', datatype: 'FP32', shape: [-1, 1] }],
      });
    });

    it('answers exactly what ONNX Runtime computes for the same rows, with id echoed and queue depth header', async () => {
      const rows = featureRows(1, 5);
      const want = await expected(rows);
      for (const path of ['/v2/models/fraud-v1/infer', '/v2/models/fraud-v1/versions/1/infer']) {
        const reply = await post(server.url + path, inferBody(rows, { id: 'tx-42' }));
        assert.equal(reply.status, 200, JSON.stringify(reply.body));
        assert.match(reply.headers.get('x-karb-queue-depth') ?? '', /^\d+$/);
        assert.match(reply.headers.get('x-karb-queue-ms') ?? '', /^\d+(\.\d+)?$/);
        assert.equal(reply.body.model_name, 'fraud-v1');
        assert.equal(reply.body.id, 'tx-42');
        const [out] = reply.body.outputs;
        assert.equal(out.name, 'probability');
        assert.equal(out.datatype, 'FP32');
        assert.deepEqual(out.shape, [5, 1]);
        assert.deepEqual(Float32Array.from(out.data), want);
      }
      const filtered = await post(`${server.url}/v2/models/fraud-v1/infer`, inferBody(rows, { outputs: [{ name: 'probability' }] }));
      assert.equal(filtered.body.outputs.length, 1);
    });

    it('speaks the binary tensor data extension both ways', async () => {
      const rows = featureRows(7, 4);
      const header = JSON.stringify({
        inputs: [{ name: 'features', datatype: 'FP32', shape: [4, 8], parameters: { binary_data_size: 128 } }],
        parameters: { binary_data_output: true },
      });
      const values = Float32Array.from(rows.flat());
      const res = await fetch(`${server.url}/v2/models/fraud-v1/infer`, {
        method: 'POST',
        body: Buffer.concat([Buffer.from(header), Buffer.from(values.buffer)]),
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(Buffer.byteLength(header)) },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      const body = Buffer.from(await res.arrayBuffer());
      const jsonLength = Number(res.headers.get('inference-header-content-length'));
      assert.deepEqual(JSON.parse(body.toString('utf8', 0, jsonLength)).outputs, [
        { name: 'probability', datatype: 'FP32', shape: [4, 1], parameters: { binary_data_size: 16 } },
      ]);
      assert.deepEqual(new Float32Array(Uint8Array.from(body.subarray(jsonLength)).buffer), await expected(rows));

      const badHeader = await call(`${server.url}/v2/models/fraud-v1/infer`, {
        method: 'POST',
        body: Buffer.concat([Buffer.from(header), Buffer.from(values.buffer)]),
        headers: { 'inference-header-content-length': '100000' },
      });
      assert.equal(badHeader.status, 400);
      assert.match(badHeader.body.error, /Inference-Header-Content-Length must be the byte length of the JSON part of the body \(0 to \d+\), got "100000"/);
    });

    const bad: Array<{ name: string; method?: string; path?: string; body?: string; status: number; error: RegExp; allow?: string }> = [
      { name: 'unknown model', method: 'GET', path: '/v2/models/nope', status: 404, error: /model 'nope' is not served here; this server serves 'fraud-v1'/ },
      { name: 'infer on an unknown model', path: '/v2/models/nope/infer', body: inferBody(featureRows(0, 1)), status: 404, error: /model 'nope' is not served here/ },
      { name: 'unknown version', method: 'GET', path: '/v2/models/fraud-v1/versions/7', status: 404, error: /model 'fraud-v1' has no version '7'; versions: 1/ },
      { name: 'unknown route', method: 'GET', path: '/v3/anything', status: 404, error: /no route \/v3\/anything/ },
      { name: 'GET on infer', method: 'GET', path: '/v2/models/fraud-v1/infer', status: 405, error: /GET is not allowed on \/v2\/models\/fraud-v1\/infer; use POST/, allow: 'POST' },
      { name: 'POST on readiness', method: 'POST', path: '/v2/health/ready', body: '{}', status: 405, error: /POST is not allowed on \/v2\/health\/ready; use GET/, allow: 'GET' },
      { name: 'malformed JSON', body: '{"inputs": [', status: 400, error: /request body is not valid JSON/ },
      { name: 'unknown input name', body: inferBody(featureRows(0, 1)).replace('"features"', '"feature"'), status: 400, error: /unknown input 'feature'; the model takes 'features' \(FP32 \[-1, 8\]\)/ },
      { name: 'no inputs', body: '{"inputs":[]}', status: 400, error: /"inputs" must be a non-empty array of tensors, got an array of 0; the model takes 'features'/ },
      { name: 'wrong datatype', body: inferBody(featureRows(0, 1)).replace('FP32', 'INT32'), status: 400, error: /input 'features': expected datatype FP32, got INT32/ },
      { name: 'wrong rank', body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [8], data: featureRows(0, 1)[0] }] }), status: 400, error: /input 'features': expected shape \[-1, 8\] \(rank 2\), got \[8\] \(rank 1\)/ },
      { name: 'wrong feature count', body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 9], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] }] }), status: 400, error: /input 'features': dimension 1 must be 8 \(expected shape \[-1, 8\]\), got \[1, 9\]/ },
      { name: 'data shorter than the shape', body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [2, 8], data: featureRows(0, 1) }] }), status: 400, error: /input 'features': shape \[2, 8\] needs 16 values, got 8/ },
      { name: 'non-numeric value', body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 8], data: [1, 2, 3, 'four', 5, 6, 7, 8] }] }), status: 400, error: /input 'features': value 3 \(in row-major order\) is the string "four"; FP32 expects a number/ },
    ];

    for (const c of bad) {
      it(`answers ${c.status} for ${c.name}, as {"error": ...}`, async () => {
        const reply = await call(server.url + (c.path ?? '/v2/models/fraud-v1/infer'), {
          method: c.method ?? 'POST',
          ...(c.body === undefined ? {} : { body: c.body }),
        });
        assert.equal(reply.status, c.status, JSON.stringify(reply.body));
        assert.deepEqual(Object.keys(reply.body), ['error']);
        assert.match(reply.body.error, c.error);
        assert.doesNotMatch(reply.body.error, /\bat .*\.ts:\d+/, 'no stack trace');
        if (c.allow !== undefined) assert.equal(reply.headers.get('allow'), c.allow);
      });
    }

    it('serves Prometheus metrics with karb_serving_ names, and stays up after every bad request', async () => {
      const reply = await call(`${server.url}/metrics`);
      assert.equal(reply.status, 200);
      assert.match(reply.headers.get('content-type') ?? '', /^text\/plain/);
      const text = reply.body as string;
      assert.ok((metricValue(text, 'karb_serving_requests_total', { route: 'infer', code: '200' }) ?? 0) >= 2);
      assert.ok((metricValue(text, 'karb_serving_requests_total', { route: 'infer', code: '400' }) ?? 0) >= 1);
      for (const name of [
        'karb_serving_request_duration_seconds_count',
        'karb_serving_batch_rows_count',
        'karb_serving_inference_duration_seconds_count',
        'karb_serving_queue_rows',
        'karb_serving_queue_requests',
        'karb_serving_inflight_requests',
      ]) {
        assert.notEqual(metricValue(text, name, { model: 'fraud-v1' }), undefined, `${name} is exported`);
      }
      assert.equal((await call(`${server.url}/v2/health/live`)).status, 200);
    });
  });

  it('refuses a body over the limit with 413, from Content-Length or while reading a chunked body', async () => {
    const server = await start({ bodyLimitBytes: 2048 });
    const big = inferBody(featureRows(3, 40));
    assert.ok(Buffer.byteLength(big) > 2048);
    const declared = await post(`${server.url}/v2/models/fraud-v1/infer`, big);
    assert.equal(declared.status, 413);
    assert.match(declared.body.error, /request body of \d+ bytes is over the limit of 2048 bytes; send fewer rows per request/);

    const chunked = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = http.request(`${server.url}/v2/models/fraud-v1/infer`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.write(big.slice(0, 1500));
      req.end(big.slice(1500));
    });
    assert.equal(chunked.status, 413);
    assert.match(chunked.body.error, /request body is over the limit of 2048 bytes/);
    assert.equal((await post(`${server.url}/v2/models/fraud-v1/infer`, inferBody(featureRows(3, 2)))).status, 200);
  });

  it('batches concurrent clients into shared runs and gives each client exactly its own rows', async () => {
    // The first request runs at once (the model is idle); each run takes 20 ms, so the 40 requests, sent
    // together, meet in the queue behind it, and batches are handed over as 16 rows gather.
    const server = await start({ maxBatchSize: 16, maxDelayMs: 500, injectLatencyMs: 20 });
    const requests = Array.from({ length: 40 }, (_, k) => featureRows(100 + k, 1 + (k % 3)));
    const wants = await Promise.all(requests.map((rows) => expected(rows)));
    const replies = await Promise.all(requests.map((rows, k) => post(`${server.url}/v2/models/fraud-v1/infer`, inferBody(rows, { id: `client-${k}` }))));
    replies.forEach((reply, k) => {
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.id, `client-${k}`);
      const [out] = reply.body.outputs;
      assert.deepEqual(out.shape, [requests[k]!.length, 1]);
      const got = Float32Array.from(out.data as number[]);
      const want = wants[k]!;
      assert.equal(got.length, want.length);
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-6, `client ${k} row ${i}: got ${v}, want ${want[i]}`));
    });
    const text = (await call(`${server.url}/metrics`)).body as string;
    const runs = metricValue(text, 'karb_serving_batch_requests_count')!;
    const singleRequestRuns = metricValue(text, 'karb_serving_batch_requests_bucket', { le: '1' })!;
    assert.ok(runs < 40, `40 requests ran in ${runs} model runs`);
    assert.ok(singleRequestRuns < runs, 'some runs merged requests from several clients');
    assert.ok(metricValue(text, 'karb_serving_batch_rows_bucket', { le: '1' })! < metricValue(text, 'karb_serving_batch_rows_count')!, 'batch-size histogram saw batches above 1');
  });

  it('says how long each request waited for its batch to begin (x-karb-queue-ms): longer behind a busy batch', async () => {
    // Runs go one at a time, as on the model's thread; the run after `holdNext` is set waits for `release`.
    let runs = 0;
    let holdNext = false;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let previous: Promise<unknown> = Promise.resolve();
    const gated = withRun(model, (feeds) => {
      runs++;
      const held = holdNext;
      holdNext = false;
      const result = previous.then(() => (held ? gate : undefined)).then(() => model.run(feeds));
      previous = result.catch(() => undefined);
      return result;
    });
    const server = await start({ model: gated, maxBatchSize: 1, maxDelayMs: 0 });
    const url = `${server.url}/v2/models/fraud-v1/infer`;
    const queueMs = (r: Reply): number => {
      const value = r.headers.get('x-karb-queue-ms') ?? '';
      assert.match(value, /^\d+(\.\d+)?$/);
      return Number(value);
    };

    const lone = await post(url, inferBody(featureRows(500, 1)));
    assert.equal(lone.status, 200);
    const idle = queueMs(lone);

    holdNext = true;
    const busy = post(url, inferBody(featureRows(501, 1)));
    await waitFor('the busy batch to run', () => runs === 2);
    // One request is handed to the model behind the busy batch (the pipeline's second slot), one waits in the queue.
    const behind = post(url, inferBody(featureRows(502, 1)));
    await waitFor('a batch handed over behind it', () => runs === 3);
    const queued = post(url, inferBody(featureRows(503, 1)));
    await waitFor('a request in the queue', () => server.queuedRows === 1);
    const heldMs = 200;
    await sleep(heldMs);
    release();
    const [first, second, third] = await Promise.all([busy, behind, queued]);
    for (const r of [first, second, third]) assert.equal(r.status, 200);
    assert.ok(queueMs(first) < heldMs, `the busy batch began at once: ${queueMs(first)} ms`);
    assert.ok(queueMs(second) >= heldMs, `handed over, it still waited for the busy batch: ${queueMs(second)} ms`);
    assert.ok(queueMs(third) >= heldMs, `queued, it waited for both: ${queueMs(third)} ms`);
    assert.ok(idle < queueMs(second), `a lone request on an idle model waits less (${idle} ms)`);
  });

  it('answers 503 with Retry-After when the queue is full', async () => {
    // One row per run, each run slowed by fault injection, room for 4 rows in the queue.
    const server = await start({ maxBatchSize: 1, maxDelayMs: 0, maxQueueRows: 4, injectLatencyMs: 250 });
    const requests = Array.from({ length: 12 }, (_, k) => featureRows(200 + k, 1));
    const replies = await Promise.all(requests.map((rows) => post(`${server.url}/v2/models/fraud-v1/infer`, inferBody(rows))));
    const full = replies.filter((r) => r.status === 503);
    const ok = replies.filter((r) => r.status === 200);
    assert.equal(full.length + ok.length, 12, `only 200 and 503: ${replies.map((r) => r.status).join(',')}`);
    assert.ok(full.length >= 1, 'some requests found the queue full');
    assert.ok(ok.length >= 6, 'the running batch, the one handed over behind it, and a full queue were served');
    for (const r of full) {
      assert.equal(r.headers.get('retry-after'), '1');
      assert.match(r.body.error, /inference queue is full: \d+ rows waiting, this request adds 1, the limit is 4/);
      assert.match(r.headers.get('x-karb-queue-depth') ?? '', /^\d+$/);
      assert.equal(r.headers.get('x-karb-queue-ms'), null, 'refused before it queued: no wait to report');
    }
    for (const [k, r] of replies.entries()) {
      if (r.status === 200) assert.deepEqual(Float32Array.from(r.body.outputs[0].data), await expected(requests[k]!));
    }
    const text = (await call(`${server.url}/metrics`)).body as string;
    assert.equal(metricValue(text, 'karb_serving_requests_total', { route: 'infer', code: '503' }), full.length);
  });

  it('answers 500 to the injected share of requests (fault injection)', async () => {
    const draws = [0.1, 0.9, 0.2, 0.8];
    let i = 0;
    const server = await start({ injectErrorRate: 0.5, random: () => draws[i++ % draws.length]! });
    const statuses: number[] = [];
    for (let k = 0; k < 4; k++) {
      const reply = await post(`${server.url}/v2/models/fraud-v1/infer`, inferBody(featureRows(k, 1)));
      statuses.push(reply.status);
      if (reply.status === 500) assert.match(reply.body.error, /injected fault/);
    }
    assert.deepEqual(statuses, [500, 200, 500, 200]);
  });

  it('injects faults only while injectWhile says so (a test turns a healthy revision bad and back)', async () => {
    let on = false;
    const server = await start({ injectErrorRate: 1, injectWhile: () => on });
    const status = async () => (await post(`${server.url}/v2/models/fraud-v1/infer`, inferBody(featureRows(0, 1)))).status;
    assert.equal(await status(), 200);
    on = true;
    assert.equal(await status(), 500);
    on = false;
    assert.equal(await status(), 200);
  });

  it('warms up before it reports ready, on requests it leaves out of metrics, drift and fault injection', async () => {
    const runs: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const counting = withRun(model, async (feeds) => {
      if (runs.length === 0) await gate;
      runs.push(feeds.features!.dims[0]!);
      return model.run(feeds);
    });
    const drift = createDriftMonitor(model, { learnRows: 10 })!;
    const port = await freePort();
    const starting = start({ model: counting, port, warmupRequests: 8, maxBatchSize: 4, injectErrorRate: 1, drift });
    const ready = await waitFor('the server to answer while it warms up', () => call(`http://127.0.0.1:${port}/v2/health/ready`).catch(() => undefined));
    assert.deepEqual(ready, { status: 503, headers: ready.headers, body: { ready: false, error: 'the model server is warming up' } });
    const early = await post(`http://127.0.0.1:${port}/v2/models/fraud-v1/infer`, inferBody(featureRows(1, 1)));
    assert.equal(early.status, 503, 'a request that is not its own waits for it to be ready');
    assert.equal(early.headers.get('retry-after'), '1');
    release();
    const server = await starting;
    assert.deepEqual(runs, [1, 1, 1, 4, 1, 1, 1, 4], 'three single rows, then a batch of --max-batch-size, twice');
    assert.equal((await call(`${server.url}/v2/health/ready`)).status, 200);
    const metrics = (await call(`${server.url}/metrics`)).body as string;
    assert.equal(metricValue(metrics, 'karb_serving_requests_total', { route: 'infer', code: '200' }), undefined, 'no warm-up request counted');
    assert.equal(metricValue(metrics, 'karb_serving_requests_total', { route: 'infer', code: '503' }), 1, 'the early request is');
    assert.equal(metricValue(metrics, 'karb_serving_batch_rows_count'), 0);
    assert.deepEqual(drift.report(), { state: 'learning', learnedRows: 0, learnRows: 10 }, 'zeros are not learned as the reference');
    assert.equal((await post(`${server.url}/v2/models/fraud-v1/infer`, inferBody(featureRows(0, 1)))).status, 500, 'faults apply to real requests');
  });

  it('drains: readiness and new requests get 503 at once, in-flight and queued requests finish, then it closes', async () => {
    // Each model run takes a second, so all seven are in flight together for long enough to be
    // seen even on a busy machine (at 50 ms the window could pass between two polls).
    const server = await start({ maxDelayMs: 1, injectLatencyMs: 1000 });
    const readRegistry = async () => server.metrics.registry.metrics();
    const inflightNow = async () => metricValue(await readRegistry(), 'karb_serving_inflight_requests') ?? 0;

    // One request is still sending its body, so draining cannot finish before we look at it.
    const partialRows = featureRows(300, 2);
    const partial = openPartialRequest(`${server.url}/v2/models/fraud-v1/infer`, inferBody(partialRows));
    const busyRows = Array.from({ length: 6 }, (_, k) => featureRows(310 + k, 1));
    const busy = busyRows.map((rows) => post(`${server.url}/v2/models/fraud-v1/infer`, inferBody(rows)));
    await waitFor('7 requests in flight', async () => (await inflightNow()) === 7);

    const drained = server.drain(10_000);
    assert.equal(server.draining, true);
    const ready = await call(`${server.url}/v2/health/ready`);
    assert.equal(ready.status, 503);
    assert.equal((await call(`${server.url}/v2/models/fraud-v1/ready`)).status, 503);
    const refused = await post(`${server.url}/v2/models/fraud-v1/infer`, inferBody(featureRows(399, 1)));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.match(refused.body.error, /draining/);

    partial.finish();
    const done = await Promise.all(busy);
    done.forEach((r) => assert.equal(r.status, 200));
    for (const [k, r] of done.entries()) assert.deepEqual(Float32Array.from(r.body.outputs[0].data), await expected(busyRows[k]!));
    const last = await partial.reply;
    assert.equal(last.status, 200);
    assert.deepEqual(Float32Array.from(last.body.outputs[0].data), await expected(partialRows));
    assert.deepEqual(await drained, { timedOut: false });
    await assert.rejects(fetch(`${server.url}/v2/health/live`), 'the listener is closed after the drain');
  });

  it('gives up draining after the timeout and cuts what is left', async () => {
    const server = await start();
    const stuck = openPartialRequest(`${server.url}/v2/models/fraud-v1/infer`, inferBody(featureRows(400, 1)));
    const stuckReply = stuck.reply.catch((err: unknown) => err);
    await waitFor('the open request', async () => (metricValue(await server.metrics.registry.metrics(), 'karb_serving_inflight_requests') ?? 0) === 1);
    assert.deepEqual(await server.drain(100), { timedOut: true });
    assert.ok((await stuckReply) instanceof Error, 'the unfinished request was cut');
  });
});
