/**
 * The core proxy: sends a request to the chosen replica and streams the answer
 * back. One undici `Pool` (keep-alive connections) per endpoint URL, created on
 * first use. The routing table cannot tell us when an endpoint goes away, so
 * the gateway calls `UpstreamPools.sweep` on a timer with the URLs still in the
 * table; pools for the rest are closed (requests already on them finish first).
 *
 * Only URLs from the routing table are ever contacted; the path sent there is
 * the matched path without its query (paths.ts `upstreamPath`), bodies
 * travel as raw bytes, redirects are passed back to the caller, not followed.
 * A route with `mirror` also has its requests copied to the mirror revision
 * (mirror.ts) once the first attempt is on its way.
 */
import { Pool, type Dispatcher } from 'undici';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { KarbError } from '../../errors.ts';
import { UpstreamTimeoutError, UpstreamUnreachableError } from '../server/errors.ts';
import type { Exchange, GatewayResponse, GatewayStep, UpstreamCall } from '../server/exchange.ts';
import type { GatewayMetrics } from '../server/metrics.ts';
import type { OutstandingRequests } from './outstanding.ts';
import type { AttemptHooks } from './router.ts';
import type { Mirror } from './mirror.ts';
import type { SignalSink } from '../../observability/hub.ts';
import { latencyOrigin } from '../buffer/hold.ts';
import { upstreamPath } from '../server/paths.ts';
import { QUEUE_MS_HEADER, parseQueueMs } from './queue-depth.ts';
import { performance } from 'node:perf_hooks';
import type { Span } from '../../observability/tracing/request-trace.ts';

export interface UpstreamPoolOptions {
  /** Time allowed for the replica to start answering, and between body chunks. */
  timeoutMs: number;
  /** Most connections the gateway opens to one replica; more requests queue in the pool. */
  connectionsPerEndpoint?: number;
  /** How long an idle keep-alive connection is kept. */
  keepAliveTimeoutMs?: number;
}

export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();
  readonly #options: Pool.Options;

  constructor(options: UpstreamPoolOptions) {
    this.#options = {
      connections: options.connectionsPerEndpoint ?? 128,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connectTimeout: Math.min(options.timeoutMs, 10_000),
    };
  }

  /** The pool for an endpoint URL from the routing table, created on first use. */
  get(url: string): Pool {
    let pool = this.#pools.get(url);
    if (pool === undefined) {
      pool = new Pool(url, this.#options);
      this.#pools.set(url, pool);
    }
    return pool;
  }

  has(url: string): boolean {
    return this.#pools.has(url);
  }

  urls(): string[] {
    return [...this.#pools.keys()];
  }

  /**
   * Closes the pools of endpoints no longer in `liveUrls` and forgets them.
   * Requests already sent on them complete; new requests never pick them,
   * because picking reads the table. Returns the URLs whose pools were closed.
   */
  sweep(liveUrls: ReadonlySet<string>): string[] {
    const closed: string[] = [];
    for (const [url, pool] of this.#pools) {
      if (liveUrls.has(url)) continue;
      this.#pools.delete(url);
      closed.push(url);
      pool.close().catch(ignore);
    }
    return closed;
  }

  /** Drops every connection; for shutting the gateway down. */
  async destroy(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(ignore)));
  }
}

export interface ProxyDeps {
  pools: UpstreamPools;
  outstanding: OutstandingRequests;
  metrics: GatewayMetrics;
  timeoutMs: number;
  /** Told of every attempt's outcome; may take over a failed attempt and retry it (router.ts). */
  attempts?: AttemptHooks;
  /** Told when a request starts and finishes at a replica (autoscaler signals). */
  signals?: SignalSink;
  /** Offered each attempt of a request whose route has `mirror` (copies to the mirror revision). */
  mirror?: Mirror;
}

