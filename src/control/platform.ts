/**
 * The embedded platform that `karb up` runs in one process: store, local
 * runtime, reconciler, gateway and control-plane API, wired together. Data
 * flows one way: runtime events and applies trigger reconciles; reconciles
 * swap the gateway's routing table.
 */
import type { EmbeddedGovernance } from '../governance/admit.ts';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KarbError } from '../errors.ts';
import { startGateway } from '../gateway/server/gateway.ts';
import type { ConnectionLimits } from '../gateway/edge/connection-limits.ts';
import { ObservableRoutingTable } from '../gateway/discovery/observable-routing-table.ts';
import { SqliteJobStore } from '../gateway/buffer/jobs/sqlite-store.ts';
import { RedisJobStore } from '../gateway/buffer/jobs/redis-store.ts';
import type { JobStore } from '../gateway/buffer/jobs/types.ts';
import { hostname } from 'node:os';
import { SignalHub, teeSignals } from '../observability/hub.ts';
import { teeSli } from '../observability/sli-sink.ts';
import { RevisionCounters } from '../observability/revision-counters.ts';
import { startTracing } from '../observability/tracing/start.ts';
import { RequestTally } from '../observability/request-tally.ts';
import { HistorySampler } from './history-sampler.ts';
import { RolloutTracker } from './rollout-tracker.ts';
import { OutputChecker } from './output-checker.ts';
import { DriftWatch } from './drift-watch.ts';
import { ReplicaLoadWatch } from './replica-load-watch.ts';
import { AutoscalerLoop } from './autoscaling-loop.ts';
import { systemClock } from '../util/clock.ts';
import { createRuntime } from '../runtime/factory.ts';
import type { Runtime } from '../runtime/types.ts';
import type { NamespaceQuotas } from '../runtime/local/quota.ts';
import type { Log } from '../util/log.ts';
import { startControlApi } from './api.ts';
import { Reconciler } from './reconciler.ts';
import type { Store } from './store.ts';
import { SqliteStore } from './sqlite-store.ts';
import { KeyStore } from './key-store.ts';
import { ensureAdminToken } from './admin-token.ts';
import { TokenStore } from './access/token-store.ts';
import { AuditLog } from './access/audit-log.ts';
import { edgeOptions, type EdgeFlags } from '../gateway/edge/options.ts';
import { StoreKeyResolver } from '../gateway/edge/key-resolver.ts';

export interface PlatformOptions {
  /** Where karb keeps its database, replica records and logs (default `.karb`). */
  stateDir?: string;
  /**
   * The models root: relative `file://` model URIs resolve against it, and a URI
   * outside it is refused at apply (default the working directory).
   */
  modelsRoot?: string;
  /** The governance file's policies (karb up --governance), checked on every apply. */
  governance?: EmbeddedGovernance;
  /**
   * Per namespace, the most its replicas may request in all (the governance file's `spec.quotas`
   * in numbers, karb up --governance); a replica past it waits Pending. Default: none.
   */
  quotas?: NamespaceQuotas;
  /** Replicas that may share one GPU with `sharing: time-slice` (karb up --gpu-time-slices; default 4). */
  gpuTimeSlices?: number;
  host?: string;
  controlPort?: number;
  gatewayPort?: number;
  /** Seconds between resync passes of the reconciler. */
  resyncSeconds?: number;
  log?: Log;
  /** Gateway API keys (`required`, the default) or none (`off`); Redis-backed rate limits. */
  edge?: EdgeFlags;
  /** Serve the gateway over HTTPS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** The gateway's cap on client connections and its header and request timeouts. */
  connections?: ConnectionLimits;
}

export interface Platform {
  controlUrl: string;
  gatewayUrl: string;
  store: Store;
  runtime: Runtime;
  reconciler: Reconciler;
  keys: KeyStore;
  /** The admin token every /api/v1 call needs, also in `<stateDir>/admin-token`. */
  adminToken: string;
  /** Stops everything; replicas are drained unless `leaveRunning`. */
  close(options?: { leaveRunning?: boolean }): Promise<void>;
}

/** A standalone gateway polls the routes every second; a stopping replica keeps serving a bit longer than that. */
const STANDALONE_DEREGISTRATION_MS = 1_500;

export class AlreadyRunningError extends KarbError {
  constructor(pid: number, stateDir: string) {
    super('ALREADY_RUNNING', `karb is already running on ${stateDir} (pid ${pid}); stop it first or use another --state-dir`, { status: 409 });
  }
}

export async function startPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const stateDir = resolve(options.stateDir ?? '.karb');
  const baseDir = resolve(options.modelsRoot ?? process.cwd());
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  makePrivate(stateDir, log);
  const releaseLock = acquirePidLock(stateDir);
  // What has started so far, stopped in reverse if a later part cannot start (a port in use, say),
  // so a failed start leaves nothing running and the process can exit.
  const started: Array<() => unknown> = [releaseLock];
  try {
    return await startParts(options, { stateDir, baseDir, host, log, releaseLock, started });
  } catch (err) {
    for (const stop of started.reverse()) {
      try {
        await stop();
      } catch {
        // Stopping the rest matters more than why one part would not stop.
      }
    }
    throw err;
  }
}

