/**
 * `karb gateway`: the gateway on its own, fed by a control plane's admin API
 * (routes polled every second, key records cached briefly), reporting what it
 * routed every second (`POST /api/v1/signals`) so the autoscaler and rollout
 * analysis count its traffic. Several of them pointed at one Redis share their
 * rate limits.
 */
import { startGateway } from '../gateway/server/gateway.ts';
import { RedisJobStore } from '../gateway/buffer/jobs/redis-store.ts';
import { ObservableRoutingTable } from '../gateway/discovery/observable-routing-table.ts';
import type { Route } from '../gateway/discovery/routing-table.ts';
import { ControlFeed, pollRoutes, reportSignals } from '../gateway/discovery/control-feed.ts';
import { SignalReporter } from '../observability/signal-reporter.ts';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { RemoteKeyResolver } from '../gateway/edge/key-resolver.ts';
import { edgeOptions } from '../gateway/edge/options.ts';
import { EDGE_FLAG_OPTIONS, edgeFlagsFrom } from './edge-flags.ts';
import { systemClock } from '../util/clock.ts';
import { jsonLogger, type Log } from '../util/log.ts';
import { resolveAdminToken } from './client.ts';
import { UsageError } from '../errors.ts';
import { numberFlag, parseFlags, portFlag } from '../util/flags.ts';

/** The port Prometheus exporters conventionally take for metrics. */
const DEFAULT_METRICS_PORT = 9464;

const USAGE = `Usage: karb gateway --control-plane URL [flags]

  --port N              port (default 8080)
  --metrics-port N      port of GET /metrics, on the same address (default 9464); never on --port
  --host ADDR           address to listen on (default 127.0.0.1)
  --control-plane URL   the karb control plane to read routes and keys from (default $KARB_SERVER)
  --token T             its admin token (default $KARB_TOKEN or .karb/admin-token)
  --auth MODE           API keys required (default) or off
  --redis URL           keep rate-limit buckets and async jobs in Redis, shared with other gateways
  --redis-failure M     when Redis is unreachable: open (admit, default) or closed (503)
  --tls-cert FILE       serve HTTPS with this PEM certificate...
  --tls-key FILE        ...and this PEM private key
  --max-connections N   client connections held at most; more are closed on arrival
                        (default: half of the open-file limit past 256)
  --headers-timeout D   a client must send its request headers within D (default 10s)
  --request-timeout D   ...and its whole request, body included, within D (default 60s)
  --key-cache-ms N      how long a key record is cached (default 2000; also the delay of a revoke)
`;

export async function gatewayCommand(args: string[]): Promise<number> {
  const { values } = parseFlags({
    args,
    options: {
      port: { type: 'string' },
      'metrics-port': { type: 'string' },
      host: { type: 'string' },
      'control-plane': { type: 'string' },
      token: { type: 'string' },
      ...EDGE_FLAG_OPTIONS,
      'key-cache-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const controlPlaneUrl = values['control-plane'] ?? process.env.KARB_SERVER;
  if (!controlPlaneUrl) throw new UsageError('karb gateway needs --control-plane URL (the karb up or controller it serves for)');
  const { token, source } = resolveAdminToken(values.token);
  if (token === undefined) throw new UsageError(`karb gateway needs the control plane's admin token: --token, KARB_TOKEN or ${source}`);
  const port = portFlag('--port', values.port, 8080);
  const metricsPort = portFlag('--metrics-port', values['metrics-port'], DEFAULT_METRICS_PORT);
  if (metricsPort === port && port !== 0) throw new UsageError(`--port and --metrics-port must differ: metrics are never served on the gateway's port (${port})`);
  const cacheMs = numberFlag('--key-cache-ms', values['key-cache-ms'], 2000, { min: 0, expected: 'a number of milliseconds' });
  const { edge: flags, tls, connections } = edgeFlagsFrom(values);

  const log = jsonLogger();
  const feed = new ControlFeed({ controlPlaneUrl, adminToken: token });
  const routingTable = new ObservableRoutingTable();
  const poller = pollRoutes(feed, routingTable, { everyMs: 1000, clock: systemClock, log });
  await poller.first;
  const keys = new RemoteKeyResolver({ fetchRecord: (id) => feed.keyRecord(id), ttlMs: cacheMs });
  // With Redis, async jobs are shared by every gateway replica (Redis Streams); without it there are none.
  const jobStore = flags.redisUrl ? new RedisJobStore({ url: flags.redisUrl, clock: systemClock }) : undefined;
  // What this gateway routes counts for the control plane's autoscaler and rollout analysis.
  const reporter = new SignalReporter(`${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`);
  let gateway;
  try {
    gateway = await startGateway({
      routingTable,
      port,
      metricsPort,
      connections,
      signals: reporter,
      // A service at zero replicas: hold its requests and ask the control plane for one, once a second at most.
      hold: {
        onTableChange: (listener) => routingTable.onReplace(listener),
        onColdRequest: activator(feed, log),
        timeoutMs: (route) => route.coldStartMs,
      },
      ...(jobStore ? { jobs: { store: jobStore } } : {}),
      ...(values.host ? { host: values.host } : {}),
      log,
      edge: edgeOptions(flags, keys, log),
      ...(tls ? { tls } : {}),
    });
  } catch (err) {
    // Nothing may keep the process alive after a failed start: the route poll and Redis go too.
    poller.stop();
    await jobStore?.close();
    throw err;
  }
  reporter.countGatewayQueue((service) => gateway.queueDepth(service));
  const reports = reportSignals(feed, reporter, { everyMs: 1000, clock: systemClock, log });
  process.stderr.write(`karb gateway is up: ${gateway.url} (metrics on ${gateway.metricsUrl}/metrics), routes from ${controlPlaneUrl}${flags.redisUrl ? ', rate limits in Redis' : ''}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log({ level: 'info', msg: 'stopping', signal });
      poller.stop();
      reports.stop();
      gateway
        .close()
        .then(() => jobStore?.close())
        .then(resolve, resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}

/** Activation requests to the control plane, at most one per service per second (every held request asks). */
function activator(feed: ControlFeed, log: Log): (route: Route) => void {
  const last = new Map<string, number>();
  return (route) => {
    const key = `${route.namespace}/${route.service}`;
    const now = Date.now();
    if (now - (last.get(key) ?? 0) < 1000) return;
    last.set(key, now);
    feed.activate(route.namespace, route.service).catch((err: unknown) => log({ level: 'warn', msg: 'cannot ask the control plane to start a replica', service: route.service, error: (err as Error).message }));
  };
}
