/**
 * The model server's HTTP face (plain node:http): OIP v2 health, metadata and
 * infer routes for one model, Prometheus `/metrics`, and drain. Requests are
 * decoded by `oip.ts`, queued in the `Batcher`, and answered with the caller's
 * own rows. Errors are `{ "error": "..." }`; nothing a caller sends can take the
 * server down or earn a stack trace.
 *
 * Lifecycle: serving → draining (readiness 503, new inference 503 with
 * Retry-After: 1, queued and in-flight requests finish) → closed.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidRequestError, KarbError, MethodNotAllowedError, NotFoundError, PayloadTooLargeError, UnavailableError } from '../errors.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import { Batcher, type BatchRunner, type BatchTiming } from './batcher.ts';
import { silentLogger, type Logger } from '../util/log.ts';
import { SERVING_DEFAULTS } from './defaults.ts';
import { createServingMetrics, type ServingMetrics } from './metrics.ts';
import { clip, encodeInferResponse, modelMetadata, parseInferRequest } from './oip.ts';
import type { ModelSession, TensorMap } from './onnx-model.ts';
import type { DriftMonitor } from '../observability/drift/monitor.ts';
import { registerDriftMetrics } from './drift.ts';
import { listen } from '../util/http.ts';
import type { Tracing } from '../observability/tracing/start.ts';
import { InferTrace } from './infer-trace.ts';
import { warmUp, warmupToken } from './warmup.ts';

export { SERVING_DEFAULTS };

export interface ModelServerOptions {
  /** A loaded model; the caller owns it and closes it after the server. */
  model: ModelSession;
  /** Name the model is served under (`/v2/models/{name}`). */
  name: string;
  /** The one version served; `/versions/{v}/` routes must name it. Default "1". */
  version?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  maxBatchSize?: number;
  maxDelayMs?: number;
  /** Rows allowed to wait for a batch; past it requests get 503. */
  maxQueueRows?: number;
  bodyLimitBytes?: number;
  /** Fault injection for resilience tests: extra milliseconds added to every model run. Off (0) by default. */
  injectLatencyMs?: number;
  /** Fault injection for resilience tests: share (0..1) of inference requests answered 500. Off (0) by default. */
  injectErrorRate?: number;
  /** Counts each request's inputs and outputs against a reference (`GET /v2/models/{name}/drift`, `karb_serving_feature_*`). */
  drift?: DriftMonitor;
  /** Fault injection for resilience tests: the faults above apply only while this says so (default: always). */
  injectWhile?: () => boolean;
  /** Random source for error injection (default Math.random). */
  random?: () => number;
  /** Spans for each inference request (infer-trace.ts), from `startTracing`; absent: none are made. */
  tracing?: Tracing;
  /**
   * Inference requests the server sends itself before it reports ready (warmup.ts),
   * left out of metrics, drift and traces. Default 0: none.
   */
  warmupRequests?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface ModelServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly metrics: ServingMetrics;
  readonly draining: boolean;
  /** Rows waiting for a batch. */
  readonly queuedRows: number;
  /**
   * Stops taking new work (readiness and new inference answer 503), finishes every
   * queued and in-flight request, then closes the listener. After `timeoutMs` the
   * remaining connections are cut; `timedOut` says whether that happened.
   */
  drain(timeoutMs?: number): Promise<{ timedOut: boolean }>;
  /** Closes at once, cutting open connections. */
  close(): Promise<void>;
}


/** The model server's 413; `declared` is the Content-Length when known (a chunked body is refused as soon as it passes the limit). */
function bodyTooLarge(limit: number, declared?: number): PayloadTooLargeError {
  const what = declared === undefined ? 'request body' : `request body of ${declared} bytes`;
  return new PayloadTooLargeError(limit, `${what} is over the limit of ${limit} bytes; send fewer rows per request`);
}

class ClientGoneError extends Error {}

const JSON_TYPE = 'application/json';

const KARB_VERSION = readKarbVersion();

function readKarbVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  const model = options.model;
  const name = options.name;
  const version = options.version ?? '1';
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const bodyLimit = options.bodyLimitBytes ?? SERVING_DEFAULTS.bodyLimitBytes;
  const injectErrorRate = options.injectErrorRate ?? 0;
  const injectLatencyMs = options.injectLatencyMs ?? 0;
  const random = options.random ?? Math.random;
  const tracing = options.tracing;
  const injecting = options.injectWhile ?? (() => true);

  let inFlight = 0;
  let draining = false;
  // While warming, only warm-up requests arrive (the server is not ready), so its batches are theirs.
  let warming = false;
  const warmup = warmupToken();

  const runner: BatchRunner = injectLatencyMs > 0 ? withInjectedLatency(model, injectLatencyMs, clock, () => !warming && injecting()) : model;
  let onIdle: (() => void) | undefined;

  const batcher = new Batcher(runner, {
    maxBatchSize: options.maxBatchSize ?? SERVING_DEFAULTS.maxBatchSize,
    maxDelayMs: options.maxDelayMs ?? SERVING_DEFAULTS.maxDelayMs,
    maxQueueRows: options.maxQueueRows ?? SERVING_DEFAULTS.maxQueueRows,
    // The next batch waits at the model's thread while one computes (runs stay one at a time).
    pipelineDepth: 2,
    clock,
    onBatch: (s) => {
      if (!warming) metrics.observeBatch(s.rows, s.requests, s.runMs / 1000);
    },
  });
  const metrics = createServingMetrics(name, {
    queuedRows: () => batcher.queuedRows,
    queuedRequests: () => batcher.queuedRequests,
    inFlight: () => inFlight,
  });

  const drift = options.drift;
  if (drift !== undefined) registerDriftMetrics(metrics.registry, drift);
  // The tensors drift watches, looked up once: per request, observing is a loop over these.
  const driftInputs = drift === undefined ? [] : model.inputs.map((t) => t.name);
  const driftOutputs = drift === undefined ? [] : model.outputs.map((t) => t.name);

  const metadataBody = JSON.stringify(modelMetadata(name, [version], model));
  const serverMetadataBody = JSON.stringify({ name: 'karb', version: KARB_VERSION, extensions: ['binary_tensor_data'] });

  /** `route` undefined: a warm-up request, not counted. */
  function send(res: http.ServerResponse, route: string | undefined, status: number, body: string | Buffer, extraHeaders?: Record<string, string | number>): void {
    if (route !== undefined) metrics.countRequest(route, status);
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string | number> = { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) };
    if (extraHeaders !== undefined) Object.assign(headers, extraHeaders);
    // While draining, tell keep-alive clients to go elsewhere after this answer.
    if (draining) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  function sendError(res: http.ServerResponse, route: string | undefined, err: unknown, extraHeaders?: Record<string, string>): void {
    if (err instanceof KarbError) {
      const headers: Record<string, string> = { ...extraHeaders, ...err.headers() };
      // The rest of an oversized body is not read; close the connection after answering.
      if (err.status === 413) headers.connection = 'close';
      // Overload (503) and injected faults are expected; other server-side failures are logged.
      if (err.status === 500 && err.code !== 'INJECTED_FAULT') logger.log('error', 'request failed', { route, code: err.code, error: err.message });
      send(res, route, err.status, JSON.stringify({ error: err.message }), headers);
      return;
    }
    logger.log('error', 'unexpected error', { route, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    send(res, route, 500, '{"error":"internal error in the model server; see its logs"}', extraHeaders);
  }

  function notReadyReason(): string | undefined {
    if (draining) return 'the model server is draining';
    if (warming) return 'the model server is warming up';
    if (!model.alive) return 'the model runtime has stopped; restart this replica';
    return undefined;
  }

  /**
   * `x-karb-queue-depth`, and once the request's batch ran `x-karb-queue-ms`: how long it waited
   * here, from its submit (`submittedAt`, `performance.now()` like the batcher's stopwatch) to its
   * batch beginning to compute (a pipelined batch waits at the model for the one before it).
   */
  function queueHeader(timing?: BatchTiming, submittedAt = 0): Record<string, string> {
    const headers: Record<string, string> = { 'x-karb-queue-depth': String(batcher.queuedRows) };
    if (timing !== undefined && !Number.isNaN(timing.batchedAt)) headers['x-karb-queue-ms'] = String(Math.round(Math.max(0, timing.runStartedAt - submittedAt) * 10) / 10);
    return headers;
  }

  async function infer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const warm = warming && warmup.matches(req);
    const route = warm ? undefined : 'infer';
    const trace = tracing === undefined || warm ? undefined : new InferTrace(tracing, req, started, name);
    const watch = warm ? undefined : drift;
    // Filled in by the batcher when the request's batch ends (batchedAt stays NaN if it never ran).
    let timing: BatchTiming | undefined;
    let submittedAt = 0;
    inFlight++;
    try {
      if (draining) throw new UnavailableError('the model server is draining and takes no new requests; retry on another replica', { code: 'DRAINING', retryAfterSeconds: 1 });
      // Not ready yet: only its own warm-up requests run, so what a batch measures is theirs alone.
      if (warming && !warm) throw new UnavailableError('the model server is warming up; retry in a moment or on another replica', { code: 'WARMING_UP', retryAfterSeconds: 1 });
      const body = await readBody(req, bodyLimit);
      const { json, binary } = splitBody(body, req.headers['inference-header-content-length']);
      const request = parseInferRequest(json, model, binary);
      if (injectErrorRate > 0 && !warm && injecting() && random() < injectErrorRate) {
        throw new KarbError('INJECTED_FAULT', 'injected fault: this model server answers a share of requests with 500 (--inject-error-rate)', { status: 500 });
      }
      if (watch !== undefined) {
        // Before submit: the feeds' buffers may move to the model's thread.
        for (let i = 0; i < driftInputs.length; i++) {
          const feed = request.feeds[driftInputs[i]!];
          if (feed !== undefined) watch.observe(driftInputs[i]!, feed.data as ArrayLike<number>, request.rows);
        }
      }
      trace?.submitted(request.rows);
      timing = trace?.timing ?? { batchedAt: Number.NaN, runStartedAt: 0, finishedAt: 0, rows: 0, requests: 0 };
      submittedAt = performance.now();
      const outputs = await batcher.submit({ rows: request.rows, feeds: request.feeds, timing });
      if (watch !== undefined) {
        for (let i = 0; i < driftOutputs.length; i++) {
          const out = outputs[driftOutputs[i]!];
          if (out !== undefined) watch.observe(driftOutputs[i]!, out.data as ArrayLike<number>, request.rows);
        }
      }
      const encoded = encodeInferResponse(name, version, request, outputs, model.outputs);
      if (encoded.binary.length === 0) {
        send(res, route, 200, encoded.json, queueHeader(timing, submittedAt));
      } else {
        const head = Buffer.from(encoded.json);
        send(res, route, 200, Buffer.concat([head, ...encoded.binary]), {
          ...queueHeader(timing, submittedAt),
          'content-type': 'application/octet-stream',
          'inference-header-content-length': head.length,
        });
      }
    } catch (err) {
      trace?.failed(err);
      if (err instanceof ClientGoneError) {
        if (!warm) metrics.countRequest('infer', 499);
      } else sendError(res, route, err, queueHeader(timing, submittedAt));
    } finally {
      trace?.finish(res.headersSent ? res.statusCode : 499);
      inFlight--;
      if (!warm) metrics.observeRequestSeconds((performance.now() - started) / 1000);
      if (inFlight === 0 && onIdle !== undefined) onIdle();
    }
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const isGet = method === 'GET' || method === 'HEAD';
    let route = 'unknown';
    try {
      if (path === '/v2/health/live') {
        route = 'health_live';
        if (!isGet) throw new MethodNotAllowedError(method, path, 'GET');
        send(res, route, 200, '{"live":true}');
      } else if (path === '/v2/health/ready') {
        route = 'health_ready';
        if (!isGet) throw new MethodNotAllowedError(method, path, 'GET');
        const reason = notReadyReason();
        if (reason !== undefined) send(res, route, 503, JSON.stringify({ ready: false, error: reason }));
        else send(res, route, 200, '{"ready":true}');
      } else if (path === '/v2' || path === '/v2/') {
        route = 'server_metadata';
        if (!isGet) throw new MethodNotAllowedError(method, path, 'GET');
        send(res, route, 200, serverMetadataBody);
      } else if (path === '/metrics') {
        route = 'metrics';
        if (!isGet) throw new MethodNotAllowedError(method, path, 'GET');
        metrics.registry.metrics().then(
          (text) => {
            metrics.countRequest(route, 200);
            res.writeHead(200, { 'content-type': metrics.registry.contentType });
            res.end(text);
          },
          (err: unknown) => sendError(res, route, err),
        );
      } else if (path.startsWith('/v2/models/')) {
        const parts = path.slice('/v2/models/'.length).split('/');
        const modelName = safeDecode(parts[0] ?? '');
        let rest = parts.slice(1);
        if (rest[0] === 'versions') {
          const v = safeDecode(rest[1] ?? '');
          rest = rest.slice(2);
          if (modelName === name && v !== version) throw new NotFoundError(`model '${name}' has no version '${clip(v)}'; versions: ${version}`, 'VERSION_NOT_FOUND');
        }
        const action = rest.join('/');
        route = action === '' ? 'model_metadata' : action === 'ready' ? 'model_ready' : action === 'infer' ? 'infer' : action === 'drift' ? 'drift' : 'unknown';
        if (route === 'unknown') throw new NotFoundError(`no route ${clip(path, 200)}; model routes are /v2/models/{name}, .../ready, .../infer and .../drift`, 'ROUTE_NOT_FOUND');
        if (modelName !== name) throw new NotFoundError(`model '${clip(modelName)}' is not served here; this server serves '${name}'`, 'MODEL_NOT_FOUND');
        if (route === 'infer') {
          if (method !== 'POST') throw new MethodNotAllowedError(method, path, 'POST');
          void infer(req, res);
        } else {
          if (!isGet) throw new MethodNotAllowedError(method, path, 'GET');
          if (route === 'model_metadata') send(res, route, 200, metadataBody);
          else if (route === 'drift') {
            if (drift === undefined) throw new NotFoundError(`model '${name}' has no 2-D float input, so the model server measures no drift for it`, 'DRIFT_NOT_MEASURED');
            send(res, route, 200, JSON.stringify({ model: name, ...drift.report() }));
          } else {
            const reason = notReadyReason();
            if (reason !== undefined) send(res, route, 503, JSON.stringify({ name, ready: false, error: reason }));
            else send(res, route, 200, `{"name":${JSON.stringify(name)},"ready":true}`);
          }
        }
      } else {
        throw new NotFoundError(`no route ${clip(path, 200)}; the model server answers /v2, /v2/health/live, /v2/health/ready, /v2/models/${name}[/ready|/infer|/drift] and /metrics`, 'ROUTE_NOT_FOUND');
      }
    } catch (err) {
      sendError(res, route, err);
    }
  }

  const server = http.createServer({ keepAliveTimeout: 65_000 }, handle);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = '{"error":"malformed HTTP request"}';
    socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
  });

  const host = options.host ?? SERVING_DEFAULTS.host;
  await listen(server, options.port ?? SERVING_DEFAULTS.port, host, 'the model server');
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  const warmupRequests = options.warmupRequests ?? 0;
  if (warmupRequests > 0) {
    warming = true;
    const began = performance.now();
    const result = await warmUp(loopbackUrl(host, port), name, model.inputs, warmup, { requests: warmupRequests, batchRows: options.maxBatchSize ?? SERVING_DEFAULTS.maxBatchSize });
    warming = false;
    const fields = { requests: result.answered, ms: Math.round(performance.now() - began) };
    if (result.stopped === undefined) logger.log('info', 'warmed up', fields);
    else logger.log('warn', `warm-up stopped early; the first requests may be slower: ${result.stopped}`, fields);
  }

  let closed: Promise<void> | undefined;
  /**
   * Stops listening and closes idle connections; answers still being written get
   * `graceMs` to flush before every remaining connection is cut.
   */
  function closeListener(graceMs: number): Promise<void> {
    closed ??= new Promise<void>((resolve) => {
      const cut = clock.setTimeout(() => server.closeAllConnections(), graceMs);
      server.close(() => {
        clock.clearTimeout(cut);
        resolve();
      });
      server.closeIdleConnections();
      if (graceMs <= 0) server.closeAllConnections();
    });
    return closed;
  }

  let drained: Promise<{ timedOut: boolean }> | undefined;

  return {
    url: `http://${urlHost}:${port}`,
    host,
    port,
    name,
    metrics,
    get draining() {
      return draining;
    },
    get queuedRows() {
      return batcher.queuedRows;
    },
    drain(timeoutMs = SERVING_DEFAULTS.drainTimeoutMs) {
      drained ??= (async () => {
        draining = true;
        logger.log('info', 'draining', { inFlight, queuedRows: batcher.queuedRows });
        void batcher.flush();
        const deadline = clock.now() + timeoutMs;
        let timedOut = false;
        if (inFlight > 0) {
          let timer: ReturnType<Clock['setTimeout']> | undefined;
          timedOut = await new Promise<boolean>((resolve) => {
            onIdle = () => resolve(false);
            timer = clock.setTimeout(() => resolve(true), timeoutMs);
          });
          onIdle = undefined;
          if (timer !== undefined) clock.clearTimeout(timer);
        }
        await closeListener(timedOut ? 0 : Math.max(0, deadline - clock.now()));
        if (timedOut) logger.log('warn', 'drain timed out; open requests were cut', { inFlight, timeoutMs });
        else logger.log('info', 'drained', {});
        return { timedOut };
      })();
      return drained;
    },
    close() {
      draining = true;
      return closeListener(0);
    },
  };
}