async function startParts(
  options: PlatformOptions,
  ctx: { stateDir: string; baseDir: string; host: string; log: Log; releaseLock: () => void; started: Array<() => unknown> },
): Promise<Platform> {
  const { stateDir, baseDir, host, log, releaseLock, started } = ctx;
  const store = new SqliteStore(join(stateDir, 'karb.db'), { clock: systemClock });
  started.push(() => store.close());
  const keys = new KeyStore(join(stateDir, 'karb.db'), { clock: systemClock });
  started.push(() => keys.close());
  const adminToken = ensureAdminToken(stateDir);
  // People's tokens (viewer, deployer, admin) and the audit log, beside the admin token.
  const tokens = new TokenStore(join(stateDir, 'karb.db'), { clock: systemClock });
  started.push(() => tokens.close());
  const audit = new AuditLog(join(stateDir, 'karb.db'), { clock: systemClock });
  started.push(() => audit.close());
  const routingTable = new ObservableRoutingTable();
  const hub = new SignalHub({ clock: systemClock });
  // Standalone gateways learn of a replica leaving at their next poll of the routes (every second).
  const runtime = await createRuntime({
    kind: 'local',
    stateDir,
    modelsRoot: baseDir,
    clock: systemClock,
    log,
    deregistrationDelayMs: () => (hub.hasRemoteGateways() ? STANDALONE_DEREGISTRATION_MS : 0),
    ...(options.gpuTimeSlices === undefined ? {} : { gpuTimeSlices: options.gpuTimeSlices }),
    ...(options.quotas === undefined ? {} : { quotas: options.quotas }),
  });
  started.push(() => runtime.close());
  // Rollout analysis reads the same per-revision requests the autoscaler does.
  const counters = new RevisionCounters();
  // The dashboard's history: what the gateway finished, sampled once a second.
  const tally = new RequestTally();
  // Async jobs: in the state directory, or in Redis (shared with karb gateway processes) with --redis.
  const jobStore: JobStore = options.edge?.redisUrl
    ? new RedisJobStore({ url: options.edge.redisUrl, clock: systemClock, consumer: `karb-up:${hostname()}` })
    : new SqliteJobStore(join(stateDir, 'jobs.db'), systemClock);
  started.push(() => jobStore.close());
  let autoscaler: AutoscalerLoop | undefined;
  // OTEL_* variables: the gateway's spans (the replicas inherit them: runtime/local/replica-command.ts).
  const tracing = await startTracing({ serviceName: 'karb-gateway', warn: (message) => log({ level: 'warn', msg: message }) });
  if (tracing) started.push(() => tracing.shutdown());
  const gateway = await startGateway({
    ...(tracing ? { tracing } : {}),
    routingTable,
    port: options.gatewayPort ?? 8080,
    host,
    log,
    edge: edgeOptions(options.edge ?? {}, new StoreKeyResolver(keys), log),
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.connections ? { connections: options.connections } : {}),
    // Each attempt for the autoscaler and rollout analysis; each request once for the SLIs (guard, dashboard).
    signals: teeSignals(hub, counters),
    sli: teeSli(counters, tally),
    jobs: { store: jobStore },
    hold: {
      onTableChange: (listener) => routingTable.onReplace(listener),
      onColdRequest: (route) => autoscaler?.activate(route.namespace, route.service),
      timeoutMs: (route) => autoscaler?.coldStartMs(route.namespace, route.service),
    },
  });
  started.push(() => gateway.close());
  hub.countGatewayQueue((service) => gateway.queueDepth(service));
  const rollouts = new RolloutTracker({
    store,
    counters,
    clock: systemClock,
    outputChecks: {
      checker: new OutputChecker({ clock: systemClock }),
      endpointUrl: (namespace, revision) => runtime.endpoints({ namespace, revision })[0]?.url,
    },
  });
  // Reads the replicas' drift; its Drift condition is written by the reconciler with the others.
  let driftWatch: DriftWatch | undefined;
  const reconciler = new Reconciler({
    store, runtime, routingTable, gatewayUrl: gateway.url, rollouts, clock: systemClock, log,
    moreConditions: (namespace, name) => {
      const drift = driftWatch?.condition(namespace, name);
      return drift ? [drift] : [];
    },
  });
  const reconcile = () => reconciler.reconcile().catch((err) => log({ level: 'error', msg: 'reconcile failed', error: (err as Error).message }));
  autoscaler = new AutoscalerLoop({
    store,
    runtime,
    hub,
    clock: systemClock,
    onDesiredChanged: () => void reconcile(),
    log,
  });

  let closed = false;
  runtime.onEvent((e) => {
    // Out of the gateway's routes before the runtime sends SIGTERM (it emits this event first).
    if (e.reason === 'ReplicaDraining' && e.replica) reconciler.withdrawEndpoint(e.replica);
    store.addEvent({ type: e.type, reason: e.reason, message: e.message, namespace: e.namespace, service: e.service, revision: e.revision, ...(e.replica ? { replica: e.replica } : {}) });
    // While shutting down, replicas stopping is the goal, not a gap to close.
    if (closed) return;
    reconciler.reconcile().catch((err) => log({ level: 'error', msg: 'reconcile failed', error: (err as Error).message }));
  });
  started.push(() => {
    closed = true;
    autoscaler?.stop();
    reconciler.stop();
  });
  await reconciler.reconcile();
  reconciler.start((options.resyncSeconds ?? 2) * 1000);
  autoscaler.start();
  driftWatch = new DriftWatch({ store, runtime, clock: systemClock, log, onChange: () => void reconcile() });
  driftWatch.start();
  started.push(() => driftWatch?.stop());
  const replicaLoad = new ReplicaLoadWatch({ store, runtime, hub, clock: systemClock, log });
  replicaLoad.start();
  started.push(() => replicaLoad.stop());
  const sampler = new HistorySampler({ store, runtime, hub, tally, clock: systemClock, log });
  sampler.start();
  started.push(() => sampler.stop());
  const api = await startControlApi({
    store,
    runtime,
    reconciler,
    baseDir,
    ...(options.governance ? { governance: options.governance } : {}),
    port: options.controlPort ?? 8081,
    host,
    log,
    adminToken,
    keys: { keys, routingTable },
    access: { tokens, audit },
    // Standalone gateways' traffic counts for the autoscaler and rollout analysis like this one's.
    onSignals: (report) => {
      hub.ingest(report);
      counters.ingest(report);
      tally.ingest(report);
    },
    onActivate: (namespace, service) => autoscaler?.activate(namespace, service),
    // The gateway's port is for tenants; its metrics are scraped here with the control plane's.
    moreMetrics: () => gateway.metrics(),
    dashboard: { store, sampler, clock: systemClock, log, drift: (namespace, name) => driftWatch?.reading(namespace, name) },
    drift: (namespace, name) => driftWatch?.reading(namespace, name),
  });
  log({ level: 'info', msg: 'karb is up', control: api.url, gateway: gateway.url, stateDir, modelsRoot: baseDir });

  return {
    controlUrl: api.url,
    gatewayUrl: gateway.url,
    store,
    runtime,
    reconciler,
    keys,
    adminToken,
    async close(closeOptions = {}) {
      if (closed) return;
      closed = true;
      autoscaler?.stop();
      reconciler.stop();
      sampler.stop();
      // Its reading in flight ends before the store it writes events to closes.
      await driftWatch?.stop();
      await replicaLoad.stop();
      await api.close();
      await runtime.close(closeOptions);
      await gateway.close();
      await tracing?.shutdown();
      await jobStore.close();
      store.close();
      keys.close();
      tokens.close();
      audit.close();
      releaseLock();
    },
  };
}

