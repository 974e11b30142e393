/**
 * A request's spans at the gateway, when tracing is on (`startGateway({ tracing })`):
 *
 *   gateway (SERVER: the caller's traceparent is its parent)
 *   ├─ karb.edge       arrival → the edge's checks done (auth, model, scope, rate limits)
 *   ├─ karb.hold       held while the service had no ready replica (only when held)
 *   ├─ karb.route      the route step → the first attempt leaves (includes the admission queue)
 *   ├─ karb.upstream   one per attempt (CLIENT; its traceparent goes to the replica)
 *   ├─ karb.retry      the backoff between a failed attempt and the next one
 *   └─ karb.upstream   …
 *
 * The steps and the proxy call these methods through `exchange.trace?.`; with tracing off the
 * field is undefined and nothing here runs. Attributes are names, codes and numbers the
 * gateway already knows from its routing table: never keys, headers, bodies or query strings.
 */
import { performance } from 'node:perf_hooks';
// Types only: OpenTelemetry is loaded with the Tracing a process starts, never by the gateway itself.
import type { RequestTrace, Span } from '../../observability/tracing/request-trace.ts';
import type { Tracing } from '../../observability/tracing/tracing.ts';
import type { OperationKind } from './paths.ts';
import type { Exchange, GatewayStep } from './exchange.ts';

/** Low-cardinality span names: the route template, never the model name or the query. */
const ROUTES: Readonly<Record<OperationKind, string>> = {
  'health-live': '/v2/health/live',
  'health-ready': '/v2/health/ready',
  'model-metadata': '/v2/models/{model}',
  'model-ready': '/v2/models/{model}/ready',
  'model-infer': '/v2/models/{model}/infer',
  'openai-models': '/v1/models',
  'openai-chat': '/v1/chat/completions',
  'openai-completions': '/v1/completions',
  'openai-embeddings': '/v1/embeddings',
  'async-job': '/v1/jobs/{id}',
  'async-job-list': '/v1/jobs',
};

export class GatewayTrace {
  readonly #trace: RequestTrace;
  #edgeDone = false;
  #hold: Span | undefined = undefined;
  #route: Span | undefined = undefined;
  #retry: Span | undefined = undefined;
  #attempt: Span | undefined = undefined;
  #attempts = 0;

  constructor(tracing: Tracing, exchange: Exchange) {
    const method = exchange.req.method ?? 'GET';
    this.#trace = tracing.startRequest(method, 'server', exchange.req.headers, exchange.startedAt, {
      'http.request.method': method,
      'karb.request_id': exchange.requestId,
    });
  }

  /** The trace id an exemplar may carry: only a sampled trace's, which a person can look up. */
  get exemplarTraceId(): string | undefined {
    return this.#trace.sampled ? this.#trace.traceId : undefined;
  }

  /** The edge's checks passed (a pipeline step placed after them when tracing is on). */
  edgeDone(exchange: Exchange): void {
    this.#edgeDone = true;
    this.#trace.record('karb.edge', exchange.startedAt, performance.now());
  }

  held(): void {
    this.#hold = this.#trace.child('karb.hold', performance.now());
  }

  released(): void {
    if (this.#hold !== undefined) this.#trace.end(this.#hold);
    this.#hold = undefined;
  }

  routeStarted(): void {
    this.#route = this.#trace.child('karb.route', performance.now());
  }

  /** An attempt leaves for `url`; returns its span, whose traceparent the replica gets. */
  attemptStarted(exchange: Exchange, url: string): Span {
    const now = performance.now();
    if (this.#route !== undefined) this.#trace.end(this.#route, now);
    this.#route = undefined;
    if (this.#retry !== undefined) this.#trace.end(this.#retry, now);
    this.#retry = undefined;
    this.#attempts++;
    if (!this.#trace.sampled) return this.#trace.root;
    const endpoint = new URL(url);
    const span = this.#trace.child('karb.upstream', now, 'client', {
      'karb.attempt': this.#attempts,
      'karb.service': exchange.route?.service ?? '',
      'karb.revision': exchange.revision?.revision ?? '',
      'karb.replica': exchange.endpoint?.replica ?? '',
      'server.address': endpoint.hostname,
      'server.port': Number(endpoint.port),
    });
    this.#attempt = span;
    return span;
  }

  /** The attempt under `span` ended: the replica's status, 0 if none came; `errorType` when it failed. */
  attemptEnded(span: Span, status: number, errorType: string | undefined): void {
    if (span === this.#trace.root) return;
    // An ended span takes no more attributes: a retry decided after this names no attempt.
    if (span === this.#attempt) this.#attempt = undefined;
    if (status > 0) span.setAttribute('http.response.status_code', status);
    if (errorType !== undefined) this.#trace.fail(span, errorType);
    else {
      if (status >= 500) this.#trace.markError(span);
      this.#trace.end(span);
    }
  }

  /** The router will place another attempt after a backoff; the last attempt, still open (upstream.ts decides before ending it), is why. */
  retryScheduled(reason: string): void {
    this.#attempt?.setAttribute('karb.retry.reason', reason);
    if (this.#trace.sampled) this.#retry = this.#trace.child('karb.retry', performance.now(), 'internal', { 'karb.retry.reason': reason });
  }

  /** The `traceparent` and `tracestate` (the caller's, passed on) for the attempt under `span`. */
  traceparent(span: Span): string {
    return this.#trace.traceparent(span);
  }

  tracestate(span: Span): string | undefined {
    return this.#trace.tracestate(span);
  }

  /** The response closed with `status`: spans still open end here, the root last. */
  finish(exchange: Exchange, status: number): void {
    const t = this.#trace;
    const root = t.root;
    if (!t.sampled) {
      t.end(root);
      return;
    }
    const now = performance.now();
    const error = exchange.error?.code;
    // Answered before the edge's checks passed (401, 404, 429…): the edge span is the whole of it.
    if (!this.#edgeDone) t.record('karb.edge', exchange.startedAt, now);
    for (const open of [this.#hold, this.#route, this.#retry]) {
      if (open === undefined) continue;
      if (error !== undefined) t.fail(open, error, now);
      else t.end(open, now);
    }
    const match = exchange.match;
    if (match !== undefined) root.updateName(`${exchange.req.method ?? 'GET'} ${ROUTES[match.kind]}`);
    root.setAttribute('http.response.status_code', status);
    if (exchange.route !== undefined) root.setAttribute('karb.service', exchange.route.service);
    if (exchange.revision !== undefined) root.setAttribute('karb.revision', exchange.revision.revision);
    if (this.#attempts > 0) root.setAttribute('karb.attempts', this.#attempts);
    if (error !== undefined) root.setAttribute('error.type', error);
    if (status >= 500) t.markError(root);
    t.end(root, now);
  }
}

/** Placed after the edge's steps when tracing is on: the edge span ends here. */
export const traceEdgeDone: GatewayStep = {
  name: 'trace-edge',
  run(exchange: Exchange): void {
    exchange.trace?.edgeDone(exchange);
    exchange.next();
  },
};

/** Placed before the route step when tracing is on: the route span starts here. */
export const traceRouteStarted: GatewayStep = {
  name: 'trace-route',
  run(exchange: Exchange): void {
    exchange.trace?.routeStarted();
    exchange.next();
  },
};
