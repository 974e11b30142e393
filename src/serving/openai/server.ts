/**
 * The model server's OpenAI-compatible face (plain node:http) for a causal
 * language model: `GET /v1/models[/{id}]`, `POST /v1/completions`,
 * `POST /v1/chat/completions` (both with `stream: true` as server-sent events)
 * and `POST /v1/embeddings`; `/health`, `/v2/health/live` and
 * `/v2/health/ready` for probes; Prometheus `/metrics` (tokens, time to first
 * token, time per output token). Each answer carries `x-karb-queue-depth`, the
 * other generations in flight, for the gateway's replica choice, and (once its
 * first model run began) `x-karb-queue-ms`, how long it waited behind them, for
 * the scaling signals; a stream's headers go out at that moment. Errors use OpenAI's shape
 * `{ "error": { "message", "type", "param", "code" } }`.
 *
 * Lifecycle as in the OIP server: serving → draining (readiness 503, new
 * requests 503 with Retry-After: 1, running generations finish) → closed.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { OpenAIRequestError, openAIErrorJson } from '../../api/openai-errors.ts';
import { isKarbError, KarbError, MethodNotAllowedError, UnavailableError } from '../../errors.ts';
import { systemClock, type Clock } from '../../util/clock.ts';
import { listen, readBody } from '../../util/http.ts';
import { SERVING_DEFAULTS } from '../defaults.ts';
import { silentLogger, type Logger } from '../../util/log.ts';
import { chatPrompt, encodePrompt, generate, promptTokenCount, tokenBudget, type FinishReason, type Generation } from './generate.ts';
import type { LanguageModel } from './language-model.ts';
import { createOpenAIMetrics, type OpenAIMetrics, type OpenAIRoute } from './metrics.ts';
import { parseChatRequest, parseCompletionRequest, parseEmbeddingsRequest } from './requests.ts';
import { SSE_DONE, SSE_HEADERS, sseEvent } from './sse.ts';

export interface OpenAIServerOptions {
  /** The caller owns the model's session and closes it after the server. */
  lm: LanguageModel;
  /** The model id clients send in `model` and see in `GET /v1/models`. */
  name: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  bodyLimitBytes?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface OpenAIServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly draining: boolean;
  readonly metrics: OpenAIMetrics;
  drain(timeoutMs?: number): Promise<{ timedOut: boolean }>;
  close(): Promise<void>;
}

type Kind = 'chat' | 'completion';