/**
 * The state directory holds key hashes, specs, jobs (request bodies and
 * answers) and replica logs: only karb's user may read it. It is created 0700;
 * one left readable by an older karb, or made by hand, is tightened — the
 * directory and everything in it lose their group and other bits — and the log
 * says so. New files stay private through the directory and `karb up`'s umask.
 */
function makePrivate(stateDir: string, log: Log): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  // A --state-dir that is a link: its target is what must be private.
  const tightened = tightenTree(realpathSync(stateDir));
  if (tightened.length > 0) {
    log({ level: 'warn', msg: 'the state directory was readable by other users; made it private to this user (group and other permissions removed)', stateDir, paths: tightened.length, examples: tightened.slice(0, 5) });
  }
}

/** Removes group and other bits from `path` and, for a directory, everything under it; links are left alone. Returns what changed. */
function tightenTree(path: string): string[] {
  const changed: string[] = [];
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return changed;
  if ((stat.mode & 0o077) !== 0) {
    chmodSync(path, stat.mode & 0o7700);
    changed.push(path);
  }
  if (stat.isDirectory()) for (const entry of readdirSync(path)) changed.push(...tightenTree(join(path, entry)));
  return changed;
}

/** One karb per state directory: a second one would start every replica twice. */
function acquirePidLock(stateDir: string): () => void {
  const file = join(stateDir, 'karb.pid');
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (pid && pid !== process.pid && isAlive(pid)) throw new AlreadyRunningError(pid, stateDir);
  } catch (err) {
    if (err instanceof AlreadyRunningError) throw err;
  }
  writeFileSync(file, String(process.pid));
  return () => rmSync(file, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('karb') || cmdline.includes('main.ts');
  } catch {
    return false;
  }
}