/** The last step: sends the exchange to its chosen endpoint. */
export function proxyToUpstream(deps: ProxyDeps): GatewayStep {
  return {
    name: 'proxy',
    run(exchange: Exchange): void {
      const endpoint = exchange.endpoint;
      const route = exchange.route;
      if (endpoint === undefined || route === undefined || exchange.revision === undefined) {
        throw new KarbError('PIPELINE_INCOMPLETE', 'the proxy step ran before an endpoint was chosen');
      }
      const trace = exchange.trace;
      const span = trace?.attemptStarted(exchange, endpoint.url);
      const call = new UpstreamCallHandler(exchange, deps, endpoint.url, route.service, span);
      exchange.upstream = call;
      deps.outstanding.acquire(endpoint.url);
      deps.metrics.upstreamStarted(route.service);
      deps.signals?.requestStarted(route.service, exchange.revision.revision);
      const req = exchange.req;
      const h = req.headers;
      const headers: string[] = ['x-request-id', exchange.requestId];
      if (h['content-type'] !== undefined) headers.push('content-type', h['content-type']);
      if (trace !== undefined && span !== undefined) {
        // The replica's spans join this attempt's; the caller's tracestate came with the parent.
        headers.push('traceparent', trace.traceparent(span));
        const state = trace.tracestate(span);
        if (state !== undefined) headers.push('tracestate', state);
      } else {
        if (typeof h.traceparent === 'string') headers.push('traceparent', h.traceparent);
        if (typeof h.tracestate === 'string') headers.push('tracestate', h.tracestate);
      }
      deps.attempts?.started(exchange, endpoint.url);
      deps.pools.get(endpoint.url).dispatch(
        { path: upstreamPath(req.url!), method: req.method as Dispatcher.HttpMethod, headers, body: exchange.body },
        call,
      );
      // After the caller's own attempt, so a copy never goes ahead of it on the wire.
      if (route.mirror !== undefined) deps.mirror?.offer(exchange);
    },
  };
}

/** Why a request to a replica stopped because its client left; never shown to anyone. */
class ClientClosedError extends KarbError {
  constructor() {
    super('CLIENT_CLOSED', 'the client closed the connection', { status: 499 });
  }
}

/** Response headers that describe one connection, not the message: never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/**
 * One call to a replica, as an undici dispatch handler: streams the response
 * into the client's response with backpressure, releases the endpoint's
 * outstanding count exactly once, and maps failures to 502/504.
 */
class UpstreamCallHandler implements Dispatcher.DispatchHandler, UpstreamCall {
  readonly #exchange: Exchange;
  readonly #deps: ProxyDeps;
  readonly #url: string;
  readonly #service: string;
  #controller: Dispatcher.DispatchController | null = null;
  #settled = false;
  #clientGone = false;
  /** The router took this attempt's failure over (a retry): its answer is read and dropped. */
  #handedOff = false;
  /** Set by the router's per-try timer before the request reached a connection. */
  #expired: KarbError | undefined = undefined;
  /** For the autoscaler's signals: the replica's status (0 = no response) and queue depth (-1 = not said). */
  #status = 0;
  #queueDepth = -1;
  /**
   * For the wait signal: when this attempt went onto a connection (`performance.now()`, -1 = never),
   * whether its answer is the one the caller gets, and the replica's own queue wait (`x-karb-queue-ms`).
   */
  #sentAt = -1;
  #answered = false;
  #replicaWaitMs = -1;
  /** The revision this attempt went to (a retry may pick another one for the exchange). */
  readonly #revision: string;
  /** This attempt's span, when the request is traced; `#errorType` says why it failed, if it did. */
  readonly #span: Span | undefined;
  #errorType: string | undefined = undefined;

  constructor(exchange: Exchange, deps: ProxyDeps, url: string, service: string, span: Span | undefined) {
    this.#exchange = exchange;
    this.#deps = deps;
    this.#url = url;
    this.#service = service;
    this.#span = span;
    this.#revision = exchange.revision?.revision ?? '';
  }

