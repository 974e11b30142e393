/**
 * The placement gate: karb controller's actor around the placement decider (src/placement) on a
 * cluster. The pods of a service that names an on-prem and an elastic pool are created behind the
 * scheduling gate `karb.dev/placement` (deployment.ts), so the scheduler does not spill them onto
 * paid-for cloud nodes on its own. Each controller pass, this reads the Nodes (the controller's one
 * watch of them), the pods (the runtime's watch) and each such service's SLO risk (the signal
 * windows the autoscaler reads), plans with the pure `planPlacementGate` (placement-plan.ts), and acts:
 *
 * - releases the pods the decider gives a pool: the pool's node selector added and the gate
 *   removed in one update, on the version it read (a pod that changed meanwhile is left for the
 *   next pass); an elastic one also gets a pod-deletion-cost below the default, so scaling down
 *   removes elastic replicas first;
 * - leaves the rest gated, and says why: the service's `Placed` condition, and the gated replicas'
 *   message (so the Ready condition's `ReplicasPending` says it too);
 * - evicts an elastic pod when on-prem has room again (through the Eviction API, so the service's
 *   PodDisruptionBudget has its say); its replacement is gated and released on-prem.
 *
 * Only the leader runs passes, so only the leader writes. A pass with nothing to release or evict
 * writes nothing.
 */
import type { Condition } from '../../api/index.ts';
import type { Pool } from '../../api/pool.ts';
import type { SignalHub } from '../../observability/hub.ts';
import { sloRisk, type SloRisk } from '../../placement/slo-risk.ts';
import { KubeApiError, type KubeClient } from '../../runtime/kubernetes/api-client.ts';
import { placementGated } from '../../runtime/kubernetes/deployment.ts';
import type { KubernetesRuntime } from '../../runtime/kubernetes/kubernetes-runtime.ts';
import { PODS } from '../../runtime/kubernetes/resources.ts';
import type { Clock } from '../../util/clock.ts';
import { serviceWindows } from '../autoscaling-loop.ts';
import type { StoredService } from '../store.ts';
import type { KubernetesStore } from './kubernetes-store.ts';
import type { NodeWatch } from './preflight.ts';
import { POD_DELETION_COST, isPlacementGated, placedCondition, planPlacementGate, waitingSentence, type GatedService, type ServiceOutcome } from './placement-plan.ts';

type Obj = Record<string, any>;

export interface PlacementGateOptions {
  client: KubeClient;
  store: KubernetesStore;
  runtime: KubernetesRuntime;
  hub: SignalHub;
  /** The declared pools (`karb controller --pools`). */
  pools: readonly Pool[];
  clock: Clock;
  /** The controller's watch of the Nodes (started and stopped by the controller). */
  nodes: NodeWatch;
  /** A Node came, went, or changed what placement reads of it (labels, Ready, unschedulable): a pass is due. */
  onChange: () => void;
  log?: (record: Record<string, unknown>) => void;
}

/** The label a service's team is read from (governance's required label), then karb's team label; else its namespace. */
export const TEAM_LABELS = ['team', 'karb.dev/team'] as const;

const key = (namespace: string, name: string) => `${namespace}/${name}`;

/** Whether declared pools let any service burst: one on-prem pool and one elastic pool at least. */
export function poolsCanBurst(pools: readonly Pool[]): boolean {
  return placementGated(pools.map((p) => p.name), pools);
}

export class PlacementGate {
  readonly #o: PlacementGateOptions;
  readonly #nodes: NodeWatch;
  /** What a pass reads of each Node; a change of it asks for a pass (heartbeats do not). */
  readonly #seen = new Map<string, string>();
  /** Pods released, until the watch shows them released (namespace/name → pool). */
  readonly #released = new Map<string, string>();
  /** Pods evicted, until the watch shows them going. */
  readonly #evicting = new Set<string>();
  #outcomes = new Map<string, ServiceOutcome>();

