/**
 * The level-triggered reconciler: compares what the store says should run with
 * what the runtime runs, and closes the gap. It is idempotent — a pass with
 * nothing changed takes no action — and it is safe to run at any time: after an
 * apply, on a runtime event, on a timer, after a restart.
 */
import { canonicalJson, type Condition, type InferenceServiceStatus } from '../api/index.ts';
import type { Route, RoutingTable } from '../gateway/discovery/routing-table.ts';
import { serviceRoute } from '../gateway/discovery/service-route.ts';
import type { Runtime } from '../runtime/types.ts';
import { planService, replicaTarget, type ServicePlan } from './plan.ts';
import { revisionTemplate } from './revision-template.ts';
import type { AutoscalerRecord, RevisionRecord, Store, StoredService } from './store.ts';
import type { RolloutTracker } from './rollout-tracker.ts';
import { unref, type Clock, type TimerHandle } from '../util/clock.ts';
import { rolloutStatus } from '../rollout/status.ts';
import type { RolloutState } from '../rollout/types.ts';

export type Action =
  | { kind: 'scale'; revision: string; from: number; to: number }
  | { kind: 'remove'; revision: string }
  | { kind: 'prune'; revision: string }
  | { kind: 'status'; service: string }
  | { kind: 'routes' };

export interface ReconcilerOptions {
  store: Store;
  runtime: Runtime;
  routingTable: RoutingTable;
  /** Shown in status as the service's address. */
  gatewayUrl?: string;
  /** Moves rollouts along (the control API sends its commands to the same tracker). */
  rollouts: RolloutTracker;
  /** Time of status conditions and rollout plans, and the resync timer. */
  clock: Clock;
  log?: (record: Record<string, unknown>) => void;
  /** Conditions other actors keep for a service (e.g. `Drift`, src/control/drift-watch.ts), written into its status with the reconciler's own. */
  moreConditions?: (namespace: string, name: string) => Array<Omit<Condition, 'lastTransitionTime'>>;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #rollouts: RolloutTracker;
  #running: Promise<Action[]> | undefined;
  #again = false;
  #routesJson = '';
  #timer: TimerHandle | undefined;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    this.#rollouts = options.rollouts;
  }

  /** The rollouts this reconciler moves along (the control API sends commands to it). */
  get rollouts(): RolloutTracker {
    return this.#rollouts;
  }

  #now(): Date {
    return new Date(this.#o.clock.now());
  }

  /**
   * Runs a resync pass every `intervalMs`, in addition to event-driven passes,
   * so a missed event costs at most one period. The timer never keeps the
   * process alive on its own.
   */
  start(intervalMs = 2000): void {
    if (this.#timer !== undefined) return;
    const { clock } = this.#o;
    const tick = () => {
      this.#timer = unref(clock.setTimeout(tick, intervalMs));
      void this.reconcile().catch((err) => this.#log('error', 'reconcile failed', err));
    };
    this.#timer = unref(clock.setTimeout(tick, intervalMs));
  }

  stop(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One pass at a time; a request during a pass runs one more pass after it. */
  async reconcile(): Promise<Action[]> {
    if (this.#running) {
      this.#again = true;
      return this.#running.then(() => (this.#running ? this.#running : this.reconcile()));
    }
    const run = (async () => {
      const actions: Action[] = [];
      do {
        this.#again = false;
        actions.push(...(await this.#pass()));
      } while (this.#again);
      return actions;
    })();
    this.#running = run;
    try {
      return await run;
    } finally {
      this.#running = undefined;
    }
  }

  async #pass(): Promise<Action[]> {
    const { store, runtime } = this.#o;
    const actions: Action[] = [];
    const wanted = new Set<string>();
    const routes: Route[] = [];

    for (const service of store.listServices()) {
      const { namespace, name } = service.metadata;
      const revisions = store.listRevisions(namespace, name);
      if (revisions.length === 0) continue;
      const ready = new Map<string, number>();
      for (const e of runtime.endpoints({ namespace, service: name })) ready.set(e.revision, (ready.get(e.revision) ?? 0) + 1);

      const autoscaler = store.getAutoscaler(namespace, name);
      const target = replicaTarget(service, autoscaler);
      const rollout = this.#rollouts.sync(service, revisions, ready, target.replicas);
      const plan = planService({ service, revisions, ...(rollout ? { rollout } : {}), now: this.#now().getTime() }, target);
      for (const { revision, replicas } of plan.replicas) {
        wanted.add(`${namespace}/${revision}`);
        const record = revisions.find((r) => r.name === revision)!;
        const current = runtime.replicas({ namespace, revision }).filter((r) => r.phase !== 'Stopped' && r.phase !== 'Draining').length;
        // Every pass: the runtime is level-triggered and a no-op when nothing differs, and only it
        // knows what "differs" means (a Deployment can be at another count than its pods).
        await runtime.ensureRevision(revisionTemplate(service, record), replicas);
        if (current !== replicas) actions.push({ kind: 'scale', revision, from: current, to: replicas });
      }
      if (rollout === undefined && service.status.stableRevision !== plan.stableRevision) {
        store.addEvent({ type: 'Normal', reason: 'TrafficShifted', message: `${plan.stableRevision} serves 100% of traffic`, namespace, service: name, revision: plan.stableRevision });
      }
      const keep = new Set([...plan.replicas.map((r) => r.revision), ...(rollout ? [rollout.stable, rollout.revision] : [])]);
      for (const revision of store.pruneRevisions(namespace, name, service.spec.rollout.revisionHistoryLimit ?? 10, keep)) {
        actions.push({ kind: 'prune', revision });
      }
      routes.push(this.#route(service, plan));
      if (store.setStatus(namespace, name, this.#status(service, plan, revisions, target.message, autoscaler, rollout))) {
        actions.push({ kind: 'status', service: name });
      }
    }

    for (const r of runtime.revisions()) {
      if (!wanted.has(`${r.namespace}/${r.revision}`)) {
        await runtime.removeRevision(r.namespace, r.revision);
        actions.push({ kind: 'remove', revision: r.revision });
      }
    }

    this.#rollouts.forgetIdleRevisions();
    const routesJson = canonicalJson(routes);
    if (routesJson !== this.#routesJson) {
      this.#o.routingTable.replace(routes);
      this.#routesJson = routesJson;
      actions.push({ kind: 'routes' });
    }
    if (actions.length > 0) this.#log('info', 'reconciled', undefined, { actions });
    return actions;
  }

  /**
   * Takes a replica out of the published routes at once, before the runtime
   * signals it to drain, so no new request is sent to a replica that stops
   * taking them; the next pass publishes the full table again.
   */
  withdrawEndpoint(replica: string): void {
    let changed = false;
    const routes = this.#o.routingTable.all().map((route) => ({
      ...route,
      revisions: route.revisions.map((revision) => {
        const endpoints = revision.endpoints.filter((e) => e.replica !== replica);
        if (endpoints.length !== revision.endpoints.length) changed = true;
        return { ...revision, endpoints };
      }),
    }));
    if (changed) this.#o.routingTable.replace(routes);
  }

  #route(service: StoredService, plan: ServicePlan): Route {
    const { namespace, name } = service.metadata;
    const runtime = this.#o.runtime;
    return serviceRoute({ namespace, name, spec: service.spec, traffic: plan.traffic, mirror: plan.mirror, endpoints: (revision) => runtime.endpoints({ namespace, revision }) });
  }

  #status(service: StoredService, plan: ServicePlan, revisions: RevisionRecord[], scaleMessage: string, autoscaler: AutoscalerRecord | undefined, rollout: RolloutState | undefined): InferenceServiceStatus {
    const { namespace, name } = service.metadata;
    const runtime = this.#o.runtime;
    const desired = new Map(plan.replicas.map((r) => [r.revision, r.replicas]));
    const traffic = new Map(plan.traffic.map((t) => [t.revision, t.weight]));
    const statusRevisions = revisions
      .filter((r) => desired.has(r.name))
      .map((r) => ({
        name: r.name,
        ready: runtime.endpoints({ namespace, revision: r.name }).length,
        desired: desired.get(r.name)!,
        traffic: traffic.get(r.name) ?? 0,
      }));
    const serving = statusRevisions.find((r) => r.name === plan.stableRevision)!;
    const replicas = runtime.replicas({ namespace, revision: plan.stableRevision });
    const crashed = replicas.find((r) => r.phase === 'Crashed');
    const pending = replicas.find((r) => r.phase === 'Pending');
    const blocked = serving.ready === 0 && serving.desired > 0 ? runtime.blocked?.(namespace, plan.stableRevision) : undefined;
    const ready: Omit<Condition, 'lastTransitionTime'> =
      serving.ready > 0
        ? { type: 'Ready', status: 'True', reason: 'RevisionReady', message: `${serving.name}: ${serving.ready}/${serving.desired} replicas ready; ${scaleMessage}` }
        : serving.desired === 0
          ? { type: 'Ready', status: 'True', reason: 'ScaledToZero', message: `${serving.name}: scaled to zero; the next request is held while a replica starts` }
        : crashed
          ? { type: 'Ready', status: 'False', reason: 'ReplicaCrashing', message: `${serving.name}: ${crashed.name} keeps exiting (restarts: ${crashed.restarts})${crashed.message ? `: ${crashed.message}` : ''}; see .karb/logs/${crashed.name}.log` }
          : pending
            ? { type: 'Ready', status: 'False', reason: 'ReplicasPending', message: `${serving.name}: ${pending.name} cannot start yet: ${pending.message ?? 'waiting for a place to run'}` }
          : blocked
            ? { type: 'Ready', status: 'False', reason: 'ReplicasRefused', message: `${serving.name}: no replica can be created: ${blocked}` }
            : { type: 'Ready', status: 'False', reason: 'ReplicasStarting', message: `${serving.name}: 0/${serving.desired} replicas ready` };
    const latest: Omit<Condition, 'lastTransitionTime'> =
      rollout === undefined || rollout.phase === 'Succeeded'
        ? { type: 'LatestRevisionReady', status: 'True', reason: 'RevisionServing', message: `${plan.latestRevision} serves 100% of traffic` }
        : { type: 'LatestRevisionReady', status: 'False', reason: rollout.reason, message: `${rollout.phase}: ${rollout.message}` };
    return {
      observedGeneration: service.metadata.generation,
      latestRevision: plan.latestRevision,
      stableRevision: plan.stableRevision,
      ...(this.#o.gatewayUrl ? { url: `${this.#o.gatewayUrl}/v2/models/${name}` } : {}),
      revisions: statusRevisions,
      // Where a gateway that reads status (karb gateway --kubernetes) learns of rollout mirroring.
      ...(plan.mirror ? { mirror: { ...plan.mirror } } : {}),
      ...(rollout ? { rollout: rolloutStatus(rollout, service.spec) } : {}),
      ...(autoscaler ? { autoscaler: { desiredReplicas: autoscaler.desiredReplicas, reason: autoscaler.reason, message: autoscaler.message, panic: autoscaler.panic } } : {}),
      conditions: [ready, latest, ...(autoscaler ? [scalingCondition(autoscaler)] : []), ...(this.#o.moreConditions?.(namespace, name) ?? [])].map((c) => withTransitionTime(c, service.status.conditions, this.#now())),
    };
  }

  #log(level: string, msg: string, err?: unknown, extra: Record<string, unknown> = {}): void {
    this.#o.log?.({ level, msg, component: 'reconciler', ...(err ? { error: err instanceof Error ? err.message : String(err) } : {}), ...extra });
  }
}

/** The autoscaler's last decision as a condition; NoData means it could not decide and kept the count. */
function scalingCondition(a: AutoscalerRecord): Omit<Condition, 'lastTransitionTime'> {
  return a.reason === 'NoData'
    ? { type: 'ScalingActive', status: 'False', reason: a.reason, message: a.message }
    : { type: 'ScalingActive', status: 'True', reason: a.reason, message: a.message };
}

/** Keeps a condition's lastTransitionTime while its status stays the same. */
function withTransitionTime(c: Omit<Condition, 'lastTransitionTime'>, previous: Condition[] | undefined, now: Date): Condition {
  const before = previous?.find((p) => p.type === c.type);
  const lastTransitionTime = before && before.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : now.toISOString();
  return { ...c, lastTransitionTime };
}
