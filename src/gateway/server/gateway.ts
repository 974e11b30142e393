/**
 * karb's data plane: an HTTP server (plain `node:http`) that routes Open
 * Inference Protocol v2 requests by model name to ready replicas.
 *
 * Every request runs the same pipeline of steps (see steps.ts); later edge and
 * router features (auth, rate limits, retries, async jobs) are more steps in
 * this list, the proxy stays the last one:
 *
 *   match-request → serve-local → [edge: deadline, authenticate] → [serve-job] → resolve-model
 *     → [edge: authorize, rate-limit] → model-ready → [hold-while-cold] → read-body → [enqueue-job] → route → proxy
 *
 * Async jobs (jobs/) run through a second, loopback-only pipeline with the routing half of these steps.
 */
import { createServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { systemClock, unref, type Clock, type TimerHandle } from '../../util/clock.ts';
import { readBody } from '../edge/body.ts';
import { Exchange, GatewayRequest, type ExchangeContext, type GatewayResponse, type GatewayStep } from './exchange.ts';
import { GatewayMetrics } from './metrics.ts';
import { OutstandingRequests } from '../router/outstanding.ts';
import type { RoutingTable } from '../discovery/routing-table.ts';
import type { Log } from '../../util/log.ts';
import { matchRequest, resolveModel, serveLocal, serveModelReady } from './steps.ts';
import { Router, type RouterOptions } from '../router/router.ts';
import { UpstreamPools, proxyToUpstream } from '../router/upstream.ts';
import { extractOpenAIModel, readOpenAIBody, serveOpenAIModels } from './openai.ts';
import { createEdge, type EdgeOptions } from '../edge/edge.ts';
import type { SignalSink } from '../../observability/hub.ts';
import type { SliSink } from '../../observability/sli-sink.ts';
import { holdWhileCold, type HoldOptions } from '../buffer/hold.ts';
import { createAsyncJobs, type AsyncJobsOptions } from '../buffer/jobs/async-jobs.ts';
import { becomesJob, noJobStore } from '../buffer/jobs/steps.ts';
import { createMirror, type MirrorOptions } from '../router/mirror.ts';
import { listen } from '../../util/http.ts';
import { startMetricsListener, type MetricsListener } from './metrics-listener.ts';
import { FailureLog, type FailureLogBudget } from './failure-log.ts';
import { capConnections, serverTimeouts, type ConnectionLimits } from '../edge/connection-limits.ts';
import type { Tracing } from '../../observability/tracing/start.ts';
import { GatewayTrace, traceEdgeDone, traceRouteStarted } from './trace.ts';

export interface GatewayOptions {
  routingTable: RoutingTable;
  /** 0 picks a free port. Default 8080. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Largest request body accepted; bigger ones get 413. Default 8 MiB. */
  bodyLimitBytes?: number;
  /** Time a replica has to start answering (and between body chunks) before 504. Default 60 s. */
  upstreamTimeoutMs?: number;
  /** How often pools of endpoints that left the routing table are closed. Default 5 s. */
  poolSweepIntervalMs?: number;
  /** Schedules the pool sweep and stamps log records. Default: the system clock. */
  clock?: Clock;
  /** Random source for the traffic split and endpoint choice, in [0, 1). Default Math.random. */
  random?: () => number;
  /** Receives one record per request and per notable event; nothing is formatted without it. */
  log?: Log;
  /** Client connections held at most, and how long a client may take to send its request (connection-limits.ts). */
  connections?: ConnectionLimits;
  /** Lines a second the access log writes for failed requests (each class: 4xx, 5xx). Default 10, bursts of 100. */
  failureLogBudget?: FailureLogBudget;
  /** L2 routing and L3 backpressure: deadline, per-try timeout, retries and their budget, ejection, stickiness, wait queue. */
  routing?: RouterOptions;
  /** L1 edge: API keys, rate limits, request deadlines (src/edge/). Default: no auth, in-process limits. */
  edge?: EdgeOptions;
  /**
   * Serve `GET /metrics` on this port (same host, plain HTTP; 0 picks a free one).
   * The gateway's own port never serves metrics: they name every service of every namespace.
   */
  metricsPort?: number;
  /** Serve HTTPS with this PEM certificate and key instead of plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Receives per-revision signals (requests, concurrency, queue depth, requests refused for want of capacity) for the autoscaler. */
  signals?: SignalSink;
  /** Receives each request's SLI outcome once, when it finishes (the guard after promotion, the dashboard). */
  sli?: SliSink;
  /** Hold requests for services with no ready replica (scale from zero) instead of 503 at once. */
  hold?: HoldOptions;
  /** Async jobs (`Prefer: respond-async`, `GET /v1/jobs/{id}`) kept in this store and run by a worker here. */
  jobs?: AsyncJobsOptions;
  /** Rollout mirroring of routes with `mirror` (mirror.ts): the bound on copies in flight per service. */
  mirror?: MirrorOptions;
  /** Spans for each request (trace.ts), from `startTracing`; absent: none are made. */
  tracing?: Tracing;
}

export interface Gateway {
  /** `http://host:port` */
  url: string;
  port: number;
  /** `http://host:port` of the metrics listener, when `metricsPort` was given. */
  metricsUrl: string | undefined;
  /** Stops accepting, drops open connections and upstream pools. */
  close(): Promise<void>;
  /** The gateway's metrics in Prometheus text (what the metrics listener serves). */
  metrics(): Promise<string>;
  /** Requests of a service waiting at the gateway for a free replica slot, plus its queued async jobs (a scaling signal). */
  queueDepth(service: string): number;
}

export const DEFAULT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 60_000;
export const DEFAULT_POOL_SWEEP_INTERVAL_MS = 5_000;

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const log = options.log;
  const timeoutMs = options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  const sweepEveryMs = options.poolSweepIntervalMs ?? DEFAULT_POOL_SWEEP_INTERVAL_MS;
  const table = options.routingTable;

  let closing: Promise<void> | undefined;
  const metrics = new GatewayMetrics();
  const outstanding = new OutstandingRequests();
  const router = new Router({ routingTable: table, clock, random, outstanding, metrics, log }, options.routing);
  const pools = new UpstreamPools({ timeoutMs });
  const edge = createEdge(options.edge ?? {}, { registry: metrics.registry, clock, log });
  const signals = options.signals;
  const tracing = options.tracing;
  const hold =
    options.hold === undefined
      ? undefined
      : holdWhileCold({ routingTable: table, clock, metrics, options: options.hold, ...(signals ? { onHeldChange: (service: string, n: number) => signals.heldChanged(service, n) } : {}) });

  const jobs = options.jobs === undefined ? undefined : createAsyncJobs(options.jobs, { registry: metrics.registry, clock, log, hasRoute: (service) => table.lookup(service) !== undefined });

  const mirror = createMirror({ pools, outstanding, registry: metrics.registry, random, signals }, options.mirror);
  const proxy = proxyToUpstream({ pools, outstanding, metrics, timeoutMs, attempts: router, mirror, ...(signals ? { signals } : {}) });
  const steps: GatewayStep[] = [
    matchRequest(),
    serveLocal(),
    ...edge.beforeModel,
    jobs ? jobs.serveJob : noJobStore(),
    serveOpenAIModels({ routingTable: table, now: () => clock.now() }),
    readOpenAIBody(readBody({ limitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES })),
    extractOpenAIModel({ routingTable: table }),
    resolveModel({ routingTable: table, metrics, hasFallbackCapacity: (route) => router.hasFallbackCapacity(route), deferCold: hold !== undefined }),
    ...edge.afterModel,
    ...(tracing ? [traceEdgeDone] : []),
    serveModelReady(),
    // A request that becomes an async job is queued, not held: the worker's dispatch is held instead.
    ...(hold ? [jobs ? unlessJob(hold) : hold] : []),
    readBody({ limitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES }),
    ...(jobs ? [jobs.enqueue] : []),
    ...(tracing ? [traceRouteStarted] : []),
    router.step(),
    proxy,
  ];
  router.setDispatch((exchange) => proxy.run(exchange));
  const sli = options.sli;
  const ctx: ExchangeContext = {
    steps,
    metrics,
    clock,
    log,
    failureLog: new FailureLog(metrics.registry, clock.now(), options.failureLogBudget),
    ...(sli ? { sli } : {}),
    ...(signals ? { onRefused: (service: string) => signals.requestRefused(service) } : {}),
  };

  const onRequest = (req: GatewayRequest, res: GatewayResponse): void => {
    const exchange = new Exchange(req, res, ctx);
    if (tracing !== undefined) exchange.trace = new GatewayTrace(tracing, exchange);
    req.exchange = exchange;
    res.on('close', onResponseClose);
    exchange.next();
  };
  const connections = options.connections ?? {};
  const timeouts = serverTimeouts(connections);
  const server =
    options.tls === undefined
      ? createServer<typeof GatewayRequest, typeof ServerResponse<GatewayRequest>>({ IncomingMessage: GatewayRequest, ...timeouts }, onRequest)
      : createHttpsServer<typeof GatewayRequest, typeof ServerResponse<GatewayRequest>>(
          { IncomingMessage: GatewayRequest, ...timeouts, cert: options.tls.cert, key: options.tls.key },
          onRequest,
        );
  const maxConnections = capConnections(server, connections, { registry: metrics.registry, clock, log });

  // Endpoints leave the table without telling us; close their pools from time to time.
  let sweepTimer: TimerHandle | undefined;
  const sweep = (): void => {
    if (closing !== undefined) return;
    const live = new Set<string>();
    for (const route of table.all()) {
      for (const revision of route.revisions) for (const e of revision.endpoints) live.add(e.url);
    }
    const closed = pools.sweep(live);
    router.sweep(live);
    if (log !== undefined && closed.length > 0) {
      log({ time: new Date(clock.now()).toISOString(), level: 'info', msg: 'closed upstream pools', urls: closed });
    }
    sweepTimer = unref(clock.setTimeout(sweep, sweepEveryMs));
  };

  const host = options.host ?? '127.0.0.1';
  await listen(server, options.port ?? 8080, host, 'the gateway');
  sweepTimer = unref(clock.setTimeout(sweep, sweepEveryMs));
  if (jobs !== undefined) {
    // The worker's pipeline: the routing half only; the edge checks ran when each job was accepted.
    const dispatchSteps: GatewayStep[] = [
      matchRequest(),
      jobs.requireToken,
      readOpenAIBody(readBody({ limitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES })),
      extractOpenAIModel({ routingTable: table }),
      resolveModel({ routingTable: table, metrics, hasFallbackCapacity: (route) => router.hasFallbackCapacity(route), deferCold: hold !== undefined }),
      ...(hold ? [hold] : []),
      readBody({ limitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES }),
      router.step(),
      proxy,
    ];
    await jobs.start({ steps: dispatchSteps, metrics, clock, log, ...(sli ? { sli } : {}) });
  }
  let metricsListener: MetricsListener | undefined;
  if (options.metricsPort !== undefined) {
    try {
      metricsListener = await startMetricsListener(metrics, options.metricsPort, host);
    } catch (err) {
      // A port in use: stop what started here, so a failed start leaves nothing running.
      if (sweepTimer !== undefined) clock.clearTimeout(sweepTimer);
      hold?.close();
      server.close();
      server.closeAllConnections();
      await Promise.all([jobs?.close(), pools.destroy(), edge.close()]);
      throw err;
    }
  }
  const port = (server.address() as AddressInfo).port;
  const url = `${options.tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log?.({ time: new Date(clock.now()).toISOString(), level: 'info', msg: 'gateway listening', url, maxConnections, ...(metricsListener ? { metrics: `${metricsListener.url}/metrics` } : {}) });

  return {
    url,
    port,
    metricsUrl: metricsListener?.url,
    metrics: () => metrics.render(),
    queueDepth: (service) => router.queueDepth(service) + (jobs?.queued(service) ?? 0),
    close(): Promise<void> {
      closing ??= (async () => {
        if (sweepTimer !== undefined) clock.clearTimeout(sweepTimer);
        sweepTimer = undefined;
        hold?.close();
        await jobs?.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await Promise.all([closed, pools.destroy(), edge.close(), metricsListener?.close()]);
      })();
      return closing;
    },
  };
}

/** `step`, except for requests that become async jobs, which go straight on. */
function unlessJob(step: GatewayStep): GatewayStep {
  return { name: step.name, run: (exchange) => (becomesJob(exchange) ? exchange.next() : step.run(exchange)) };
}

function onResponseClose(this: GatewayResponse): void {
  this.req.exchange?.finish();
}

