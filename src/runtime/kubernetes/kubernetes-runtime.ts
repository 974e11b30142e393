/**
 * The `Runtime` (../types.ts) of `karb controller`: a revision is a Deployment (and a headless
 * Service) applied with server-side apply; replicas are its pods, ready endpoints its ready pods'
 * addresses, all read from watch caches. A Deployment karb applied is compared with what karb
 * would apply whenever it changes, so a human edit of a field karb owns (replicas, image, …) is
 * put back at once, while fields karb does not set are left alone. Nothing is written while the
 * cluster already matches.
 */
import type { KubernetesObject, ListWatch } from '@kubernetes/client-node';
import type { Endpoint, ReplicaPhase, ReplicaStatus, ReplicaUsage, RevisionTemplate, Runtime, RuntimeEvent } from '../types.ts';
import type { KubeClient, ObjectLike } from './api-client.ts';
import { buildDeployment } from './deployment.ts';
import { LABEL_REVISION, LABEL_SERVICE, MANAGED_BY, PLACEMENT_GATE, selectorText } from './labels.ts';
import { SERVING_PORT, type ClusterOptions } from './options.ts';
import { DEPLOYMENTS, PODS, SERVICES } from './resources.ts';
import { buildRevisionService } from './service-objects.ts';
import { ownerReference } from './objects.ts';
import { containsDesired } from './contains.ts';
import { LabelIndex } from './label-index.ts';
import { WriteBehind } from './write-behind.ts';
import { checkReplicaCount, RuntimeClosedError } from '../errors.ts';

export interface OwnerInfo {
  uid: string;
  labels: Record<string, string>;
}

export interface KubernetesRuntimeOptions {
  client: KubeClient;
  /** Watch one namespace only; all by default. */
  namespace?: string;
  cluster: ClusterOptions;
  /** The owning InferenceService (owner references, labels); undefined once it is gone. */
  owner(namespace: string, service: string): OwnerInfo | undefined;
  /**
   * A service whose revisions are held as they are: not listed by `revisions()`, so no pass removes
   * or rescales them (the controller holds a service whose current spec it refuses).
   */
  holds?(namespace: string, service: string): boolean;
  /**
   * Why a service's pods behind karb's placement gate wait (the placement gate's sentence), said as
   * their replicas' message instead of the scheduler's "blocked due to non-empty scheduling gates".
   */
  gated?(namespace: string, service: string): string | undefined;
  log?: (record: Record<string, unknown>) => void;
}

type Obj = ObjectLike & KubernetesObject & Record<string, any>;

const key = (namespace: string, name: string) => `${namespace}/${name}`;
/** The ReplicaSet controller deletes pods with the lowest cost first. */
const DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';

export class KubernetesRuntime implements Runtime {
  readonly #o: KubernetesRuntimeOptions;
  readonly #deployments: ListWatch<Obj>;
  readonly #pods: ListWatch<Obj>;
  /** Pods by revision and by service, per namespace: a pass reads each revision's pods, not all of them. */
  readonly #podsByRevision: LabelIndex<Obj>;
  readonly #podsByService: LabelIndex<Obj>;
  /** What karb last asked for, by namespace/revision: compared with every change of the Deployment. */
  readonly #desired = new Map<string, { deployment: Obj; service: Obj }>();
  readonly #appliedServices = new Set<string>();
  readonly #phases = new Map<string, ReplicaPhase>();
  readonly #listeners = new Set<(event: RuntimeEvent) => void>();
  readonly #restoring = new Set<string>();
  /** Revisions removed here whose Deployment the watch has not yet reported gone. */
  readonly #removed = new Set<string>();
  /** Pods chosen to stop (namespace/name): out of the endpoints at once, Draining until they are gone. */
  readonly #withdrawn = new Set<string>();
  /**
   * A revision's Service and Deployment writes, in order per revision and side by side across
   * revisions, so a pass that brings up many revisions does not wait on each write in turn.
   */
  readonly #writes: WriteBehind;
  /** The Deployment last sent per revision, until the watch reports that Deployment again (or the write fails). */
  readonly #sent = new Map<string, Obj>();
  #closed = false;

