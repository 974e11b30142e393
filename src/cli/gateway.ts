/**
 * `karb gateway`: the gateway on its own, reporting what it routed every second
 * (`POST /api/v1/signals`) so the autoscaler and rollout analysis count its
 * traffic. Its routes come from one of two sources:
 *   --control-plane URL   a karb up's admin API (routes polled every second, key
 *                         records cached briefly);
 *   --kubernetes          the cluster: InferenceServices' status and EndpointSlices
 *                         by watch (gateway/discovery/kubernetes-feed.ts), reports
 *                         and activations to karb controller with the pod's
 *                         service-account token.
 * Several of them pointed at one Redis share their rate limits and async jobs.
 */
import { startGateway } from '../gateway/server/gateway.ts';
import { startTracing } from '../observability/tracing/start.ts';
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
import { namespaceFlag, numberFlag, parseFlags, podNamespace, portFlag } from '../util/flags.ts';
import { watchClusterRoutes, type ClusterRoutes } from '../gateway/discovery/kubernetes-feed.ts';
import { watchControllerEndpoint, type ControllerEndpoint } from '../gateway/discovery/controller-endpoint.ts';
import { readKeySecret } from '../gateway/discovery/kubernetes-keys.ts';
import { KubeClient } from '../runtime/kubernetes/api-client.ts';
import { CONTROLLER_NAME, CONTROLLER_PORT } from '../runtime/kubernetes/install.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../runtime/kubernetes/options.ts';
import type { KeyRecord } from '../api/api-key.ts';

/** The port Prometheus exporters conventionally take for metrics. */
const DEFAULT_METRICS_PORT = 9464;

const USAGE = `Usage: karb gateway --control-plane URL [flags]
       karb gateway --kubernetes [flags]

  --port N              port (default 8080)
  --metrics-port N      port of GET /metrics, on the same address (default 9464); never on --port
  --host ADDR           address to listen on (default 127.0.0.1)
  --control-plane URL   the karb control plane to read routes and keys from (default $KARB_SERVER)
  --token T             its admin token (default $KARB_TOKEN or .karb/admin-token)
  --kubernetes          routes from the cluster's InferenceServices and EndpointSlices, by watch
  --kubeconfig FILE     with --kubernetes: credentials (default $KUBECONFIG, ~/.kube/config, or the
                        pod's service account)
  --namespace NS        with --kubernetes: route one namespace's services only (default: all)
  --controller URL      with --kubernetes: karb controller's port, where signals and activations go
                        (default: the ready endpoint of Service karb-controller in $KARB_NAMESPACE
                        or karb-system, which is the leading controller, found by watch)
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
      kubernetes: { type: 'boolean' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      controller: { type: 'string' },
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
  const port = portFlag('--port', values.port, 8080);
  const metricsPort = portFlag('--metrics-port', values['metrics-port'], DEFAULT_METRICS_PORT);
  if (metricsPort === port && port !== 0) throw new UsageError(`--port and --metrics-port must differ: metrics are never served on the gateway's port (${port})`);
  const cacheMs = numberFlag('--key-cache-ms', values['key-cache-ms'], 2000, { min: 0, expected: 'a number of milliseconds' });
  const { edge: flags, tls, connections } = edgeFlagsFrom(values);

  const log = jsonLogger();
  const source = values.kubernetes ? await clusterSource(values, log) : await controlPlaneSource(values, log);
  const { routingTable, feed } = source;
  const keys = new RemoteKeyResolver({ fetchRecord: source.keyRecord, ttlMs: cacheMs });
  // With Redis, async jobs are shared by every gateway replica (Redis Streams); without it there are none.
  const jobStore = flags.redisUrl ? new RedisJobStore({ url: flags.redisUrl, clock: systemClock }) : undefined;
  // What this gateway routes counts for the control plane's autoscaler and rollout analysis.
  const reporter = new SignalReporter(`${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`);
  // OTEL_* variables: spans per request, passed on to the replicas by traceparent.
  const tracing = await startTracing({ serviceName: 'karb-gateway', warn: (message) => log({ level: 'warn', msg: message }) });
  let gateway;
  try {
    gateway = await startGateway({
      ...(tracing ? { tracing } : {}),
      routingTable,
      port,
      metricsPort,
      connections,
      signals: reporter,
      sli: reporter,
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
    // Nothing may keep the process alive after a failed start: the route source and Redis go too.
    await source.stop();
    await jobStore?.close();
    throw err;
  }
  reporter.countGatewayQueue((service) => gateway.queueDepth(service));
  const reports = reportSignals(feed, reporter, { everyMs: 1000, clock: systemClock, log });
  process.stderr.write(`karb gateway is up: ${gateway.url} (metrics on ${gateway.metricsUrl}/metrics), ${source.describe}${flags.redisUrl ? ', rate limits in Redis' : ''}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log({ level: 'info', msg: 'stopping', signal });
      reports.stop();
      gateway
        .close()
        .then(() => source.stop())
        .then(() => jobStore?.close())
        .then(() => tracing?.shutdown())
        .then(resolve, resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}

/** Where a gateway's routes and key records come from, and where its reports go. */
interface RouteSource {
  routingTable: ObservableRoutingTable;
  feed: ControlFeed;
  keyRecord(id: string): Promise<KeyRecord | undefined>;
  /** For the start-up line: where the routes come from. */
  describe: string;
  stop(): Promise<void>;
}

type GatewayFlagValues = { 'control-plane'?: string | undefined; token?: string | undefined; kubeconfig?: string | undefined; namespace?: string | undefined; controller?: string | undefined };

/** A karb up's admin API: routes polled every second, key records looked up, with the admin token. */
async function controlPlaneSource(values: GatewayFlagValues, log: Log): Promise<RouteSource> {
  for (const flag of ['kubeconfig', 'namespace', 'controller'] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --kubernetes; a gateway of karb up reads everything from --control-plane`);
  }
  const controlPlaneUrl = values['control-plane'] ?? process.env.KARB_SERVER;
  if (!controlPlaneUrl) throw new UsageError('karb gateway needs --control-plane URL (the karb up it serves for) or --kubernetes (the cluster karb controller runs)');
  const { token, source } = resolveAdminToken(values.token);
  if (token === undefined) throw new UsageError(`karb gateway needs the control plane's admin token: --token, KARB_TOKEN or ${source}`);
  const feed = new ControlFeed({ controlPlaneUrl, authorization: () => `Bearer ${token}` });
  const routingTable = new ObservableRoutingTable();
  const poller = pollRoutes(feed, routingTable, { everyMs: 1000, clock: systemClock, log });
  await poller.first;
  return {
    routingTable,
    feed,
    keyRecord: (id) => feed.keyRecord(id),
    describe: `routes from ${controlPlaneUrl}`,
    stop: async () => poller.stop(),
  };
}