  /** Attaches to the Nodes watch; the controller starts it once every reader has. */
  constructor(options: PlacementGateOptions) {
    this.#o = options;
    this.#nodes = options.nodes;
    const changed = (node: Obj, gone = false) => {
      const name = node.metadata?.name as string;
      const now = gone ? undefined : JSON.stringify([node.metadata?.labels ?? {}, node.spec?.unschedulable === true, (node.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready')?.status]);
      if (this.#seen.get(name) === now) return;
      if (now === undefined) this.#seen.delete(name);
      else this.#seen.set(name, now);
      options.onChange();
    };
    this.#nodes.on('add', (n) => changed(n));
    this.#nodes.on('update', (n) => changed(n));
    this.#nodes.on('delete', (n) => changed(n, true));
  }

  /** One step: decide, release and evict what the decision says, and keep why the rest wait. */
  async sync(): Promise<void> {
    const { store, runtime, pools } = this.#o;
    const pods = runtime.pods();
    this.#forgetSeen(pods);
    // Wanted: what karb asks of the service's Deployments now, every revision together.
    const wanted = new Map<string, number>();
    for (const r of runtime.revisions()) wanted.set(key(r.namespace, r.service), (wanted.get(key(r.namespace, r.service)) ?? 0) + r.replicas);
    const services: GatedService[] = [];
    for (const s of store.listServices()) {
      const { namespace, name } = s.metadata;
      if (store.isRefused(namespace, name) || !placementGated(s.spec.placement.pools, pools)) continue;
      // No priority field in the spec yet: every service is priority 0, so none yields on-prem to another.
      services.push({ namespace, name, team: teamOf(s), priority: 0, wanted: wanted.get(key(namespace, name)) ?? 0, pools: s.spec.placement.pools, risk: this.#risk(s), sloP95Ms: s.spec.slo.latencyP95Ms });
    }
    const plan = planPlacementGate({ pools, nodes: this.#nodes.list(), pods, services, released: this.#released, evicting: this.#evicting });
    this.#outcomes = new Map(plan.services.map((o) => [key(o.namespace, o.name), o]));
    for (const r of plan.releases) {
      const k = key(r.namespace, r.pod);
      const outcome = this.#outcomes.get(key(r.namespace, r.service))!;
      try {
        // On the version read: a pod changed (or released) meanwhile answers Conflict and waits for the next pass.
        await this.#o.client.mergePatch(PODS, r.namespace, r.pod, {
          metadata: { resourceVersion: r.resourceVersion, ...(r.deletionCost !== undefined ? { annotations: { [POD_DELETION_COST]: r.deletionCost } } : {}) },
          spec: { nodeSelector: r.nodeSelector, schedulingGates: r.otherGates.length > 0 ? r.otherGates : null },
        });
        this.#released.set(k, r.pool);
        const why = r.class === 'elastic' ? `: on-prem is full and the SLO is at risk (${outcome.risk.message})` : '';
        store.addEvent({ type: 'Normal', reason: 'ReplicaPlaced', message: `${r.pod} goes to pool ${r.pool} (${r.class})${why}`, namespace: r.namespace, service: r.service, replica: r.pod });
      } catch (err) {
        if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) continue;
        this.#o.log?.({ level: 'warn', msg: 'releasing a gated pod failed; the next pass tries again', component: 'placement-gate', pod: k, pool: r.pool, error: (err as Error).message });
      }
    }
    for (const e of plan.evictions) {
      const k = key(e.namespace, e.pod);
      try {
        await this.#o.client.evict(e.namespace, e.pod);
        this.#evicting.add(k);
        store.addEvent({ type: 'Normal', reason: 'ReplicaMovedOnPrem', message: `${e.pod} on ${e.from} (elastic) evicted: ${e.to} (on-prem) has room again, and its replacement goes there`, namespace: e.namespace, service: e.service, replica: e.pod });
      } catch (err) {
        // 429: the PodDisruptionBudget allows no disruption now; the next pass asks again.
        const level = err instanceof KubeApiError && err.status === 429 ? 'info' : 'warn';
        this.#o.log?.({ level, msg: 'evicting an elastic pod to move it on-prem failed; the next pass tries again', component: 'placement-gate', pod: k, error: (err as Error).message });
      }
    }
  }

  /** The service's `Placed` condition, while karb places its pods. */
  condition(namespace: string, name: string): Omit<Condition, 'lastTransitionTime'> | undefined {
    const outcome = this.#outcomes.get(key(namespace, name));
    return outcome === undefined ? undefined : placedCondition(outcome);
  }

  /** Why the service's gated pods wait, when the decider keeps them waiting. */
  waiting(namespace: string, name: string): string | undefined {
    const outcome = this.#outcomes.get(key(namespace, name));
    return outcome === undefined ? undefined : waitingSentence(outcome);
  }

  /** Released pods the watch shows released, and evicted ones it shows going, need no remembering. */
  #forgetSeen(pods: readonly Obj[]): void {
    const byKey = new Map(pods.map((p) => [key(p.metadata.namespace, p.metadata.name), p]));
    for (const k of this.#released.keys()) {
      const pod = byKey.get(k);
      if (pod === undefined || !isPlacementGated(pod)) this.#released.delete(k);
    }
    for (const k of this.#evicting) {
      const pod = byKey.get(k);
      if (pod === undefined || pod.metadata.deletionTimestamp) this.#evicting.delete(k);
    }
  }

  #risk(s: StoredService): SloRisk {
    const windows = serviceWindows(this.#o.store, this.#o.hub, s, this.#o.clock.now());
    return windows === undefined ? { atRisk: false, reason: 'none', message: 'no latency measured and no growing queue' } : sloRisk(windows, s.spec.slo);
  }
}

function teamOf(s: StoredService): string {
  for (const label of TEAM_LABELS) {
    const team = s.metadata.labels[label];
    if (team) return team;
  }
  return s.metadata.namespace;
}
