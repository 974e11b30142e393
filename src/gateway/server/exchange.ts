/**
 * One request's trip through the gateway: the state the pipeline steps share
 * (what was matched, the route, the chosen revision and endpoint, the body) and
 * the single place where errors become HTTP responses and where a finished
 * request is counted and logged.
 *
 * The pipeline is a list of steps created once per gateway. A step either
 * answers (`respond`/`fail`) or hands on with `exchange.next()`, now or later
 * (after reading the body, say). The cursor lives on the exchange, so running
 * a request allocates no closures.
 */
import { IncomingMessage, type ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { KarbError, isKarbError } from '../../errors.ts';
import type { Clock } from '../../util/clock.ts';
import type { Log } from '../../util/log.ts';
import type { FailureLog } from './failure-log.ts';
import type { GatewayMetrics } from './metrics.ts';
import { isLocalOperation, type PathMatch } from './paths.ts';
import { mainRevision, type Route, type RouteEndpoint, type RouteRevision } from '../discovery/routing-table.ts';
import type { SliSink } from '../../observability/sli-sink.ts';
import { isOpenAIPath } from './openai.ts';
import { openAIErrorJson } from '../../api/openai-errors.ts';
import type { KeyRecord as ApiKey } from '../edge/keys.ts';
import type { GatewayTrace } from './trace.ts';

/** The server's request class: carries its exchange so event listeners need no closures. */
export class GatewayRequest extends IncomingMessage {
  exchange: Exchange | undefined = undefined;
}

export type GatewayResponse = ServerResponse<GatewayRequest>;

export interface GatewayStep {
  readonly name: string;
  /** Answers the request or calls `exchange.next()`; may throw a KarbError. */
  run(exchange: Exchange): void;
}

/** What every exchange of one gateway shares. */
export interface ExchangeContext {
  readonly steps: readonly GatewayStep[];
  readonly metrics: GatewayMetrics;
  readonly clock: Clock;
  readonly log: Log | undefined;
  /** Rate limits of the access log's lines for failed requests; absent: every line is written. */
  readonly failureLog?: FailureLog | undefined;
  /** Told each request's SLI outcome once, as it finishes (sli-sink.ts). */
  readonly sli?: SliSink | undefined;
  /**
   * Told of each request of `service` turned away before a replica began it, for want of capacity
   * (`SignalSink.requestRefused`): the wait queue or the hold full, or waited past the deadline or
   * the hold's timeout. Absent from the async-job worker's pipeline: a job refused there goes back
   * to its queue, still waiting.
   */
  readonly onRefused?: ((service: string) => void) | undefined;
}

/** The part of an in-flight upstream call the exchange may need to stop. */
export interface UpstreamCall {
  /** The client went away: stop the call if it is still running. */
  abort(): void;
}

/** Status recorded for a request whose client disconnected before the response was complete. */
export const CLIENT_CLOSED_STATUS = 499;

const JSON_TYPE = 'application/json';
const MAX_REQUEST_ID_LENGTH = 200;

export class Exchange {
  readonly req: GatewayRequest;
  readonly res: GatewayResponse;
  readonly ctx: ExchangeContext;
  /** `performance.now()` at arrival; durations need sub-millisecond precision. */
  readonly startedAt: number;
  /** From the caller's `x-request-id`, or generated; returned on every response. */
  readonly requestId: string;

  match: PathMatch | undefined = undefined;
  route: Route | undefined = undefined;
  revision: RouteRevision | undefined = undefined;
  endpoint: RouteEndpoint | undefined = undefined;
  /** The request body, read whole by the body step; null for requests without one. */
  body: Buffer | null = null;
  bodyChunks: Buffer[] | null = null;
  bodyBytes = 0;
  bodyLimitBytes = 0;
  upstream: UpstreamCall | null = null;
  /** The caller's API key record, once the auth step accepted it; undefined when auth is off. */
  apiKey: ApiKey | undefined = undefined;
  /** Absolute deadline (clock ms) from `x-karb-timeout-ms`, bounded by the gateway's maximum; undefined: none given. */
  deadlineAt: number | undefined = undefined;
  /** The error the caller was answered with, for the access log. */
  error: KarbError | undefined = undefined;
  /** This request's spans; undefined when tracing is off (trace.ts). */
  trace: GatewayTrace | undefined = undefined;
  /**
   * The SLIs leave this request out: the caller's own API-key rate limit refused it (edge), which
   * says nothing of the service; a flood of them would otherwise page its on-call, or dilute its bad share.
   */
  outsideSli = false;

  #step = 0;

  constructor(req: GatewayRequest, res: GatewayResponse, ctx: ExchangeContext) {
    this.req = req;
    this.res = res;
    this.ctx = ctx;
    this.startedAt = performance.now();
    const given = req.headers['x-request-id'];
    this.requestId =
      typeof given === 'string' && given.length > 0 && given.length <= MAX_REQUEST_ID_LENGTH ? given : randomUUID();
  }

  /** True once the response is complete or can no longer be written. */
  get settled(): boolean {
    return this.res.headersSent || this.res.destroyed;
  }

  /** Runs the next pipeline step. */
  next(): void {
    if (this.settled) return;
    const step = this.ctx.steps[this.#step++];
    if (step === undefined) {
      this.fail(new KarbError('PIPELINE_INCOMPLETE', 'the gateway has no step that answers this request'));
      return;
    }
    try {
      step.run(this);
    } catch (err) {
      this.fail(err);
    }
  }

  respond(status: number, contentType: string, body: string | Buffer, headers?: OutgoingHttpHeaders): void {
    if (this.settled) return;
    const res = this.res;
    if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name]!);
    res.setHeader('content-type', contentType);
    res.setHeader('x-request-id', this.requestId);
    res.writeHead(status);
    res.end(body);
  }

  respondJson(status: number, json: string, headers?: OutgoingHttpHeaders): void {
    this.respond(status, JSON_TYPE, json, headers);
  }

  /**
   * Answers with the error in the Open Inference Protocol shape `{ "error": "..." }`.
   * Anything that is not a KarbError is an internal fault: the caller gets a 500
   * naming the request id, the log gets the details. If the response has already
   * started, the connection is cut so the caller cannot mistake it for complete.
   */
  fail(err: unknown): void {
    if (this.res.headersSent) {
      this.res.destroy();
      return;
    }
    if (this.res.destroyed) return;
    const e = isKarbError(err)
      ? err
      : new KarbError('INTERNAL', `internal gateway error; quote request id ${this.requestId} when reporting it`, {
          cause: err,
        });
    this.error = e;
    if (e.code === 'INTERNAL' && this.ctx.log !== undefined) {
      this.ctx.log({
        time: new Date(this.ctx.clock.now()).toISOString(),
        level: 'error',
        msg: 'internal gateway error',
        requestId: this.requestId,
        error: err instanceof Error ? err.stack : String(err),
      });
    }
    // OpenAI clients read `{ error: { message, type, param, code } }` on /v1; OIP clients read `{ error: "..." }`.
    this.respondJson(e.status, isOpenAIPath(this.req.url) ? openAIErrorJson(e) : JSON.stringify({ error: e.message }), e.headers());
  }

  /** Called once, when the response closes (complete or not): accounting and access log. */
  finish(): void {
    const res = this.res;
    const upstream = this.upstream;
    if (upstream !== null) upstream.abort();

    const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED_STATUS;
    const match = this.match;
    const counted = match === undefined || !isLocalOperation(match.kind);
    // Health checks are never traced: a root span left unended is never exported.
    if (counted) this.trace?.finish(this, status);
    if (!counted && this.ctx.log === undefined) return;

    const seconds = (performance.now() - this.startedAt) / 1000;
    const service = this.route?.service ?? '';
    const revision = this.revision?.revision ?? '';
    if (counted) {
      this.ctx.metrics.requestFinished(service, revision, status, seconds, this.route?.latencyTargetMs, this.trace?.exemplarTraceId, this.outsideSli);
      // The same request once more, for the in-process SLIs: a 503 the gateway made before choosing
      // a revision counts against the route's main one, the one its callers are served by.
      const sli = this.ctx.sli;
      if (sli !== undefined && service !== '' && !this.outsideSli) {
        const sliRevision = revision || mainRevision(this.route!);
        if (sliRevision !== '') sli.requestAnswered(service, sliRevision, status, seconds * 1000);
      }
    }
    const log = this.ctx.log;
    const level = status >= 500 ? 'warn' : 'info';
    // No record is built, and no failure-log budget spent, for a level that is off.
    if (log !== undefined && log.enabled?.(level) !== false) {
      // Failures are logged within a budget (failure-log.ts); the counts above are never sampled.
      const now = this.ctx.clock.now();
      const unloggedBefore = status >= 400 && this.ctx.failureLog !== undefined ? this.ctx.failureLog.take(status, now) : 0;
      if (unloggedBefore === -1) return;
      log({
        time: new Date(now).toISOString(),
        level,
        msg: 'request',
        requestId: this.requestId,
        method: this.req.method,
        path: this.req.url,
        model: match?.model || undefined,
        service: service || undefined,
        revision: revision || undefined,
        replica: this.endpoint?.replica,
        status,
        durationMs: Math.round(seconds * 1e6) / 1e3,
        error: this.error?.code,
        message: this.error?.message,
        unloggedBefore: unloggedBefore > 0 ? unloggedBefore : undefined,
      });
    }
  }
}
