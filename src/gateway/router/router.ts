/**
 * L2 routing with L3 backpressure: where each attempt of a request goes, and
 * what happens when one fails. The `route` step replaces a one-shot pick:
 *
 *   revision   weighted split; a session header pins the draw (sticky.ts);
 *              `x-karb-revision` pins the revision itself (preview.ts): every
 *              attempt goes there, whatever its weight, and never to a fallback
 *   endpoint   power of two choices on outstanding + decayed reported queue,
 *              skipping ejected endpoints and those this request already tried
 *   capacity   every eligible endpoint at `concurrencyLimit` → wait in the
 *              service's FIFO (admission-queue.ts) or 429/503 past its bound;
 *              refused there, or timed out waiting, is reported (`ctx.onRefused`)
 *   fallback   no healthy capacity (no endpoint, all ejected, or retries spent
 *              on 5xx/connect errors) → the first `route.fallback` service
 *              with endpoints, one level only, `x-karb-fallback` on the answer
 *   retry      connect error, reset, per-try timeout or 502/503/504 before the
 *              response started → another endpoint after a jittered backoff,
 *              at most `maxRetries`, within the retry budget and the deadline
 *              (a request's first retry after a connect error or reset is
 *              outside the budget: retry.ts `isConnectionFailure` says why)
 *   per try    `routing.perTryTimeoutMs` if set, else the route's (derived from
 *              its SLO by the control plane), else the deadline
 *
 * This is karb's only retry layer: replicas never retry, and clients that see
 * a 503 from karb have already been retried for. The proxy (upstream.ts)
 * reports each attempt's outcome through `AttemptHooks`.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { KarbError } from '../../errors.ts';
import type { Clock, TimerHandle } from '../../util/clock.ts';
import type { Log } from '../../util/log.ts';
import { AdmissionQueues, admissionQueueFull, defaultQueueBound } from '../buffer/admission-queue.ts';
import { DeadlineExceededError, TryTimeoutError } from './deadline.ts';
import { pickEndpointByLoad } from './endpoint-picker.ts';
import { NoReadyEndpointError, UpstreamUnreachableError } from '../server/errors.ts';
import type { Exchange, GatewayResponse, GatewayStep } from '../server/exchange.ts';
import type { GatewayMetrics } from '../server/metrics.ts';
import { OutlierDetector, type OutlierOptions } from './outlier.ts';
import type { OutstandingRequests } from './outstanding.ts';
import { REVISION_HEADER, previewRevision } from './preview.ts';
import { QUEUE_DEPTH_HEADER, ReportedQueueDepths, parseQueueDepth } from './queue-depth.ts';
import { backoffMs, isConnectionFailure, retryReasonForError, retryReasonForStatus, type RetryReason } from './retry.ts';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.ts';
import { pickRevision } from './revision-picker.ts';
import { RouterMetrics } from './router-metrics.ts';
import type { Route, RouteEndpoint, RouteRevision, RoutingTable } from '../discovery/routing-table.ts';
import { sessionDraw } from './sticky.ts';

export const FALLBACK_HEADER = 'x-karb-fallback';

export interface RouterOptions {
  /** Overall deadline of a request without one of its own (`exchange.deadlineAt`). Default 60 s. */
  deadlineMs?: number;
  /**
   * Longest wait for one attempt's response to start, for every service: an operator's override.
   * Default: each route's `perTryTimeoutMs` (the control plane derives it from the service's SLO),
   * and for a route without one the deadline.
   */
  perTryTimeoutMs?: number;
  /** Retries per request (a fallback attempt after them is one more). Default 2. */
  maxRetries?: number;
  retryBudget?: RetryBudgetOptions;
  outlier?: OutlierOptions;
  /** How long a replica's queue-depth report keeps (decaying) weight. Default 2 s. */
  queueDepthStaleMs?: number;
  /** Header whose value pins a session to a revision; '' turns stickiness off. Default x-karb-session. */
  sessionHeader?: string;
  /** Wait-queue bound per service; default 2 × concurrencyLimit × ready endpoints. */
  queueBound?: number;
}

export interface RouterDeps {
  routingTable: RoutingTable;
  clock: Clock;
  random: () => number;
  outstanding: OutstandingRequests;
  metrics: GatewayMetrics;
  log: Log | undefined;
}

/** What the proxy tells the router about each attempt. */
export interface AttemptHooks {
  started(exchange: Exchange, url: string): void;
  /** The replica answered `status`; true: the router retries, drop this answer. May add headers. */
  responded(exchange: Exchange, url: string, status: number, headers: IncomingHttpHeaders): boolean;
  /** The attempt failed before its response started; true: the router retries, do not answer. */
  failed(exchange: Exchange, url: string, error: KarbError, code: unknown): boolean;
  /** The attempt released its endpoint slot. */
  ended(exchange: Exchange, url: string): void;
}

