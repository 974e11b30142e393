/**
 * `karb controller`: the control plane of a cluster. The same reconciler, plan, rollout tracker
 * and revision identity as `karb up`, over the Kubernetes Store (the API server) and the
 * Kubernetes Runtime (Deployments and pods). Level-triggered: a change of a watched object or a
 * resync asks for a pass, a pass closes every gap it finds, and a pass that finds none writes
 * nothing. With `leaderElect`, only the holder of the Lease acts.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { FieldError } from '../../api/index.ts';
import { InMemoryRoutingTable } from '../../gateway/discovery/routing-table.ts';
import { RevisionCounters } from '../../observability/revision-counters.ts';
import { SignalHub } from '../../observability/hub.ts';
import { KubeClient } from '../../runtime/kubernetes/api-client.ts';
import { DEFAULT_CLUSTER_OPTIONS, type ClusterOptions } from '../../runtime/kubernetes/options.ts';
import { KubernetesRuntime } from '../../runtime/kubernetes/kubernetes-runtime.ts';
import { systemClock, unref, type Clock, type TimerHandle } from '../../util/clock.ts';
import { AutoscalerLoop } from '../autoscaling-loop.ts';
import { Reconciler } from '../reconciler.ts';
import { DriftWatch } from '../drift-watch.ts';
import { ReplicaLoadWatch } from '../replica-load-watch.ts';
import { RolloutTracker } from '../rollout-tracker.ts';
import type { StoredService } from '../store.ts';
import { KubernetesStore, type InferenceServiceObject } from './kubernetes-store.ts';
import { LeaderElector } from './leader-election.ts';
import { admitKubernetes } from './admission.ts';
import { preflight, watchNodes, type NodeWatch } from './preflight.ts';
import { ServiceObjectsSync } from './service-objects-sync.ts';
import { PlacementGate, poolsCanBurst } from './placement-gate.ts';
import { CapacityReservations } from './capacity-reservations.ts';
import { poolClass } from '../../api/pool.ts';
import { startControllerServer, type ControllerServer } from './controller-server.ts';
import { TokenReviewer } from './token-review.ts';
import { GATEWAY_NAME } from '../../runtime/kubernetes/install.ts';
import { serviceWindows } from '../autoscaling-loop.ts';
import { AccessReviewer } from './access-review.ts';
import { startCustomMetricsServer, type CustomMetricsServer } from './custom-metrics-server.ts';
import { readRequestHeaderConfig } from './request-header.ts';
import { replicaTarget } from '../plan.ts';
import { INFERENCE_SERVICES } from '../../runtime/kubernetes/resources.ts';
import { RequestTally } from '../../observability/request-tally.ts';
import { HistorySampler } from '../history-sampler.ts';
import type { DashboardDeps } from '../dashboard-api.ts';
import type { RolloutCommand } from '../../rollout/types.ts';

export interface ControllerOptions {
  kubeconfig?: string;
  /** Watch one namespace only; all by default. */
  namespace?: string;
  cluster?: Partial<ClusterOptions>;
  /** Act only while holding the Lease `karb-controller` in `leaseNamespace`. */
  leaderElect?: boolean;
  leaseNamespace?: string;
  /** This controller in the Lease and in Events (default: the host name, a pod's name, and a random suffix). */
  identity?: string;
  leaseDurationMs?: number;
  renewMs?: number;
  /** A pass runs at least this often, reading only the watch caches (default 10 s). */
  resyncMs?: number;
  /**
   * Serve /healthz, /readyz and the gateways' API (controller-server.ts) on this port from the
   * start, standby included (0: any free port; absent: none).
   */
  port?: number;
  host?: string;
  /** Who may report signals and ask for replicas (default: karb's gateway service account). */
  gatewayUsers?: string[];
  /**
   * Serve the custom metrics API (custom-metrics-server.ts) over HTTPS with this certificate and
   * key, for the APIService v1beta2.custom.metrics.k8s.io: the cluster's HPA then runs each
   * hpa-service policy on it, and karb's own loop only obeys the spec.scaling.replicas it sets.
   */
  customMetrics?: { port: number; host?: string; certFile: string; keyFile: string };
  clock?: Clock;
  log?: (record: Record<string, unknown>) => void;
}

