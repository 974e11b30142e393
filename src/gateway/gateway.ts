/**
 * karb's data plane: an HTTP server (plain `node:http`) that routes Open
 * Inference Protocol v2 requests by model name to ready replicas.
 *
 * Every request runs the same pipeline of steps (see steps.ts); later edge and
 * router features (auth, rate limits, retries, async jobs) are more steps in
 * this list, the proxy stays the last one:
 *
 *   match-request → serve-local → resolve-model → read-body → pick-target → proxy
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { readBody } from './body.ts';
import { Exchange, GatewayRequest, type ExchangeContext, type GatewayResponse, type GatewayStep } from './exchange.ts';
import { GatewayMetrics } from './metrics.ts';
import { OutstandingRequests } from './outstanding.ts';
import type { RoutingTable } from './routing-table.ts';
import type { Log } from '../util/log.ts';
import { matchRequest, pickTarget, resolveModel, serveLocal } from './steps.ts';
import { UpstreamPools, proxyToUpstream } from './upstream.ts';

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
}

export interface Gateway {
  /** `http://host:port` */
  url: string;
  port: number;
  /** Stops accepting, drops open connections and upstream pools. */
  close(): Promise<void>;
  /** The Prometheus text served on GET /metrics. */
  metrics(): Promise<string>;
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
  const pools = new UpstreamPools({ timeoutMs });

  const steps: GatewayStep[] = [
    matchRequest(),
    serveLocal({ metrics }),
    resolveModel({ routingTable: table, metrics }),
    readBody({ limitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES }),
    pickTarget({ random, outstanding: outstanding.counts, metrics }),
    proxyToUpstream({ pools, outstanding, metrics, timeoutMs }),
  ];
  const ctx: ExchangeContext = { steps, metrics, clock, log };

  const server = createServer<typeof GatewayRequest, typeof ServerResponse<GatewayRequest>>(
    { IncomingMessage: GatewayRequest },
    (req, res) => {
      const exchange = new Exchange(req, res, ctx);
      req.exchange = exchange;
      res.on('close', onResponseClose);
      exchange.next();
    },
  );

  // Endpoints leave the table without telling us; close their pools from time to time.
  let sweepTimer: TimerHandle | undefined;
  const sweep = (): void => {
    if (closing !== undefined) return;
    const live = new Set<string>();
    for (const route of table.all()) {
      for (const revision of route.revisions) for (const e of revision.endpoints) live.add(e.url);
    }
    const closed = pools.sweep(live);
    if (log !== undefined && closed.length > 0) {
      log({ time: new Date(clock.now()).toISOString(), level: 'info', msg: 'closed upstream pools', urls: closed });
    }
    sweepTimer = unref(clock.setTimeout(sweep, sweepEveryMs));
  };

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  sweepTimer = unref(clock.setTimeout(sweep, sweepEveryMs));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log?.({ time: new Date(clock.now()).toISOString(), level: 'info', msg: 'gateway listening', url });

  return {
    url,
    port,
    metrics: () => metrics.render(),
    close(): Promise<void> {
      closing ??= (async () => {
        if (sweepTimer !== undefined) clock.clearTimeout(sweepTimer);
        sweepTimer = undefined;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await Promise.all([closed, pools.destroy()]);
      })();
      return closing;
    },
  };
}

function onResponseClose(this: GatewayResponse): void {
  this.req.exchange?.finish();
}

/** A system-clock timer must not keep the process alive on its own. */
function unref(handle: TimerHandle): TimerHandle {
  const maybe = handle as { unref?: () => unknown };
  if (typeof maybe.unref === 'function') maybe.unref();
  return handle;
}
