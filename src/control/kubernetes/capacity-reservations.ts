/**
 * Capacity reservations: karb controller's actor that turns GASCL's node requests into something a
 * cluster autoscaler acts on. Cluster Autoscaler and Karpenter add nodes only for Pending pods, so
 * the room GASCL asks for beyond a service's replicas (desiredNodes × replicasPerNode − replicas,
 * capacity-plan.ts) is held by placeholder pods of the Deployment `<service>-capacity`
 * (src/runtime/kubernetes/capacity-reservation.ts): each requests what one replica requests, where
 * a replica would go, at the PriorityClass `karb-capacity-reservation` (-10, never preempting), so
 * with no room it waits Pending and the cluster autoscaler provisions a node for it, and a real
 * replica that needs the room preempts it at once.
 *
 * It also gives the autoscaling loop each service's pool capacity (`capacity()`: the Nodes of its
 * pool, from the controller's one watch of the Nodes), which is what lets GASCL ask for nodes on a
 * cluster at all.
 *
 * Each controller pass (after the reconciler, so the replicas it asked for count), for every
 * service whose pool is a declared elastic one: plan with `planReservation`, and apply the
 * Deployment (owned by the service, so it goes with it) when it no longer holds what karb would
 * apply; a reservation no longer needed is scaled to 0, and one of a service that no longer names
 * such a pool is deleted. Events `CapacityReserved` / `CapacityReleased` say why, and a Warning
 * `CapacityReservationFailed` when its placeholders cannot be created (no PriorityClass, a quota).
 * Only the leader runs passes. A pass with nothing to change writes nothing.
 */