export async function startOpenAIServer(options: OpenAIServerOptions): Promise<OpenAIServer> {
  const { lm, name } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const bodyLimit = options.bodyLimitBytes ?? SERVING_DEFAULTS.bodyLimitBytes;
  const createdAt = Math.floor(clock.now() / 1000);
  let inFlight = 0;
  let draining = false;
  let onIdle: (() => void) | undefined;
  const metrics = createOpenAIMetrics(name, () => inFlight);

  const server = http.createServer((req, res) => {
    const started = performance.now();
    const route = routeOf(req.url ?? '/');
    res.once('close', () => metrics.countRequest(route, res.writableFinished ? res.statusCode : 499, (performance.now() - started) / 1000));
    handle(req, res, started).catch((err: unknown) => sendError(res, err));
  });
  server.keepAliveTimeout = 5_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, started: number): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';

    if (path === '/health' || path === '/v2/health/ready' || path === '/v2/health/live') {
      const ready = path === '/v2/health/live' || (!draining && lm.alive);
      sendJson(res, ready ? 200 : 503, path === '/health' ? { status: ready ? 'ok' : 'unavailable' } : { ready, live: true });
      return;
    }
    if (path === '/metrics') {
      allow(method, 'GET', path);
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (path === '/v1/models' || path.startsWith('/v1/models/')) {
      allow(method, 'GET', path);
      const model = { id: name, object: 'model', created: createdAt, owned_by: 'karb' };
      if (path === '/v1/models') {
        sendJson(res, 200, { object: 'list', data: [model] });
        return;
      }
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (id !== name) throw modelNotFound(id, name);
      sendJson(res, 200, model);
      return;
    }
    const operation = path === '/v1/chat/completions' ? 'chat' : path === '/v1/completions' ? 'completion' : path === '/v1/embeddings' ? 'embeddings' : undefined;
    if (operation === undefined) {
      throw new OpenAIRequestError(`no route ${method} ${path.slice(0, 200)}; this server answers /v1/models, /v1/completions, /v1/chat/completions, /v1/embeddings, /health and /metrics`, {
        status: 404,
        code: 'not_found',
      });
    }
    allow(method, 'POST', path);
    if (draining || !lm.alive) throw new UnavailableError('the model server is shutting down; retry on another replica', { code: 'unavailable' });

    inFlight++;
    // Generations share one runtime queue: the others in flight are this replica's queue for the gateway's pick.
    res.setHeader('x-karb-queue-depth', String(inFlight - 1));
    try {
      const body = await readBody(req, bodyLimit);
      if (operation === 'embeddings') await embeddings(body, res);
      else await complete(operation, body, res, started);
    } finally {
      inFlight--;
      if (inFlight === 0) onIdle?.();
    }
  }

  async function embeddings(body: Buffer, res: http.ServerResponse): Promise<void> {
    const request = parseEmbeddingsRequest(body);
    if (request.model !== name) throw modelNotFound(request.model, name);
    const context = lm.info.contextLength;
    const data = [];
    let promptTokens = 0;
    for (const [index, input] of request.inputs.entries()) {
      const count = promptTokenCount(input);
      if (count > context) {
        throw new OpenAIRequestError(`input[${index}] is ${count} tokens; this model reads at most ${context} (one token per UTF-8 byte plus one)`, {
          param: 'input',
          code: 'context_length_exceeded',
        });
      }
      promptTokens += count;
      const vector = await lm.embed(encodePrompt(input, lm.info.bos));
      const embedding = request.encodingFormat === 'base64' ? Buffer.from(Float32Array.from(vector).buffer).toString('base64') : Array.from(vector);
      data.push({ object: 'embedding', index, embedding });
    }
    sendJson(res, 200, { object: 'list', data, model: name, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
  }

  async function complete(kind: Kind, body: Buffer, res: http.ServerResponse, started: number): Promise<void> {
    const request = kind === 'chat' ? parseChatRequest(body) : parseCompletionRequest(body);
    if (request.model !== name) throw modelNotFound(request.model, name);
    const promptText = 'messages' in request ? chatPrompt(request.messages) : request.prompt;
    // Counted before tokenizing: an 8 MB prompt is refused without an 8M-entry token array.
    const maxTokens = tokenBudget(promptTokenCount(promptText), request.maxTokens, request.maxTokensExplicit, lm.info.contextLength, kind === 'chat' ? 'messages' : 'prompt');
    const prompt = encodePrompt(promptText, lm.info.bos);
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const created = Math.floor(clock.now() / 1000);
    let firstText: number | undefined;
    const markFirst = (): void => {
      firstText ??= performance.now();
    };

    // The client leaving stops the generation at the next token.
    const abort = new AbortController();
    res.on('close', () => abort.abort());

    // How long the generation waited behind the others before its first model run: the wait more replicas would remove.
    const queuedAt = performance.now();
    const markQueued = (): void => {
      res.setHeader('x-karb-queue-ms', String(Math.round((performance.now() - queuedAt) * 10) / 10));
    };

    if (!request.stream) {
      const result = await generate(lm, { prompt, maxTokens, request, signal: abort.signal, onText: markFirst, onFirstStep: markQueued });
      sendJson(res, 200, kind === 'chat' ? chatResponse(id, created, name, result) : completionResponse(id, created, name, result));
      logDone(kind, result, started, firstText, false);
      return;
    }

    // The stream opens when the first model run begins, so its headers carry the wait.
    const chunk = kind === 'chat' ? chatChunk : completionChunk;
    const open = (): void => {
      if (res.headersSent) return;
      res.writeHead(200, SSE_HEADERS);
      res.flushHeaders();
      if (kind === 'chat') res.write(sseEvent(chatChunk(id, created, name, { role: 'assistant', content: '' }, null)));
    };
    let result: Generation;
    try {
      result = await generate(lm, {
        prompt,
        maxTokens,
        request,
        signal: abort.signal,
        onFirstStep: () => {
          markQueued();
          open();
        },
        onText: (delta) => {
          markFirst();
          return write(res, sseEvent(chunk(id, created, name, kind === 'chat' ? { content: delta } : delta, null)));
        },
      });
    } catch (err) {
      if (!res.headersSent) throw err; // failed before the stream opened: an ordinary error answer
      // Headers are sent: report the failure as a last event, then end the stream.
      const e = isKarbError(err) ? err : new KarbError('internal', 'generation failed; the server logs say more', { cause: err });
      logger.log('error', 'generation failed', { error: err instanceof Error ? err.message : String(err) });
      res.end(`data: ${openAIErrorJson(e)}\n\n`);
      return;
    }
    if (res.destroyed || abort.signal.aborted) {
      logger.log('info', 'client closed the stream; generation stopped', { kind, completionTokens: result.completionTokens, maxTokens });
      return;
    }
    open();
    res.write(sseEvent(chunk(id, created, name, kind === 'chat' ? {} : '', result.finishReason)));
    if (request.streamUsage) res.write(sseEvent({ ...chunkBase(id, created, name, kind), choices: [], usage: usage(result) }));
    res.end(SSE_DONE);
    logDone(kind, result, started, firstText, true);
  }

  function logDone(kind: Kind, result: Generation, started: number, firstText: number | undefined, stream: boolean): void {
    const now = performance.now();
    const perToken = firstText !== undefined && result.completionTokens > 1 ? (now - firstText) / 1000 / (result.completionTokens - 1) : undefined;
    metrics.observeGeneration(result.promptTokens, result.completionTokens, firstText === undefined ? undefined : (firstText - started) / 1000, perToken);
    logger.log('debug', 'generated', () => ({
      kind,
      stream,
      promptTokens: result.promptTokens,
      completionTokens: result.completionTokens,
      finishReason: result.finishReason,
      durationMs: now - started,
    }));
  }

  function sendError(res: http.ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const e = isKarbError(err) ? err : new KarbError('internal', 'internal error; the server logs say more');
    if (!isKarbError(err)) logger.log('error', 'unhandled error', { error: err instanceof Error ? err.message : String(err) });
    const text = openAIErrorJson(e);
    res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...e.headers() });
    res.end(text);
  }

  const host = options.host ?? SERVING_DEFAULTS.host;
  await listen(server, options.port ?? 0, host, 'the model server');
  const port = (server.address() as AddressInfo).port;
  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    metrics,
    get draining() {
      return draining;
    },
    async drain(timeoutMs = SERVING_DEFAULTS.drainTimeoutMs) {
      draining = true;
      server.close();
      server.closeIdleConnections();
      let timedOut = false;
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            timedOut = true;
            resolve();
          }, timeoutMs);
          onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      server.closeAllConnections();
      await closed;
      return { timedOut };
    },
    async close() {
      draining = true;
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

function allow(method: string, allowed: 'GET' | 'POST', path: string): void {
  if (method !== allowed) throw new MethodNotAllowedError(method, path, allowed);
}

function modelNotFound(requested: string, served: string): OpenAIRequestError {
  return new OpenAIRequestError(`the model '${requested.slice(0, 200)}' does not exist here; this server serves '${served}'`, {
    status: 404,
    param: 'model',
    code: 'model_not_found',
  });
}

/** Resolves once `text` is handed to the socket, waiting for drain when the client reads slowly. */
function write(res: http.ServerResponse, text: string): Promise<void> | void {
  if (res.destroyed) return;
  if (res.write(text)) return;
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function usage(g: Generation): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: g.promptTokens, completion_tokens: g.completionTokens, total_tokens: g.promptTokens + g.completionTokens };
}