  abort(): void {
    if (this.#settled || this.#clientGone) return;
    this.#clientGone = true;
    // Not yet on a connection: onRequestStart aborts when it gets there.
    this.#controller?.abort(new ClientClosedError());
  }

  resume(): void {
    this.#controller?.resume();
  }

  /** The per-try timeout or the deadline passed before the response started. */
  expire(error: KarbError): void {
    if (this.#settled || this.#clientGone || this.#exchange.res.headersSent) return;
    if (this.#controller === null) this.#expired = error;
    else this.#controller.abort(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    // undici calls this as it writes the request to a connection: the pool's own queue is behind it.
    this.#sentAt = performance.now();
    if (this.#clientGone) controller.abort(new ClientClosedError());
    else if (this.#expired !== undefined) controller.abort(this.#expired);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200) return; // informational (103 and the like): not forwarded
    const ex = this.#exchange;
    const res = ex.res;
    if (res.destroyed) {
      controller.abort(new ClientClosedError());
      return;
    }
    if (this.#deps.attempts?.responded(ex, this.#url, statusCode, headers) === true) {
      // Retried elsewhere: read this answer to its end (keeping the connection) and drop it.
      this.#handedOff = true;
      this.#status = statusCode;
      this.#settle();
      return;
    }
    // A fresh object rather than deletes: deleting keys turns an object into a slow dictionary.
    const forwarded: OutgoingHttpHeaders = {};
    const connection = headers.connection;
    // `Connection` may name further per-connection headers.
    const named = connection === undefined ? undefined : String(connection).split(',').map((token) => token.trim().toLowerCase());
    for (const name in headers) {
      if (HOP_BY_HOP.has(name) || (named !== undefined && named.includes(name))) continue;
      forwarded[name] = headers[name];
    }
    forwarded['x-request-id'] = ex.requestId;
    this.#status = statusCode;
    const depth = headers['x-karb-queue-depth'];
    if (typeof depth === 'string') this.#queueDepth = Number(depth) || 0;
    this.#answered = true;
    const queueMs = headers[QUEUE_MS_HEADER];
    if (queueMs !== undefined) this.#replicaWaitMs = parseQueueMs(queueMs) ?? -1;
    forwarded['x-karb-revision'] = ex.revision!.revision;
    res.writeHead(statusCode, forwarded);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#handedOff) return;
    const res = this.#exchange.res;
    if (res.destroyed) return;
    if (!res.write(chunk)) {
      controller.pause();
      res.once('drain', resumeUpstream);
    }
  }

  onResponseEnd(): void {
    this.#settle();
    if (this.#handedOff) return;
    this.#exchange.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.#status = this.#clientGone ? 499 : 0;
    if (this.#span !== undefined) this.#errorType = String(errorCode(err) ?? err.name);
    if (this.#handedOff || this.#clientGone) {
      this.#settle();
      return;
    }
    const error = this.#toKarbError(err);
    const ex = this.#exchange;
    // The router decides on a retry before #settle ends this attempt's span, as it does for a 503
    // in onResponseStart: the span then carries the retry's reason (karb.retry.reason).
    const retried = !ex.res.headersSent && this.#deps.attempts?.failed(ex, this.#url, error, errorCode(err)) === true;
    this.#settle();
    if (!retried) ex.fail(error);
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    // A retry may already have put its own call there.
    if (this.#exchange.upstream === this) this.#exchange.upstream = null;
    this.#deps.outstanding.release(this.#url);
    this.#deps.metrics.upstreamFinished(this.#service);
    this.#deps.attempts?.ended(this.#exchange, this.#url);
    if (this.#span !== undefined) this.#exchange.trace?.attemptEnded(this.#span, this.#status, this.#errorType);
    const signals = this.#deps.signals;
    if (signals !== undefined) {
      // The wait counts from arrival (held while cold and the gateway's queue included) to this
      // attempt going out, plus the replica's own queue; only the attempt that answered has one
      // (a retry's counts the attempts before it: the caller waited through them). A replica that
      // does not say how long it queued gives none: a wait without its queue would read as "no
      // waiting" while requests queue inside it, and GASCL falls back to how busy replicas are.
      const waitMs = this.#answered && this.#sentAt >= 0 && this.#replicaWaitMs >= 0 ? this.#sentAt - this.#exchange.startedAt + this.#replicaWaitMs : -1;
      signals.requestFinished(this.#service, this.#revision, this.#url, performance.now() - latencyOrigin(this.#exchange), this.#status, this.#queueDepth, waitMs);
    }
  }

  #toKarbError(err: Error): KarbError {
    const ex = this.#exchange;
    const model = ex.match?.model ?? '';
    const replica = ex.endpoint?.replica ?? this.#url;
    if (err instanceof KarbError) return err; // the router's per-try timeout or deadline
    const code = errorCode(err);
    switch (code) {
      case 'UND_ERR_HEADERS_TIMEOUT':
      case 'UND_ERR_BODY_TIMEOUT':
        return new UpstreamTimeoutError(model, replica, this.#deps.timeoutMs, err);
      case 'UND_ERR_CONNECT_TIMEOUT':
        return new UpstreamUnreachableError(model, replica, 'connection attempt timed out', err);
      case 'ECONNREFUSED':
        return new UpstreamUnreachableError(model, replica, 'connection refused', err);
      case 'ECONNRESET':
      case 'EPIPE':
      case 'UND_ERR_SOCKET':
        return new UpstreamUnreachableError(model, replica, 'connection closed before the response was complete', err);
      case 'UND_ERR_CLOSED':
      case 'UND_ERR_DESTROYED':
        return new UpstreamUnreachableError(model, replica, 'the replica was removed while the request waited', err);
      default:
        return new UpstreamUnreachableError(model, replica, typeof code === 'string' ? code : 'upstream error', err);
    }
  }
}

function resumeUpstream(this: GatewayResponse): void {
  const call = this.req.exchange?.upstream;
  if (call instanceof UpstreamCallHandler) call.resume();
}

function ignore(): void {}

/** The error's code, or its cause's: undici sometimes wraps the socket error that says what happened. */
function errorCode(err: Error): unknown {
  return (err as { code?: unknown }).code ?? (err.cause as { code?: unknown } | undefined)?.code;
}