/** The server's own address for requests to itself: a wildcard bind is reached on loopback. */
function loopbackUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `http://127.0.0.1:${port}`;
  if (host === '::') return `http://[::1]:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Reads the whole body, refusing one over `limit` bytes: at once from
 * Content-Length, or as soon as a chunked body passes the limit (the rest is never buffered).
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  const length = declared === undefined ? -1 : Number(declared);
  if (length > limit) return Promise.reject(bodyTooLarge(limit, length));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | undefined, body?: Buffer) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err !== undefined) reject(err);
      else resolve(body!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish(bodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    const onError = () => finish(new ClientGoneError());
    const onClose = () => finish(new ClientGoneError());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Fault injection: every run takes `ms` longer, one run after another as a slow
 * model's would (pipelined batches wait their turn rather than sleeping side by side).
 */
function withInjectedLatency(model: BatchRunner, ms: number, clock: Clock, injecting: () => boolean): BatchRunner {
  let previous: Promise<unknown> = Promise.resolve();
  return {
    batchable: model.batchable,
    run(feeds: TensorMap) {
      if (!injecting()) return model.run(feeds);
      const result = previous.then(() => new Promise<void>((resolve) => clock.setTimeout(resolve, ms))).then(() => model.run(feeds));
      previous = result.catch(() => undefined);
      return result;
    },
  };
}

/**
 * Separates the JSON part of an infer body from binary tensor data: with an
 * Inference-Header-Content-Length header, the JSON is that many bytes and the rest is binary.
 */
function splitBody(body: Buffer, headerLength: string | string[] | undefined): { json: unknown; binary: Uint8Array | undefined } {
  let end = body.length;
  if (headerLength !== undefined) {
    const n = Array.isArray(headerLength) || !/^\d+$/.test(headerLength) ? NaN : Number(headerLength);
    if (!(n <= body.length)) {
      throw new InvalidRequestError(`Inference-Header-Content-Length must be the byte length of the JSON part of the body (0 to ${body.length}), got "${String(headerLength)}"`, {
        code: 'INVALID_INFER_REQUEST',
      });
    }
    end = n;
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8', 0, end));
  } catch (err) {
    throw new InvalidRequestError(`request body is not valid JSON: ${(err as Error).message}`, { code: 'MALFORMED_JSON' });
  }
  return { json, binary: headerLength === undefined ? undefined : body.subarray(end) };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
