/**
 * Rollout mirroring (shadow traffic): with `route.mirror` set, a share of the
 * requests the other revisions serve is copied to the mirror revision and its
 * answers are thrown away. The copy is how a rollout judges a revision on real
 * traffic before it serves anyone: each copy is reported to the autoscaler's
 * `SignalSink` under the mirror revision, exactly like a served attempt, and
 * rollout analysis reads those signals.
 *
 * A copy never touches the caller's request: it is sent after the first
 * attempt, on its own (fire and forget), is never retried, and is invisible to
 * the router (outstanding counts, outlier ejection, retry budget, deadlines).
 * It reuses the proxy's keep-alive pools and carries only what the proxy would
 * send (never `authorization`). The decision is made once per client request,
 * at its first attempt; copies in flight per service are bounded, past the
 * bound a copy is skipped and counted.
 */
import { upstreamPath } from '../server/paths.ts';
import type { Dispatcher } from 'undici';
import { Counter, type Registry } from 'prom-client';
import { performance } from 'node:perf_hooks';
import type { SignalSink } from '../../observability/hub.ts';
import { pickEndpointByLoad } from './endpoint-picker.ts';
import type { Exchange } from '../server/exchange.ts';
import type { OutstandingRequests } from './outstanding.ts';
import type { Route, RouteEndpoint, RouteRevision } from '../discovery/routing-table.ts';
import type { UpstreamPools } from './upstream.ts';
import { QUEUE_MS_HEADER, parseQueueMs } from './queue-depth.ts';

export const DEFAULT_MIRROR_MAX_IN_FLIGHT_PER_SERVICE = 64;

/** Suffix of a copy's `x-request-id`, so replica logs tell copies from the requests they copy. */
export const MIRROR_REQUEST_ID_SUFFIX = '-mirror';

export interface MirrorOptions {
  /** Copies in flight per service; past it a copy is skipped (`outcome="skipped"`). Default 64. */
  maxInFlightPerService?: number;
}

/**
 * Where a request served by `servedRevision` of `route` is copied, or
 * undefined: no mirror configured, it was served by the mirror revision itself
 * (the split or `x-karb-revision` sent it there), the mirror revision is not in
 * the route or has no ready endpoint, or the draw fell outside `percent`.
 * Draws from `random` only when a copy is possible and 0 < percent < 100.
 */
export function mirrorTarget(route: Route, servedRevision: string, random: () => number): RouteRevision | undefined {
  const mirror = route.mirror;
  if (mirror === undefined || mirror.revision === servedRevision || !(mirror.percent > 0)) return undefined;
  let target: RouteRevision | undefined;
  for (const r of route.revisions) {
    if (r.revision === mirror.revision) {
      target = r;
      break;
    }
  }
  if (target === undefined || target.endpoints.length === 0) return undefined;
  if (mirror.percent < 100 && random() * 100 >= mirror.percent) return undefined;
  return target;
}

/** `karb_gateway_mirrored_requests_total` outcome: 2xx, anything else (or no answer), or not sent. */
export type MirrorOutcome = 'ok' | 'error' | 'skipped';

export function mirrorOutcome(status: number): MirrorOutcome {
  return status >= 200 && status < 300 ? 'ok' : 'error';
}

export interface MirrorDeps {
  pools: UpstreamPools;
  /** The proxy's counts; a copy goes to the mirror revision's least loaded endpoint (these plus copies in flight). */
  outstanding: OutstandingRequests;
  registry: Registry;
  random: () => number;
  signals?: SignalSink | undefined;
}

export interface Mirror {
  /**
   * Called by the proxy for each attempt of a request whose route has a
   * mirror; acts on the first attempt only and returns at once.
   */
  offer(exchange: Exchange): void;
}

export function createMirror(deps: MirrorDeps, options: MirrorOptions = {}): Mirror {
  const bound = options.maxInFlightPerService ?? DEFAULT_MIRROR_MAX_IN_FLIGHT_PER_SERVICE;
  const { pools, outstanding, random, signals } = deps;
  const counter = new Counter({
    name: 'karb_gateway_mirrored_requests_total',
    help:
      'Copies of requests sent to a rollout mirror revision, by service, mirror revision and outcome ' +
      '(ok: 2xx; error: any other status or no answer; skipped: too many copies in flight).',
    labelNames: ['service', 'revision', 'outcome'],
    registers: [deps.registry],
  });
  /** Requests whose first attempt was offered: a retry is never copied again. */
  const decided = new WeakSet<Exchange>();
  const perService = new Map<string, number>();
  const perUrl = new Map<string, number>();
  const load = (e: RouteEndpoint): number => outstanding.get(e.url) + (perUrl.get(e.url) ?? 0);
  const any = (): boolean => true;

  const add = (map: Map<string, number>, key: string, n: number): void => {
    const v = (map.get(key) ?? 0) + n;
    if (v > 0) map.set(key, v);
    else map.delete(key);
  };

  const send = (exchange: Exchange, service: string, revision: string, endpoint: RouteEndpoint): void => {
    const req = exchange.req;
    const h = req.headers;
    const headers: string[] = ['x-request-id', exchange.requestId + MIRROR_REQUEST_ID_SUFFIX];
    if (h['content-type'] !== undefined) headers.push('content-type', h['content-type']);
    if (typeof h.traceparent === 'string') headers.push('traceparent', h.traceparent);
    if (typeof h.tracestate === 'string') headers.push('tracestate', h.tracestate);
    const url = endpoint.url;
    add(perService, service, 1);
    add(perUrl, url, 1);
    signals?.requestStarted(service, revision);
    const sentAt = performance.now();
    let status = 0;
    /** A copy goes out at once: its wait is the replica's own queue, if it says (-1: no answer). */
    let waitMs = -1;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      add(perService, service, -1);
      add(perUrl, url, -1);
      counter.inc({ service, revision, outcome: mirrorOutcome(status) });
      signals?.requestFinished(service, revision, url, performance.now() - sentAt, status, -1, status > 0 ? waitMs : -1);
    };
    let request: Promise<Dispatcher.ResponseData>;
    try {
      request = pools.get(url).request({ path: upstreamPath(req.url!), method: req.method as Dispatcher.HttpMethod, headers, body: exchange.body });
    } catch {
      done();
      return;
    }
    request.then(
      (response) => {
        status = response.statusCode;
        waitMs = parseQueueMs(response.headers[QUEUE_MS_HEADER]) ?? 0;
        // Read to the end and drop (the connection goes back to the pool); a body cut short is no answer.
        const body = response.body;
        body.on('error', () => {
          status = 0;
        });
        body.once('close', done);
        body.resume();
      },
      done,
    );
  };

  return {
    offer(exchange: Exchange): void {
      if (decided.has(exchange)) return;
      decided.add(exchange);
      const route = exchange.route;
      const served = exchange.revision;
      if (route === undefined || served === undefined) return;
      const target = mirrorTarget(route, served.revision, random);
      if (target === undefined) return;
      const service = route.service;
      if ((perService.get(service) ?? 0) >= bound) {
        counter.inc({ service, revision: target.revision, outcome: 'skipped' });
        return;
      }
      const endpoint = pickEndpointByLoad(target.endpoints, load, any, random);
      if (endpoint !== undefined) send(exchange, service, target.revision, endpoint);
    },
  };
}