/** Per-request routing state. */
class Routing {
  readonly primary: Route;
  readonly deadline: number;
  readonly deadlineMs: number;
  readonly draw: (() => number) | undefined;
  /** The revision `x-karb-revision` named: every attempt goes there, no split, no fallback. */
  readonly pinned: RouteRevision | undefined;
  fallback: Route | undefined = undefined;
  /** Retries are spent: the next attempt must go to a fallback service. */
  wantFallback = false;
  attempts = 0;
  retries = 0;
  tried: string[] = [];
  holdsRetry = false;
  /** The one retry after a connection failure that goes outside the budget is taken. */
  freeRetryUsed = false;
  /** The per-try timeout of the attempt in flight, for its error message. */
  tryMs = 0;
  queued = false;
  timer: TimerHandle | undefined = undefined;

  constructor(
    primary: Route,
    deadline: number,
    deadlineMs: number,
    draw: (() => number) | undefined,
    pinned: RouteRevision | undefined,
  ) {
    this.primary = primary;
    this.deadline = deadline;
    this.deadlineMs = deadlineMs;
    this.draw = draw;
    this.pinned = pinned;
  }
}

type Choice =
  | { kind: 'target'; route: Route; revision: RouteRevision; endpoint: RouteEndpoint }
  | { kind: 'full'; route: Route }
  | { kind: 'none' };