/**
 * The cluster: routes by watch from InferenceServices and EndpointSlices; key records are
 * Secrets in the system namespace; reports and activations go to karb controller's port with
 * the service-account token the kubeconfig (or the pod) holds.
 */
async function clusterSource(values: GatewayFlagValues, log: Log): Promise<RouteSource> {
  for (const flag of ['control-plane', 'token'] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} names a karb up; with --kubernetes the gateway reads the cluster and reports to --controller`);
  }
  const namespace = namespaceFlag('--namespace', values.namespace, undefined);
  const systemNamespace = podNamespace() ?? DEFAULT_CLUSTER_OPTIONS.systemNamespace;
  if (values.controller !== undefined && !/^https?:\/\/[^/]+/.test(values.controller)) throw new UsageError(`--controller must be an http(s) URL such as http://karb-controller.${systemNamespace}.svc:${CONTROLLER_PORT} (got ${values.controller})`);
  const client = await KubeClient.connect(values.kubeconfig, log);
  const routingTable = new ObservableRoutingTable();
  let routes: ClusterRoutes | undefined;
  let leader: ControllerEndpoint | undefined;
  try {
    routes = await watchClusterRoutes({ client, table: routingTable, ...(namespace ? { namespace } : {}), log });
    // Without --controller: the ready endpoint of Service karb-controller, which is the leader.
    if (values.controller === undefined) leader = await watchControllerEndpoint({ client, systemNamespace, service: CONTROLLER_NAME });
  } catch (err) {
    await routes?.stop();
    await client.close();
    throw err;
  }
  const controller = values.controller ?? (() => leader!.url());
  const feed = new ControlFeed({ controlPlaneUrl: controller, authorization: () => client.authorization() });
  const stopRoutes = routes;
  return {
    routingTable,
    feed,
    keyRecord: (id) => readKeySecret(client, systemNamespace, id),
    describe: `routes from the cluster at ${client.server}${namespace ? ` (namespace ${namespace})` : ''}, reports to ${values.controller ?? `the leading controller (Service ${systemNamespace}/${CONTROLLER_NAME})`}`,
    async stop() {
      await stopRoutes.stop();
      await leader?.stop();
      await client.close();
    },
  };
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