function chunkBase(id: string, created: number, model: string, kind: Kind): Record<string, unknown> {
  return { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model };
}

function chatResponse(id: string, created: number, model: string, g: Generation): unknown {
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: g.text }, logprobs: null, finish_reason: g.finishReason }],
    usage: usage(g),
  };
}

function completionResponse(id: string, created: number, model: string, g: Generation): unknown {
  return { id, object: 'text_completion', created, model, choices: [{ index: 0, text: g.text, logprobs: null, finish_reason: g.finishReason }], usage: usage(g) };
}

function chatChunk(id: string, created: number, model: string, delta: unknown, finishReason: FinishReason | null): unknown {
  return { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] };
}

function completionChunk(id: string, created: number, model: string, text: unknown, finishReason: FinishReason | null): unknown {
  return { id, object: 'text_completion', created, model, choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }] };
}

function routeOf(url: string): OpenAIRoute {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path === '/v1/chat/completions') return 'chat';
  if (path === '/v1/completions') return 'completions';
  if (path === '/v1/embeddings') return 'embeddings';
  if (path === '/v1/models' || path.startsWith('/v1/models/')) return 'models';
  if (path === '/health' || path.startsWith('/v2/health/')) return 'health';
  if (path === '/metrics') return 'metrics';
  return 'other';
}