  private constructor(options: KubernetesRuntimeOptions) {
    this.#o = options;
    const scope = options.namespace ? { namespace: options.namespace } : {};
    this.#deployments = options.client.informer<Obj>(DEPLOYMENTS, { ...scope, labelSelector: selectorText(MANAGED_BY) });
    this.#pods = options.client.informer<Obj>(PODS, { ...scope, labelSelector: LABEL_REVISION });
    this.#writes = new WriteBehind({ ...(options.log ? { log: options.log } : {}) });
    this.#deployments.on('add', (d) => this.#sent.delete(key(d.metadata.namespace!, d.metadata.name)));
    this.#podsByRevision = new LabelIndex(this.#pods, LABEL_REVISION);
    this.#podsByService = new LabelIndex(this.#pods, LABEL_SERVICE);
    this.#deployments.on('update', (d) => {
      this.#sent.delete(key(d.metadata.namespace!, d.metadata.name));
      this.#restoreIfEdited(d);
    });
    this.#deployments.on('delete', (d) => {
      this.#sent.delete(key(d.metadata.namespace!, d.metadata.name));
      this.#removed.delete(key(d.metadata.namespace!, d.metadata.name));
      this.#restoreIfEdited(d, true);
    });
    this.#pods.on('add', (p) => this.#podChanged(p));
    this.#pods.on('update', (p) => this.#podChanged(p));
    this.#pods.on('delete', (p) => this.#podChanged(p, true));
  }

  static async start(options: KubernetesRuntimeOptions): Promise<KubernetesRuntime> {
    const runtime = new KubernetesRuntime(options);
    await Promise.all([runtime.#deployments.start(), runtime.#pods.start()]);
    return runtime;
  }

  async ensureRevision(template: RevisionTemplate, replicas: number): Promise<void> {
    checkReplicaCount(template, replicas);
    if (this.#closed) throw new RuntimeClosedError('kubernetes');
    const owner = this.#o.owner(template.namespace, template.service);
    if (owner === undefined) return; // the service is being deleted: its objects go with it
    const ownerReferences = [ownerReference(template.service, owner.uid)];
    const deployment = buildDeployment(template, replicas, this.#o.cluster, owner.labels) as Obj;
    deployment.metadata.ownerReferences = ownerReferences;
    const service = buildRevisionService({ name: template.service, namespace: template.namespace, labels: owner.labels }, template.revision) as Obj;
    service.metadata.ownerReferences = ownerReferences;
    const k = key(template.namespace, template.revision);
    // No replicas, no Deployment: a revision at zero is removed and made again when it scales up.
    if (replicas === 0) {
      if (this.#desired.has(k) || this.#deployments.get(template.revision, template.namespace)) await this.removeRevision(template.namespace, template.revision);
      return;
    }
    await this.#withdrawSurplus(template.namespace, template.revision, replicas);
    this.#desired.set(k, { deployment, service });
    this.#removed.delete(k);
    if (!this.#appliedServices.has(k)) {
      this.#appliedServices.add(k);
      this.#writes.schedule(`service:${k}`, k, () =>
        this.#o.client.apply(service).catch((err) => {
          this.#appliedServices.delete(k);
          throw err;
        }),
      );
    }
    const live = this.#deployments.get(template.revision, template.namespace);
    if (live !== undefined && containsDesired(live, deployment)) return;
    // Sent and not yet seen back: the watch lags the write, so the same apply is not sent again.
    const sent = this.#sent.get(k);
    if (sent !== undefined && containsDesired(sent, deployment)) return;
    this.#sent.set(k, deployment);
    this.#writes.schedule(`deployment:${k}`, k, () =>
      this.#o.client.apply(deployment).catch((err) => {
        if (this.#sent.get(k) === deployment) this.#sent.delete(k);
        throw err;
      }),
    );
  }

  /** Resolves once every Service and Deployment write asked for so far has been sent (or dropped). */
  flush(): Promise<void> {
    return this.#writes.flush();
  }

  async removeRevision(namespace: string, revision: string): Promise<void> {
    if (this.#closed) throw new RuntimeClosedError('kubernetes');
    const k = key(namespace, revision);
    this.#desired.delete(k);
    this.#appliedServices.delete(k);
    // Not listed again while the watch still shows it, so the next pass does not delete it twice.
    this.#removed.add(k);
    this.#sent.delete(k);
    for (const pod of this.#matching({ namespace, revision })) this.#withdraw(pod);
    // In the revision's lane, replacing an apply not yet sent, so a later apply cannot be undone by it (or it by one).
    this.#writes.schedule(`deployment:${k}`, k, () => this.#o.client.delete(DEPLOYMENTS, namespace, revision));
    this.#writes.schedule(`service:${k}`, k, () => this.#o.client.delete(SERVICES, namespace, revision));
  }

  revisions(): Array<{ namespace: string; service: string; revision: string; replicas: number }> {
    return this.#deployments
      .list()
      .filter((d) => !d.metadata.deletionTimestamp && d.metadata.labels?.[LABEL_REVISION] !== undefined && !this.#removed.has(key(d.metadata.namespace!, d.metadata.name)))
      .filter((d) => !this.#o.holds?.(d.metadata.namespace!, d.metadata.labels![LABEL_SERVICE]!))
      .map((d) => {
        // What karb last asked for, before the watch reports it.
        const desired = this.#desired.get(key(d.metadata.namespace!, d.metadata.name))?.deployment.spec as { replicas?: number } | undefined;
        return { namespace: d.metadata.namespace!, service: d.metadata.labels![LABEL_SERVICE]!, revision: d.metadata.name, replicas: desired?.replicas ?? d.spec?.replicas ?? 0 };
      })
      .filter((r) => r.replicas > 0);
  }

  blocked(namespace: string, revision: string): string | undefined {
    const conditions: Array<{ type?: string; status?: string; message?: string }> = this.#deployments.get(revision, namespace)?.status?.conditions ?? [];
    const failure = conditions.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
    return failure === undefined ? undefined : (failure.message ?? 'the ReplicaSet cannot create pods');
  }

  replicas(filter: { namespace?: string; service?: string; revision?: string } = {}): ReplicaStatus[] {
    return this.#matching(filter).map((pod) => ({ ...this.#replicaOf(pod), phase: this.#phaseOf(pod) }));
  }

  endpoints(filter: { namespace?: string; service?: string; revision?: string } = {}): Endpoint[] {
    const out: Endpoint[] = [];
    for (const pod of this.#matching(filter)) {
      if (this.#phaseOf(pod) !== 'Ready' || !pod.status?.podIP) continue;
      const labels = pod.metadata.labels!;
      out.push({ replica: pod.metadata.name, revision: labels[LABEL_REVISION]!, service: labels[LABEL_SERVICE]!, namespace: pod.metadata.namespace!, url: `http://${urlHost(pod.status.podIP)}:${SERVING_PORT}` });
    }
    return out;
  }

  /** Nothing is measured here yet (a metrics API would be): a missing figure means "not measured". */
  usage(): ReplicaUsage[] {
    return [];
  }

  onEvent(listener: (event: RuntimeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The pods of karb's revisions as the watch last saw them (read-only), for the placement gate,
   * which reads where each runs and which still wait behind the gate.
   */
  pods(namespace?: string): readonly Obj[] {
    return this.#pods.list(namespace);
  }

  /** Pods belong to the cluster: closing stops watching (and drops writes not yet sent), it never stops replicas. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#writes.close();
    await Promise.all([this.#deployments.stop(), this.#pods.stop()]);
  }

  #matching(filter: { namespace?: string; service?: string; revision?: string }): Obj[] {
    const { namespace, service, revision } = filter;
    if (namespace !== undefined && revision !== undefined) {
      const pods = this.#podsByRevision.list(namespace, revision);
      return service === undefined ? pods : pods.filter((p) => p.metadata.labels?.[LABEL_SERVICE] === service);
    }
    if (namespace !== undefined && service !== undefined) return this.#podsByService.list(namespace, service);
    return this.#pods.list(namespace).filter((p) => {
      const labels = p.metadata.labels ?? {};
      return (filter.service === undefined || labels[LABEL_SERVICE] === filter.service) && (filter.revision === undefined || labels[LABEL_REVISION] === filter.revision);
    });
  }

  #replicaOf(pod: Obj): ReplicaStatus {
    const replica = replicaOf(pod);
    if (!((pod.spec?.schedulingGates ?? []) as Array<{ name?: string }>).some((g) => g.name === PLACEMENT_GATE)) return replica;
    const why = this.#o.gated?.(replica.namespace, replica.service);
    return why === undefined ? replica : { ...replica, message: why };
  }

  #phaseOf(pod: Obj): ReplicaPhase {
    return this.#withdrawn.has(key(pod.metadata.namespace!, pod.metadata.name)) ? 'Draining' : phaseOf(pod);
  }

  /**
   * Scaling down, karb picks the pods that go (pending first, then not ready, then the lower
   * deletion cost — an elastic replica's is below 0 — then the newest, as the ReplicaSet controller
   * would among equals) and tells the ReplicaSet through the pod-deletion-cost annotation, so they
   * are the ones deleted; they leave the endpoints now.
   */
  async #withdrawSurplus(namespace: string, revision: string, replicas: number): Promise<void> {
    const running = this.#matching({ namespace, revision }).filter((p) => this.#phaseOf(p) !== 'Draining');
    if (running.length <= replicas) return;
    const rank = (p: Obj) => (!p.spec?.nodeName ? 0 : this.#phaseOf(p) === 'Ready' ? 2 : 1);
    const cost = (p: Obj) => Number(p.metadata?.annotations?.[DELETION_COST] ?? 0) || 0;
    const victims = [...running]
      .sort((a, b) => rank(a) - rank(b) || cost(a) - cost(b) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)))
      .slice(0, running.length - replicas);
    for (const pod of victims) {
      this.#withdraw(pod);
      await this.#o.client
        .mergePatch(PODS, namespace, pod.metadata.name, { metadata: { annotations: { [DELETION_COST]: String(-(2 ** 31)) } } })
        .catch((err) => this.#o.log?.({ level: 'warn', msg: 'could not mark a pod to go first', pod: pod.metadata.name, error: err instanceof Error ? err.message : String(err) }));
    }
  }

  #withdraw(pod: Obj): void {
    const k = key(pod.metadata.namespace!, pod.metadata.name);
    if (this.#withdrawn.has(k)) return;
    this.#withdrawn.add(k);
    this.#podChanged(pod);
  }

  #restoreIfEdited(live: Obj, deleted = false): void {
    const k = key(live.metadata.namespace!, live.metadata.name);
    const desired = this.#desired.get(k);
    if (desired === undefined || this.#restoring.has(k)) return;
    if (!deleted && containsDesired(live, desired.deployment)) return;
    this.#restoring.add(k);
    this.#o.log?.({ level: 'info', msg: deleted ? 'deployment deleted; applying it again' : 'deployment edited; putting back the fields karb owns', component: 'runtime', deployment: k });
    void this.#o.client
      .apply(desired.deployment)
      .catch((err) => this.#o.log?.({ level: 'error', msg: 'restoring a deployment failed', deployment: k, error: err instanceof Error ? err.message : String(err) }))
      .finally(() => this.#restoring.delete(k));
  }

  #podChanged(pod: Obj, deleted = false): void {
    const k = key(pod.metadata.namespace!, pod.metadata.name);
    const before = this.#phases.get(k);
    const phase: ReplicaPhase = deleted ? 'Stopped' : this.#phaseOf(pod);
    if (deleted) {
      this.#phases.delete(k);
      this.#withdrawn.delete(k);
    } else this.#phases.set(k, phase);
    if (before === phase) return;
    const reason = ({ Pending: 'ReplicaPending', Starting: before === 'Ready' ? 'ReplicaNotReady' : 'ReplicaStarted', Ready: 'ReplicaReady', Draining: 'ReplicaDraining', Crashed: 'ReplicaCrashed', Stopped: 'ReplicaStopped' } as const)[phase];
    const labels = pod.metadata.labels ?? {};
    const event: RuntimeEvent = {
      time: Date.now(),
      type: phase === 'Crashed' || phase === 'Pending' ? 'Warning' : 'Normal',
      reason,
      message: phase === 'Pending' ? `${pod.metadata.name}: Pending: ${this.#replicaOf(pod).message ?? 'not scheduled'}` : `${pod.metadata.name}: ${phase}`,
      namespace: pod.metadata.namespace!,
      service: labels[LABEL_SERVICE] ?? '',
      revision: labels[LABEL_REVISION] ?? '',
      replica: pod.metadata.name,
    };
    for (const listener of this.#listeners) listener(event);
  }
}

function phaseOf(pod: Obj): ReplicaPhase {
  if (pod.metadata.deletionTimestamp) return 'Draining';
  const status = pod.status ?? {};
  if (status.phase === 'Succeeded') return 'Stopped';
  if (status.phase === 'Failed') return 'Crashed';
  const waiting = (status.containerStatuses ?? []).find((c: any) => c.state?.waiting?.reason === 'CrashLoopBackOff' || c.state?.waiting?.reason === 'ImagePullBackOff' || c.state?.waiting?.reason === 'ErrImagePull');
  if (waiting) return 'Crashed';
  // The scheduler found no node for it (its message says why: insufficient GPUs, taints, affinity).
  if ((status.conditions ?? []).some((c: any) => c.type === 'PodScheduled' && c.status === 'False')) return 'Pending';
  const ready = (status.conditions ?? []).find((c: any) => c.type === 'Ready');
  return ready?.status === 'True' ? 'Ready' : 'Starting';
}

function replicaOf(pod: Obj): ReplicaStatus {
  const labels = pod.metadata.labels ?? {};
  const status = pod.status ?? {};
  const ready = (status.conditions ?? []).find((c: any) => c.type === 'Ready' && c.status === 'True');
  const containers: any[] = status.containerStatuses ?? [];
  const waiting = containers.find((c) => c.state?.waiting?.message || c.state?.waiting?.reason)?.state?.waiting;
  const unschedulable = (status.conditions ?? []).find((c: any) => c.type === 'PodScheduled' && c.status === 'False');
  const message = waiting ? `${waiting.reason ?? ''}${waiting.message ? `: ${waiting.message}` : ''}` : unschedulable?.message;
  return {
    name: pod.metadata.name,
    revision: labels[LABEL_REVISION] ?? '',
    service: labels[LABEL_SERVICE] ?? '',
    namespace: pod.metadata.namespace!,
    phase: phaseOf(pod),
    ...(status.podIP ? { url: `http://${urlHost(status.podIP)}:${SERVING_PORT}` } : {}),
    restarts: containers.reduce((n, c) => n + (c.restartCount ?? 0), 0),
    startedAt: Date.parse(String(pod.metadata.creationTimestamp ?? '')) || 0,
    ...(ready?.lastTransitionTime ? { readyAt: Date.parse(ready.lastTransitionTime) } : {}),
    ...(message ? { message } : {}),
  };
}

function urlHost(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