import { canonicalJson } from '../../api/index.ts';
import type { Pool } from '../../api/pool.ts';
import type { ScalingInput } from '../../autoscaler/types.ts';
import type { KubeClient, ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { buildCapacityReservation, CAPACITY_PRIORITY_CLASS, capacityReservationName, LABEL_CAPACITY_FOR } from '../../runtime/kubernetes/capacity-reservation.ts';
import { containsDesired } from '../../runtime/kubernetes/contains.ts';
import type { KubernetesRuntime } from '../../runtime/kubernetes/kubernetes-runtime.ts';
import { LABEL_SERVICE } from '../../runtime/kubernetes/labels.ts';
import { ownerReference } from '../../runtime/kubernetes/objects.ts';
import type { ClusterOptions } from '../../runtime/kubernetes/options.ts';
import { DEPLOYMENTS } from '../../runtime/kubernetes/resources.ts';
import { servingRevision } from '../autoscaling-loop.ts';
import { replicaTarget } from '../plan.ts';
import type { StoredService } from '../store.ts';
import { planReservation, poolCapacity, reservationPool, reservationSentence } from './capacity-plan.ts';
import type { KubernetesStore } from './kubernetes-store.ts';
import type { NodeWatch } from './preflight.ts';

type Obj = Record<string, any>;

export interface CapacityReservationsOptions {
  client: KubeClient;
  store: KubernetesStore;
  runtime: KubernetesRuntime;
  /** karb's image (the placeholders run `karb reserve` in it) and the declared pools. */
  cluster: ClusterOptions;
  /** Watch one namespace only; all by default. */
  namespace?: string;
  /** The controller's watch of the Nodes (started and stopped by the controller). */
  nodes: NodeWatch;
  /** A reservation's Deployment changed (its count, its placeholders running): a pass is due. */
  onChange?: () => void;
  log?: (record: Record<string, unknown>) => void;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class CapacityReservations {
  readonly #o: CapacityReservationsOptions;
  readonly #pools: readonly Pool[];
  readonly #nodes: NodeWatch;
  readonly #deployments;
  /** What each reservation's Deployment showed when it was last applied, until the watch shows it again. */
  readonly #sent = new Map<string, { canonical: string; replicas: number; seenVersion: string | undefined }>();
  /** The slots each service was last told about in an event, and the last failure warned of. */
  readonly #told = new Map<string, number>();
  readonly #warned = new Map<string, string>();
  /** What a pass reads of each reservation's Deployment; a change of it asks for a pass. */
  readonly #seen = new Map<string, string>();
  /** Each pool's capacity as GASCL reads it, until a Node changes (the loop asks every tick for every service). */
  readonly #capacities = new Map<string, NonNullable<ScalingInput['capacity']>>();

  private constructor(options: CapacityReservationsOptions) {
    this.#o = options;
    this.#pools = options.cluster.pools ?? [];
    const scope = options.namespace ? { namespace: options.namespace } : {};
    this.#nodes = options.nodes;
    this.#deployments = options.client.informer<Obj & { apiVersion: string; kind: string; metadata: { name: string } }>(DEPLOYMENTS, { ...scope, labelSelector: LABEL_CAPACITY_FOR });
    const changed = (d: Obj, gone = false) => {
      const k = key(d.metadata?.namespace, d.metadata?.name);
      const now = gone ? undefined : JSON.stringify([d.spec?.replicas, d.status?.readyReplicas ?? 0, d.metadata?.generation]);
      if (this.#seen.get(k) === now) return;
      if (now === undefined) this.#seen.delete(k);
      else this.#seen.set(k, now);
      options.onChange?.();
    };
    const nodesChanged = () => this.#capacities.clear();
    this.#nodes.on('add', nodesChanged);
    this.#nodes.on('update', nodesChanged);
    this.#nodes.on('delete', nodesChanged);
    this.#deployments.on('add', (d) => changed(d));
    this.#deployments.on('update', (d) => changed(d));
    this.#deployments.on('delete', (d) => changed(d, true));
  }

  static async start(options: CapacityReservationsOptions): Promise<CapacityReservations> {
    const reservations = new CapacityReservations(options);
    try {
      await reservations.#deployments.start();
    } catch (err) {
      await reservations.stop();
      throw err;
    }
    return reservations;
  }

  /** The service's pool as GASCL reads it, when it has one a reservation can hold room on. */
  capacity(service: StoredService): ScalingInput['capacity'] | undefined {
    const pool = reservationPool(service.spec.placement.pools, this.#pools);
    if (pool === undefined) return undefined;
    let capacity = this.#capacities.get(pool.name);
    if (capacity === undefined) {
      capacity = poolCapacity(pool, this.#nodes.list());
      this.#capacities.set(pool.name, capacity);
    }
    return { ...capacity };
  }

  /** One step: every reservation as the last decisions say. */
  async sync(): Promise<void> {
    const { store, runtime } = this.#o;
    // Asked: what karb asks of the service's Deployments now; placed: its pods on a node, not going.
    const asked = new Map<string, number>();
    for (const r of runtime.revisions()) asked.set(key(r.namespace, r.service), (asked.get(key(r.namespace, r.service)) ?? 0) + r.replicas);
    const placed = new Map<string, number>();
    for (const p of runtime.pods()) {
      const service = p.metadata.labels?.[LABEL_SERVICE];
      if (service === undefined || !p.spec?.nodeName || p.metadata.deletionTimestamp) continue;
      const k = key(p.metadata.namespace!, service);
      placed.set(k, (placed.get(k) ?? 0) + 1);
    }
    const kept = new Set<string>();
    for (const s of store.listServices()) {
      const { namespace, name } = s.metadata;
      const k = key(namespace, name);
      // A refused spec holds what runs as it is, its reservation too.
      if (store.isRefused(namespace, name)) {
        kept.add(k);
        continue;
      }
      const pool = reservationPool(s.spec.placement.pools, this.#pools);
      const revision = pool === undefined ? undefined : servingRevision(s, store.listRevisions(namespace, name));
      const owner = store.resource(namespace, name);
      if (pool === undefined || revision === undefined || !owner?.metadata.uid || owner.metadata.deletionTimestamp) continue;
      kept.add(k);
      await this.#syncService(s, pool, revision, owner.metadata.uid, asked.get(k) ?? 0, placed.get(k) ?? 0);
    }
    // A service that no longer names an elastic pool keeps no reservation; one deleted takes its own along (owner reference).
    for (const d of this.#deployments.list()) {
      const service = d.metadata.labels?.[LABEL_CAPACITY_FOR] as string | undefined;
      const k = key(d.metadata.namespace!, service ?? '');
      if (service === undefined || kept.has(k) || d.metadata.deletionTimestamp || d.metadata.name !== capacityReservationName(service)) continue;
      if (store.getService(d.metadata.namespace!, service) === undefined) continue;
      try {
        await this.#o.client.delete(DEPLOYMENTS, d.metadata.namespace, d.metadata.name);
        this.#sent.delete(k);
        this.#told.delete(k);
      } catch (err) {
        this.#o.log?.({ level: 'warn', msg: 'deleting a capacity reservation no longer needed failed; the next pass tries again', component: 'capacity-reservations', reservation: k, error: (err as Error).message });
      }
    }
    for (const memory of [this.#told, this.#sent, this.#warned]) for (const k of [...memory.keys()]) if (!kept.has(k)) memory.delete(k);
  }

  async stop(): Promise<void> {
    await this.#deployments.stop();
  }

  async #syncService(s: StoredService, pool: Pool, revision: string, uid: string, asked: number, placed: number): Promise<void> {
    const { store } = this.#o;
    const { namespace, name } = s.metadata;
    const k = key(namespace, name);
    const live = this.#deployments.get(capacityReservationName(name), namespace);
    const sent = this.#sent.get(k);
    // Sent and not yet seen back: the watch lags the write.
    const pending = sent !== undefined && sent.seenVersion === live?.metadata.resourceVersion;
    if (sent !== undefined && !pending) this.#sent.delete(k);
    const record = store.getAutoscaler(namespace, name);
    const decision = { replicasPerNode: pool.replicasPerNode, desiredNodes: record?.desiredNodes, desiredReplicas: replicaTarget(s, record).replicas };
    const plan = planReservation({
      ...decision,
      asked,
      placed,
      current: pending ? sent.replicas : ((live?.spec?.replicas as number | undefined) ?? 0),
      running: (live?.status?.readyReplicas as number | undefined) ?? 0,
    });
    this.#tell(s, pool, decision, plan.slots, live);
    this.#warnIfRefused(s, live);
    if (plan.replicas === 0 && live === undefined && !pending) return;
    const template = store.listRevisions(namespace, name).find((r) => r.name === revision)!.template;
    const desired = buildCapacityReservation(
      { service: name, namespace, pool: pool.name, replicas: plan.replicas, resources: template.resources, placement: s.spec.placement, userLabels: s.metadata.labels },
      this.#o.cluster,
    ) as Obj & ObjectLike;
    desired.metadata.ownerReferences = [ownerReference(name, uid)];
    const canonical = canonicalJson(desired);
    if (live !== undefined && !live.metadata.deletionTimestamp && containsDesired(live, desired)) return;
    if (pending && sent.canonical === canonical) return;
    try {
      await this.#o.client.apply(desired);
      this.#sent.set(k, { canonical, replicas: plan.replicas, seenVersion: live?.metadata.resourceVersion });
    } catch (err) {
      this.#o.log?.({ level: 'warn', msg: 'applying a capacity reservation failed; the next pass tries again', component: 'capacity-reservations', reservation: k, error: (err as Error).message });
    }
  }

  /** An event when the room held changes (not when it is only kept while a replica takes it). */
  #tell(s: StoredService, pool: Pool, decision: { replicasPerNode: number; desiredNodes: number | undefined; desiredReplicas: number }, slots: number, live: Obj | undefined): void {
    const { namespace, name } = s.metadata;
    const k = key(namespace, name);
    // After a start, what stands is what was told.
    const before = this.#told.get(k) ?? ((live?.spec?.replicas as number | undefined) ?? 0);
    this.#told.set(k, slots);
    if (before === slots) return;
    this.#o.store.addEvent({ type: 'Normal', reason: slots > 0 ? 'CapacityReserved' : 'CapacityReleased', message: reservationSentence(pool.name, decision, slots), namespace, service: name });
  }

  /** Placeholders the API server will not create (no PriorityClass, a quota): one Warning per message. */
  #warnIfRefused(s: StoredService, live: Obj | undefined): void {
    const k = key(s.metadata.namespace, s.metadata.name);
    const failure = ((live?.status?.conditions ?? []) as Obj[]).find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
    if (failure === undefined) {
      this.#warned.delete(k);
      return;
    }
    const message = String(failure.message ?? 'the ReplicaSet cannot create pods');
    if (this.#warned.get(k) === message) return;
    this.#warned.set(k, message);
    const hint = message.includes('PriorityClass') ? ` (apply karb install's PriorityClass ${CAPACITY_PRIORITY_CLASS})` : '';
    this.#o.store.addEvent({ type: 'Warning', reason: 'CapacityReservationFailed', message: `placeholder pods of ${capacityReservationName(s.metadata.name)} cannot be created: ${message}${hint}`, namespace: s.metadata.namespace, service: s.metadata.name });
  }
}