export class Router implements AttemptHooks {
  readonly #deps: RouterDeps;
  readonly #deadlineMs: number;
  readonly #perTryMs: number | undefined;
  readonly #maxRetries: number;
  readonly #sessionHeader: string;
  readonly #queueBound: number | undefined;
  readonly #budget: RetryBudget;
  readonly #outliers: OutlierDetector;
  readonly #depths: ReportedQueueDepths;
  readonly #queues: AdmissionQueues<Exchange>;
  readonly #metrics: RouterMetrics;
  readonly #state = new WeakMap<Exchange, Routing>();
  /** A 'close' listener with the response as `this`: one function per router, none per request. */
  readonly #onClose: (this: GatewayResponse) => void;
  #dispatch: (exchange: Exchange) => void = () => {
    throw new KarbError('PIPELINE_INCOMPLETE', 'the router has no proxy to dispatch to');
  };

  constructor(deps: RouterDeps, options: RouterOptions = {}) {
    this.#deps = deps;
    this.#deadlineMs = options.deadlineMs ?? 60_000;
    this.#perTryMs = options.perTryTimeoutMs;
    this.#maxRetries = options.maxRetries ?? 2;
    this.#sessionHeader = options.sessionHeader ?? 'x-karb-session';
    this.#queueBound = options.queueBound;
    this.#budget = new RetryBudget(options.retryBudget);
    this.#outliers = new OutlierDetector(options.outlier);
    this.#depths = new ReportedQueueDepths(options.queueDepthStaleMs ?? 2_000);
    this.#metrics = new RouterMetrics(deps.metrics.registry, () => this.#ejectedByService());
    this.#queues = new AdmissionQueues((service, depth) => this.#metrics.queueDepth(service, depth));
    const router = this;
    this.#onClose = function (this: GatewayResponse): void {
      const exchange = this.req.exchange;
      if (exchange !== undefined) router.closed(exchange);
    };
  }

  /** Where attempts go once placed: the proxy step. Set once, when the pipeline is built. */
  setDispatch(dispatch: (exchange: Exchange) => void): void {
    this.#dispatch = dispatch;
  }

  /** Requests of `service` waiting for a slot (a scaling signal). */
  queueDepth(service: string): number {
    return this.#queues.depth(service);
  }

  /** Whether a route without ready endpoints of its own could be served by a fallback. */
  hasFallbackCapacity(route: Route): boolean {
    return this.#fallbackFor(route, this.#deps.clock.now()) !== undefined;
  }

  /** Forgets health and queue reports of endpoints that left the table. */
  sweep(liveUrls: ReadonlySet<string>): void {
    this.#outliers.sweep(liveUrls);
    this.#depths.sweep(liveUrls);
  }

  /** The pipeline step: sets the request's deadline and places its first attempt. */
  step(): GatewayStep {
    return {
      name: 'route',
      run: (exchange: Exchange): void => {
        const route = exchange.route!;
        const now = this.#deps.clock.now();
        const deadline = exchange.deadlineAt ?? now + this.#deadlineMs;
        const headers = exchange.req.headers;
        // Throws 400/404 for a bad or unknown name (after auth and scope checks, so nothing leaks).
        const pinned = previewRevision(route, headers[REVISION_HEADER]);
        const session = pinned !== undefined || this.#sessionHeader === '' ? undefined : headers[this.#sessionHeader];
        const draw = typeof session === 'string' && session.length > 0 ? sessionDraw(session) : undefined;
        const state = new Routing(route, deadline, deadline - now, draw, pinned);
        this.#state.set(exchange, state);
        this.#budget.requestStarted(route.service);
        exchange.res.once('close', this.#onClose);
        this.#place(exchange, state, false);
      },
    };
  }

  // ── attempt hooks (called by the proxy) ──

  started(exchange: Exchange, url: string): void {
    const state = this.#state.get(exchange);
    if (state === undefined) return;
    state.attempts++;
    state.tried.push(url);
    const now = this.#deps.clock.now();
    const left = state.deadline - now;
    const tryMs = this.#perTryMs ?? perTryOf(exchange.route);
    state.tryMs = tryMs;
    // Which bound the timer stands for is decided now: a timer may fire a millisecond early by the clock.
    const byDeadline = left <= tryMs;
    state.timer = this.#deps.clock.setTimeout(() => this.#expire(exchange, state, byDeadline), Math.max(0, byDeadline ? left : tryMs));
  }

  responded(exchange: Exchange, url: string, status: number, headers: IncomingHttpHeaders): boolean {
    const state = this.#state.get(exchange);
    if (state === undefined) return false;
    this.#clearTimer(state);
    const now = this.#deps.clock.now();
    const depth = parseQueueDepth(headers[QUEUE_DEPTH_HEADER]);
    if (depth !== undefined) this.#depths.record(url, depth, now);
    if (status >= 500) this.#failure(exchange, url, now);
    else this.#outliers.recordSuccess(url, now);
    const reason = retryReasonForStatus(status);
    if (reason !== undefined && this.#retry(exchange, state, reason)) return true;
    if (state.fallback !== undefined) (headers as OutgoingHttpHeaders)[FALLBACK_HEADER] = state.fallback.service;
    return false;
  }

  failed(exchange: Exchange, url: string, error: KarbError, code: unknown): boolean {
    const state = this.#state.get(exchange);
    if (state === undefined) return false;
    this.#clearTimer(state);
    if (error instanceof DeadlineExceededError) return false;
    // Any other transport failure before the response started is a broken connection: inference is idempotent.
    const reason = retryReasonForError(error instanceof TryTimeoutError ? 'TRY_TIMEOUT' : code) ?? (error instanceof UpstreamUnreachableError ? 'reset' : undefined);
    if (reason === undefined) return false;
    this.#failure(exchange, url, this.#deps.clock.now(), reason === 'timeout');
    return this.#retry(exchange, state, reason);
  }

  ended(exchange: Exchange, _url: string): void {
    const state = this.#state.get(exchange);
    this.#drain((state?.fallback ?? state?.primary ?? exchange.route)?.service);
  }

  #ejectedByService(): Map<string, number> {
    const now = this.#deps.clock.now();
    const counts = new Map<string, number>();
    for (const route of this.#deps.routingTable.all()) {
      let n = 0;
      for (const r of route.revisions) n += this.#outliers.ejectedCount(r.endpoints.map((e) => e.url), now);
      if (n > 0) counts.set(route.service, n);
    }
    return counts;
  }

  // ── placing attempts ──

  #place(exchange: Exchange, state: Routing, fromQueue: boolean): void {
    if (exchange.settled) return;
    const now = this.#deps.clock.now();
    if (now >= state.deadline) {
      // Taken from the wait queue too late: it timed out waiting for a slot.
      if (fromQueue) exchange.ctx.onRefused?.((state.fallback ?? state.primary).service);
      exchange.fail(new DeadlineExceededError(state.primary.model, state.deadlineMs));
      return;
    }
    const choice = this.#choose(state, now, fromQueue);
    if (choice.kind === 'none') {
      this.#deps.metrics.noEndpoint(state.primary.service);
      exchange.fail(new NoReadyEndpointError(state.primary.model, state.pinned?.revision));
      return;
    }
    if (choice.kind === 'full') {
      this.#admit(exchange, state, choice.route, fromQueue, now);
      return;
    }
    if (choice.route !== exchange.route) {
      exchange.route = choice.route;
      this.#metrics.fallback(state.primary.service, choice.route.service);
    }
    exchange.revision = choice.revision;
    exchange.endpoint = choice.endpoint;
    try {
      this.#dispatch(exchange);
    } catch (err) {
      exchange.fail(err);
    }
  }

  #choose(state: Routing, now: number, fromQueue: boolean): Choice {
    if (!state.wantFallback) {
      const route = state.fallback ?? state.primary;
      const choice = this.#chooseIn(route, state, now, fromQueue);
      if (choice.kind !== 'none') return choice;
    }
    if (state.fallback !== undefined) return { kind: 'none' }; // never more than one level
    // A pinned request asked for one revision: it never goes elsewhere.
    const fallback = state.pinned === undefined ? this.#fallbackFor(state.primary, now) : undefined;
    if (fallback === undefined) {
      // Retries are spent and nothing to fall back to: the caller gets the last answer.
      return state.wantFallback ? { kind: 'none' } : this.#chooseIn(state.primary, state, now, fromQueue, true);
    }
    state.fallback = fallback;
    state.wantFallback = false;
    return this.#chooseIn(fallback, state, now, fromQueue);
  }

  /**
   * A target in one route: none when it has no endpoint or every endpoint is
   * ejected (unless `anyHealth`, the last resort before refusing).
   */
  #chooseIn(route: Route, state: Routing, now: number, fromQueue: boolean, anyHealth = false): Choice {
    const revision = state.pinned ?? pickRevision(route.revisions, state.draw ?? this.#deps.random);
    // The split never picks a revision without endpoints; a pinned one may have none: 503, not the queue.
    if (revision === undefined || revision.endpoints.length === 0) return { kind: 'none' };
    const endpoints = revision.endpoints;
    const outliers = this.#outliers;
    const healthy = (e: RouteEndpoint): boolean => anyHealth || !outliers.isEjected(e.url, now);
    const fresh = (e: RouteEndpoint): boolean => healthy(e) && !state.tried.includes(e.url);
    const counts = this.#deps.outstanding;
    const depths = this.#depths;
    const load = (e: RouteEndpoint): number => counts.get(e.url) + depths.at(e.url, now);
    const random = this.#deps.random;
    const target = route.concurrencyLimit;
    // Backpressure applies to first attempts; a retry already waited its turn.
    if (state.attempts === 0 && target !== undefined && target > 0) {
      if (!fromQueue && this.#queues.depth(route.service) > 0) return { kind: 'full', route };
      let free = false;
      let any = false;
      for (const e of endpoints) {
        if (!healthy(e)) continue;
        any = true;
        if (counts.get(e.url) < target) free = true;
      }
      if (any && !free) return { kind: 'full', route };
      const endpoint = pickEndpointByLoad(endpoints, load, (e) => healthy(e) && counts.get(e.url) < target, random);
      if (endpoint !== undefined) return { kind: 'target', route, revision, endpoint };
      return { kind: 'none' };
    }
    const endpoint =
      pickEndpointByLoad(endpoints, load, fresh, random) ?? pickEndpointByLoad(endpoints, load, healthy, random);
    return endpoint === undefined ? { kind: 'none' } : { kind: 'target', route, revision, endpoint };
  }

  #fallbackFor(primary: Route, now: number): Route | undefined {
    const names = primary.fallback;
    if (names === undefined) return undefined;
    for (const name of names) {
      const route = this.#deps.routingTable.lookup(name);
      if (route === undefined || route === primary) continue;
      for (const r of route.revisions) {
        for (const e of r.endpoints) if (!this.#outliers.isEjected(e.url, now)) return route;
      }
    }
    return undefined;
  }

  #admit(exchange: Exchange, state: Routing, route: Route, fromQueue: boolean, now: number): void {
    const service = route.service;
    if (fromQueue) {
      this.#queues.unshift(service, exchange);
      return;
    }
    let endpoints = 0;
    for (const r of route.revisions) endpoints += r.endpoints.length;
    const bound = this.#queueBound ?? defaultQueueBound(route.concurrencyLimit ?? 0, endpoints);
    if (!this.#queues.push(service, exchange, bound)) {
      const error = admissionQueueFull(route.model, route.asyncEnabled === true);
      this.#metrics.queueRejected(service, error.status);
      exchange.ctx.onRefused?.(service);
      exchange.fail(error);
      return;
    }
    state.queued = true;
    state.timer = this.#deps.clock.setTimeout(() => this.#waitedTooLong(exchange, state, service), Math.max(0, state.deadline - now));
  }

  /** A request's deadline passed while it waited in `service`'s queue: out of the queue with 504. */
  #waitedTooLong(exchange: Exchange, state: Routing, service: string): void {
    state.timer = undefined;
    if (!state.queued) return;
    state.queued = false;
    this.#queues.remove(service, exchange);
    if (!exchange.settled) exchange.ctx.onRefused?.(service);
    exchange.fail(new DeadlineExceededError(state.primary.model, state.deadlineMs));
  }

  /** A slot of `service` may have freed: dispatch waiting requests while they fit. */
  #drain(service: string | undefined): void {
    if (service === undefined) return;
    for (;;) {
      const next = this.#queues.shift(service);
      if (next === undefined) return;
      const state = this.#state.get(next);
      if (state === undefined || next.settled) continue;
      this.#clearTimer(state);
      state.queued = false;
      const before = this.#queues.depth(service);
      this.#place(next, state, true);
      if (state.queued || this.#queues.depth(service) > before) {
        // Put back at the head: still no free slot. Re-arm its deadline.
        state.queued = true;
        const now = this.#deps.clock.now();
        state.timer = this.#deps.clock.setTimeout(() => this.#waitedTooLong(next, state, service), Math.max(0, state.deadline - now));
        return;
      }
    }
  }

  // ── failures and retries ──

  #failure(exchange: Exchange, url: string, now: number, timedOut = false): void {
    const route = exchange.route;
    const revision = exchange.revision;
    if (route === undefined || revision === undefined) return;
    const urls = revision.endpoints.map((e) => e.url);
    const outcome = this.#outliers.recordFailure(url, urls, now, timedOut);
    if (outcome.ejected) {
      this.#metrics.ejection(route.service);
      this.#deps.log?.({
        time: new Date(now).toISOString(),
        level: 'warn',
        msg: 'endpoint ejected',
        service: route.service,
        revision: revision.revision,
        url,
        reason: outcome.reason,
        forMs: outcome.forMs,
      });
    }
  }

  /** Schedules another attempt if the rules, the budget and the deadline allow one. */
  #retry(exchange: Exchange, state: Routing, reason: RetryReason): boolean {
    if (exchange.settled) return false;
    const spent = state.retries >= this.#maxRetries;
    if (
      spent &&
      (state.pinned !== undefined ||
        state.fallback !== undefined ||
        this.#fallbackFor(state.primary, this.#deps.clock.now()) === undefined)
    ) {
      return false;
    }
    const now = this.#deps.clock.now();
    if (now >= state.deadline) return false;
    const service = state.primary.service;
    if (state.holdsRetry) {
      this.#budget.release(service);
      state.holdsRetry = false;
    }
    if (!state.freeRetryUsed && isConnectionFailure(reason)) {
      state.freeRetryUsed = true;
    } else {
      if (!this.#budget.tryAcquire(service)) {
        this.#metrics.budgetExhausted(service);
        return false;
      }
      state.holdsRetry = true;
    }
    state.retries++;
    if (spent) state.wantFallback = true;
    this.#metrics.retry(service, reason);
    exchange.trace?.retryScheduled(reason);
    const delay = Math.min(backoffMs(state.retries, this.#deps.random), Math.max(0, state.deadline - now - 1));
    state.timer = this.#deps.clock.setTimeout(() => {
      state.timer = undefined;
      this.#place(exchange, state, false);
    }, delay);
    return true;
  }

  #expire(exchange: Exchange, state: Routing, byDeadline: boolean): void {
    state.timer = undefined;
    const call = exchange.upstream as { expire?: (error: KarbError) => void } | null;
    if (call === null || typeof call.expire !== 'function') return;
    const replica = exchange.endpoint?.replica ?? '';
    call.expire(
      byDeadline || this.#deps.clock.now() >= state.deadline
        ? new DeadlineExceededError(state.primary.model, state.deadlineMs)
        : new TryTimeoutError(state.primary.model, replica, state.tryMs),
    );
  }

  #clearTimer(state: Routing): void {
    if (state.timer === undefined) return;
    this.#deps.clock.clearTimeout(state.timer);
    state.timer = undefined;
  }

  /** The response closed (complete or not): give back what the request held. */
  closed(exchange: Exchange): void {
    const state = this.#state.get(exchange);
    if (state === undefined) return;
    this.#state.delete(exchange);
    this.#clearTimer(state);
    if (state.queued) {
      state.queued = false;
      this.#queues.remove((state.fallback ?? state.primary).service, exchange);
    }
    if (state.holdsRetry) this.#budget.release(state.primary.service);
    state.holdsRetry = false;
    this.#budget.requestFinished(state.primary.service);
  }
}

/** A route's own per-try timeout; without a usable one (absent, or not a positive number), none but the deadline. */
function perTryOf(route: Route | undefined): number {
  const ms = route?.perTryTimeoutMs;
  return ms !== undefined && ms > 0 ? ms : Infinity;
}