export interface RunningController {
  client: KubeClient;
  store: KubernetesStore;
  runtime: KubernetesRuntime;
  reconciler: Reconciler;
  /** Runs one pass now and waits for its writes to reach the API server. */
  sync(): Promise<void>;
  /** Stops acting, hands the Lease back and closes the watches; what runs in the cluster keeps running. */
  close(): Promise<void>;
  /** Resolves when leadership is lost (the process should exit so a fresh start rejoins the election). */
  lost: Promise<void>;
  /** The controller's HTTP port, when `port` was given. */
  url?: string;
  /** The custom metrics API, when `customMetrics` was given. */
  customMetricsUrl?: string;
}

/** The longest wait between two passes (the wait matches the last pass's length, up to this). */
const MAX_PASS_GAP_MS = 1000;

/** How often the custom metrics API rereads its certificate, key and the API server's request-header CA. */
const METRICS_API_RELOAD_MS = 5 * 60_000;

export const LEASE_NAME = 'karb-controller';

export async function startController(options: ControllerOptions = {}): Promise<RunningController> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? (() => {});
  const identity = options.identity ?? `${hostname()}_${randomUUID().slice(0, 8)}`;
  const cluster: ClusterOptions = { ...DEFAULT_CLUSTER_OPTIONS, ...options.cluster };
  const client = await KubeClient.connect(options.kubeconfig, log);
  try {
    await preflight(client, options.namespace);
  } catch (err) {
    await client.close();
    throw err;
  }

  let signalLost: () => void = () => {};
  const lost = new Promise<void>((resolve) => (signalLost = resolve));
  // What gateways report feeds the autoscaler (hub) and rollout analysis (counters), as with karb up.
  const hub = new SignalHub({ clock });
  const counters = new RevisionCounters();
  // The dashboard's history, sampled once a second by the leader, from the same reports.
  const tally = new RequestTally();
  let viewerDeps: DashboardDeps | undefined;
  let rolloutCommand: ((service: StoredService, command: RolloutCommand) => Promise<void>) | undefined;
  // SubjectAccessReviews for the dashboard's viewers and the custom metrics API, with one cache.
  const accessReviewer = new AccessReviewer(client, clock);
  const [isGroup, isVersion] = INFERENCE_SERVICES.apiVersion.split('/') as [string, string];
  let leading = false;
  let autoscaler: AutoscalerLoop | undefined;
  let store: KubernetesStore | undefined;
  let server: ControllerServer | undefined;
  if (options.port !== undefined) {
    try {
      server = await startControllerServer({
        port: options.port,
        ...(options.host ? { host: options.host } : {}),
        ready: () => leading,
        reviewer: new TokenReviewer(client, clock),
        callers: options.gatewayUsers ?? [`system:serviceaccount:${cluster.systemNamespace}:${GATEWAY_NAME}`],
        onSignals: (report) => {
          hub.ingest(report);
          counters.ingest(report);
          tally.ingest(report);
        },
        // Used only once leading (the server says NOT_LEADER before): by then both are set.
        viewers: {
          get dashboard() {
            return viewerDeps!;
          },
          get store() {
            return store!;
          },
          may: async (user, verb, namespace) =>
            (await accessReviewer.review(user, { resource: { namespace, verb, group: isGroup, version: isVersion, resource: INFERENCE_SERVICES.plural, subresource: '' } })).allowed,
          command: (service, command) => rolloutCommand!(service, command),
        },
        onActivate: (namespace, service) => {
          if (store?.getService(namespace, service) === undefined) return false;
          autoscaler?.activate(namespace, service);
          return true;
        },
        log,
      });
    } catch (err) {
      await client.close();
      throw err;
    }
  }
  let metricsApi: CustomMetricsServer | undefined;
  let metricsApiReload: TimerHandle | undefined;
  if (options.customMetrics) {
    const m = options.customMetrics;
    try {
      metricsApi = await startCustomMetricsServer({
        port: m.port,
        ...(m.host ? { host: m.host } : {}),
        certFile: m.certFile,
        keyFile: m.keyFile,
        requestHeader: () => readRequestHeaderConfig(client),
        authorize: (user, access) => accessReviewer.review(user, access),
        // The very windows karb's hpa-service decider would read, of the revision it would decide for.
        source: {
          services: (namespace) => (store?.listServices() ?? []).filter((s) => s.metadata.namespace === namespace).map((s) => s.metadata.name),
          service: (namespace, name) => {
            const service = store?.getService(namespace, name);
            return service === undefined ? undefined : { stable: serviceWindows(store!, hub, service, clock.now())?.stable };
          },
        },
        ready: () => leading,
        clock,
        log,
      });
    } catch (err) {
      await server?.close();
      await client.close();
      throw err;
    }
    const reload = () => {
      metricsApiReload = unref(clock.setTimeout(reload, METRICS_API_RELOAD_MS));
      metricsApi!.reload().catch((err) => log({ level: 'warn', msg: 'rereading the custom metrics API’s certificate or the request-header CA failed; keeping the last', error: (err as Error).message }));
    };
    metricsApiReload = unref(clock.setTimeout(reload, METRICS_API_RELOAD_MS));
  }
  let elector: LeaderElector | undefined;
  if (options.leaderElect) {
    elector = new LeaderElector({
      client,
      namespace: options.leaseNamespace ?? cluster.systemNamespace,
      name: LEASE_NAME,
      identity,
      clock,
      ...(options.leaseDurationMs ? { leaseDurationMs: options.leaseDurationMs } : {}),
      ...(options.renewMs ? { renewMs: options.renewMs } : {}),
      log,
    });
    await elector.acquire(() => signalLost());
  }

  const scope = options.namespace ? { namespace: options.namespace } : {};
  store = await KubernetesStore.start({ client, clock, instance: identity, log, admit: (svc) => admitKubernetes(svc, cluster), ...scope });
  // With an on-prem and an elastic pool declared, karb places the pods of services naming both (placement-gate.ts).
  let placementGate: PlacementGate | undefined;
  // With an elastic pool declared, GASCL asks for its nodes and karb holds the room it asks for ahead (capacity-reservations.ts).
  let reservations: CapacityReservations | undefined;
  // Their one watch of the Nodes.
  let nodes: NodeWatch | undefined;
  const runtime = await KubernetesRuntime.start({
    client,
    cluster,
    log,
    ...scope,
    gated: (namespace, service) => placementGate?.waiting(namespace, service),
    // A service whose current spec karb refuses keeps what runs as it is until the spec is fixed.
    holds: (namespace, service) => store.isRefused(namespace, service),
    owner: (namespace, service) => {
      const obj = store.resource(namespace, service);
      return obj?.metadata.uid && !obj.metadata.deletionTimestamp ? { uid: obj.metadata.uid, labels: obj.metadata.labels ?? {} } : undefined;
    },
  });
  const rollouts = new RolloutTracker({ store, counters, clock });
  // Reads the pods' drift (the NetworkPolicy admits the controller); the reconciler writes its Drift condition.
  let driftWatch: DriftWatch | undefined;
  const reconciler = new Reconciler({
    store, runtime, routingTable: new InMemoryRoutingTable(), rollouts, clock, log,
    moreConditions: (namespace, name) => {
      const drift = driftWatch?.condition(namespace, name);
      const placed = placementGate?.condition(namespace, name);
      return [...(drift ? [drift] : []), ...(placed ? [placed] : [])];
    },
  });
  const warn = (service: StoredService, reason: string, message: string) =>
    store.addEvent({ type: 'Warning', reason, message, namespace: service.metadata.namespace, service: service.metadata.name });
  const serviceObjects = new ServiceObjectsSync({ client, cluster, log, warn, now: () => clock.now(), ...scope });
  // The same autoscaling loop as karb up, on the gateways' reports; spec.scaling.replicas (kubectl scale, an HPA) is obeyed.
  // With the custom metrics API served, the cluster's HPA runs hpa-service (it writes spec.scaling.replicas).
  const decidedElsewhere = (s: StoredService): string | undefined =>
    metricsApi && s.spec.scaling.policy === 'hpa-service' ? `the HorizontalPodAutoscaler ${s.metadata.name} decides, on karb's custom metrics API, and sets spec.scaling.replicas` : undefined;
  autoscaler = new AutoscalerLoop({ store, runtime, hub, clock, log, onDesiredChanged: () => void requestPass(), decidedElsewhere, capacity: (s) => reservations?.capacity(s) });

  // The HPA scales from the count in spec.scaling.replicas, the scale subresource's spec path: while
  // it is unset the API server cannot even read the service's scale ("the spec replicas field
  // does not exist") and the HPA never acts. As a Deployment's spec.replicas defaults to 1, karb
  // writes the count that runs now, once, for each service the HPA decides; the HPA owns it after.
  const seeded = new Set<string>();
  const seedScale = async (services: StoredService[]): Promise<void> => {
    for (const s of services) {
      const { namespace, name, generation } = s.metadata;
      if (s.spec.scaling.replicas !== undefined || decidedElsewhere(s) === undefined || store.isRefused(namespace, name)) continue;
      const key = `${namespace}/${name}@${generation}`;
      if (seeded.has(key)) continue;
      seeded.add(key);
      const replicas = Math.max(1, replicaTarget(s, store.getAutoscaler(namespace, name)).replicas);
      try {
        await client.mergePatch(INFERENCE_SERVICES, namespace, name, { spec: { scaling: { replicas } } });
        store.addEvent({ type: 'Normal', reason: 'ScaleSeeded', message: `spec.scaling.replicas set to ${replicas}, the count running, for the HorizontalPodAutoscaler to scale from`, namespace, service: name });
      } catch (err) {
        seeded.delete(key);
        log({ level: 'warn', msg: 'setting spec.scaling.replicas for the HPA failed; the next pass tries again', service: `${namespace}/${name}`, error: (err as Error).message });
      }
    }
  };
  const refusedReported = new Map<string, string>();

  const pass = async (): Promise<void> => {
    for (const revision of store.syncRevisions()) {
      store.addEvent({ type: 'Normal', reason: 'RevisionCreated', message: `revision ${revision.name} created`, namespace: revision.namespace, service: revision.service, revision: revision.name });
    }
    await serviceObjects.sync(store.listServices());
    if (metricsApi) await seedScale(store.listServices());
    // Before the reconciler writes status, so the Placed condition is this pass's; a failure of it holds no reconcile back.
    await placementGate?.sync().catch((err) => log({ level: 'error', msg: 'placement gate pass failed', component: 'placement-gate', error: err instanceof Error ? err.message : String(err) }));
    await reconciler.reconcile();
    // After the reconciler, so the replicas it asked for this pass count; a failure of it holds nothing else back.
    await reservations?.sync().catch((err) => log({ level: 'error', msg: 'capacity reservation pass failed', component: 'capacity-reservations', error: err instanceof Error ? err.message : String(err) }));
    for (const { object, errors } of store.refused()) reportRefused(object, errors);
  };

  // A spec the CRD admits but karb refuses: Ready=False saying how to fix it, and a Warning event, once per generation.
  const reportRefused = (object: InferenceServiceObject, errors: FieldError[]) => {
    const { namespace, name } = object.metadata;
    const k = `${namespace}/${name}@${object.metadata.generation ?? 0}`;
    const message = errors.map((e) => `${e.path}: ${e.message}`).join('; ');
    if (refusedReported.get(`${namespace}/${name}`) === k) return;
    refusedReported.set(`${namespace}/${name}`, k);
    store.addEvent({ type: 'Warning', reason: 'InvalidSpec', message, namespace: namespace!, service: name });
    const status = {
      ...(object.status ?? {}),
      observedGeneration: object.metadata.generation,
      conditions: [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: `karb refuses this spec: ${message}`, lastTransitionTime: new Date(clock.now()).toISOString(), observedGeneration: object.metadata.generation }],
    };
    void client
      .apply({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name, namespace }, status }, { subresource: 'status' })
      .catch((err) => log({ level: 'error', msg: 'writing the refusal failed', service: `${namespace}/${name}`, error: (err as Error).message }));
  };

  // One pass at a time; asks during a pass make one more. A pass starts on a later turn of the
  // event loop, so the watch events that arrive together (a burst of pod updates) make one pass.
  // A pass is mostly synchronous work (its awaits of cached reads resolve at once), during which
  // no answer from the API server is read and the write-behind stalls: a pass asked for during
  // another waits as long as that one ran, so passes take at most half the loop while events pour in.
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;
  const requestPass = (): Promise<void> => {
    if (closed) return Promise.resolve();
    again = true;
    running ??= (async () => {
      let lastPassMs = 0;
      while (again && !closed) {
        await new Promise((resolve) => (lastPassMs > 0 ? setTimeout(resolve, Math.min(lastPassMs, MAX_PASS_GAP_MS)) : setImmediate(resolve)));
        again = false;
        const started = performance.now();
        try {
          await pass();
        } catch (err) {
          log({ level: 'error', msg: 'reconcile pass failed', component: 'controller', error: err instanceof Error ? err.message : String(err) });
        }
        lastPassMs = performance.now() - started;
      }
    })().finally(() => (running = undefined));
    return running;
  };

  // What closing releases after the store, both when starting fails below and on close().
  const releaseAfterStore = async (): Promise<void> => {
    store.close();
    await reservations?.stop();
    await nodes?.stop();
    await runtime.close();
    await elector?.release();
    if (metricsApiReload !== undefined) clock.clearTimeout(metricsApiReload);
    await metricsApi?.close();
    await server?.close();
    await client.close();
  };
  try {
    // Both read the Nodes through one watch, started once both have attached to it.
    if (cluster.pools?.some((p) => poolClass(p) === 'elastic')) {
      nodes = await watchNodes(client, 'to count the room of the pools the pools file declares');
      if (poolsCanBurst(cluster.pools)) placementGate = new PlacementGate({ client, store, runtime, hub, pools: cluster.pools, clock, nodes, log, onChange: () => void requestPass() });
      reservations = await CapacityReservations.start({ client, store, runtime, cluster, ...scope, nodes, log, onChange: () => void requestPass() });
      await nodes.start();
    }
  } catch (err) {
    closed = true;
    await releaseAfterStore();
    throw err;
  }
  store.onChange(() => void requestPass());
  runtime.onEvent(() => void requestPass());
  const resyncMs = options.resyncMs ?? 10_000;
  let timer: TimerHandle | undefined;
  const tick = () => {
    timer = unref(clock.setTimeout(tick, resyncMs));
    void requestPass();
  };
  timer = unref(clock.setTimeout(tick, resyncMs));
  await requestPass();
  autoscaler.start();
  driftWatch = new DriftWatch({ store, runtime, clock, log, onChange: () => void requestPass() });
  driftWatch.start();
  const replicaLoad = new ReplicaLoadWatch({ store, runtime, hub, clock, log });
  replicaLoad.start();
  const sampler = new HistorySampler({ store, runtime, hub, tally, clock, log });
  sampler.start();
  viewerDeps = { store, sampler, clock, log, drift: (namespace, name) => driftWatch?.reading(namespace, name) };
  rolloutCommand = async (service, command) => {
    reconciler.rollouts.command(service, command);
    await requestPass();
  };
  leading = true;
  log({ level: 'info', msg: 'controller started', component: 'controller', identity, namespace: options.namespace ?? '(all)', leaderElect: options.leaderElect === true });

  void lost.then(() => {
    closed = true;
    leading = false;
    sampler.stop();
    void driftWatch?.stop();
    void replicaLoad.stop();
  });

  return {
    client,
    store,
    runtime,
    reconciler,
    lost,
    ...(server ? { url: server.url } : {}),
    ...(metricsApi ? { customMetricsUrl: metricsApi.url } : {}),
    async sync() {
      await requestPass();
      await Promise.all([store.flush(), runtime.flush()]);
    },
    async close() {
      closed = true;
      leading = false;
      autoscaler?.stop();
      sampler.stop();
      if (timer !== undefined) clock.clearTimeout(timer);
      // Its reading in flight ends before the store it writes events to closes.
      await driftWatch?.stop();
      await replicaLoad.stop();
      await running;
      await store.flush();
      await releaseAfterStore();
    },
  };
}
