/**
 * The `Store` (../store.ts) of `karb controller`: the API server is the store. Services are the
 * InferenceService resources, read from a watch cache; revisions are ControllerRevisions owned by
 * their service; status, the rollout and the autoscaler's record live in the resource's status;
 * events are Kubernetes Events. Reads never leave the process. The Store is synchronous, so
 * writes take effect here at once and reach the API server behind (write-behind.ts), coalesced
 * per object: a pass that changes nothing writes nothing.
 *
 * Specs the CRD admits but karb refuses are not services here; `refused()` lists them with the
 * errors that say how to fix them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { KubernetesObject, ListWatch } from '@kubernetes/client-node';
import {
  API_VERSION,
  KIND,
  canonicalJson,
  revisionHash,
  revisionName,
  revisionTemplateOf,
  validateInferenceService,
  type FieldError,
  type InferenceService,
  type InferenceServiceStatus,
} from '../../api/index.ts';
import type { KubeClient, ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { LABEL_SERVICE, MANAGED_BY, revisionLabels, selectorText } from '../../runtime/kubernetes/labels.ts';
import { LabelIndex } from '../../runtime/kubernetes/label-index.ts';
import { CONTROLLER_REVISIONS, INFERENCE_SERVICES } from '../../runtime/kubernetes/resources.ts';
import { ownerReference } from '../../runtime/kubernetes/objects.ts';
import { microTime } from '../../runtime/kubernetes/micro-time.ts';
import type { Clock } from '../../util/clock.ts';
import type { ApplyResult, AutoscalerRecord, EventRecord, RevisionRecord, Store, StoredService } from '../store.ts';
import { fromResourceStatus, toResourceStatus, type ControllerState } from './resource-status.ts';
import { WriteBehind } from '../../runtime/kubernetes/write-behind.ts';

export interface InferenceServiceObject extends ObjectLike {
  metadata: ObjectLike['metadata'] & { uid?: string; generation?: number; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: string; deletionTimestamp?: string; finalizers?: string[] };
  spec?: unknown;
  status?: Record<string, unknown>;
}

interface ControllerRevisionObject extends ObjectLike {
  metadata: ObjectLike['metadata'] & { labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: string; deletionTimestamp?: string };
  revision: number;
  data: { hash: string; template: RevisionRecord['template'] };
}

export interface KubernetesStoreOptions {
  client: KubeClient;
  /** Watch one namespace only; all by default. */
  namespace?: string;
  clock: Clock;
  /** This controller's name in the Events it writes (its pod's name). */
  instance: string;
  log?: (record: Record<string, unknown>) => void;
  /** Events kept for `listEvents` (the API server keeps its own for an hour). */
  eventHistory?: number;
  /** What karb refuses beyond the schema (admission.ts); a refused spec is no service here. */
  admit?: (svc: InferenceService) => FieldError[];
}

export const REPORTING_CONTROLLER = 'karb.dev/controller';

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class KubernetesStore implements Store {
  readonly #o: KubernetesStoreOptions;
  readonly #services: ListWatch<InferenceServiceObject & KubernetesObject>;
  readonly #revisions: ListWatch<ControllerRevisionObject & KubernetesObject>;
  readonly #revisionsByService: LabelIndex<ControllerRevisionObject & KubernetesObject>;
  readonly #writes: WriteBehind;
  /** The reconciler's status and the controller's state as this process last set them (karb is their only writer). */
  readonly #status = new Map<string, InferenceServiceStatus>();
  /** The canonical JSON of each status in #status: a pass compares every service's status, and most are unchanged. */
  readonly #statusJson = new Map<string, string>();
  /** Revision hashes by spec object: the specs of the watch cache are parsed once per generation, and hashed once. */
  readonly #hashes = new WeakMap<InferenceService['spec'], string>();
  readonly #state = new Map<string, ControllerState>();
  /** The resource status as last written, for the derived conditions' transition times. */
  readonly #written = new Map<string, Record<string, unknown>>();
  /** Revisions created here and not yet seen in the watch (by service, then name); and revisions deleted here and still seen. */
  readonly #createdRevisions = new Map<string, Map<string, RevisionRecord>>();
  readonly #deletedRevisions = new Set<string>();
  /** Parsed specs by uid and generation: a spec is validated once per change. */
  readonly #parsed = new Map<string, { generation: number; result: { ok: true; value: InferenceService } | { ok: false; errors: FieldError[] } }>();
  /** Services applied here, read back as written until the watch shows them (read-your-writes). */
  readonly #pending = new Map<string, StoredService>();
  /** Services deleted here and still in the watch cache. */
  readonly #deleted = new Set<string>();
  /** The API server's uid of a service applied here, from its answer. */
  readonly #uids = new Map<string, string>();
  /** The highest revision number each service has had, so pruned numbers are never reused. */
  readonly #highest = new Map<string, number>();
  readonly #events: EventRecord[] = [];
  readonly #listeners = new Set<(event: EventRecord) => void>();
  #nextEventId = 1;

  private constructor(options: KubernetesStoreOptions) {
    this.#o = options;
    this.#writes = new WriteBehind({ ...(options.log ? { log: options.log } : {}) });
    const scope = options.namespace ? { namespace: options.namespace } : {};
    this.#services = options.client.informer<InferenceServiceObject>(INFERENCE_SERVICES, scope);
    this.#revisions = options.client.informer<ControllerRevisionObject>(CONTROLLER_REVISIONS, { ...scope, labelSelector: selectorText(MANAGED_BY) });
    this.#revisionsByService = new LabelIndex(this.#revisions, LABEL_SERVICE);
    this.#services.on('delete', (obj) => this.#forget(obj.metadata.namespace!, obj.metadata.name!, obj.metadata.uid));
  }

  /** Starts the watches and resolves once both caches hold a full list. */
  static async start(options: KubernetesStoreOptions): Promise<KubernetesStore> {
    const store = new KubernetesStore(options);
    await Promise.all([store.#services.start(), store.#revisions.start()]);
    return store;
  }

  /**
   * Calls `listener` when a service is added or deleted, or changes anything but its status. The
   * status is karb's alone, so its own writes echoing back through the watch ask for no pass.
   */
  onChange(listener: () => void): void {
    const seen = new Map<string, string>();
    const changed = (obj: InferenceServiceObject): boolean => {
      const k = key(obj.metadata.namespace!, obj.metadata.name);
      const { uid, generation, labels, annotations, deletionTimestamp, finalizers } = obj.metadata;
      const fingerprint = canonicalJson({ uid, generation, labels, annotations, deletionTimestamp, finalizers });
      if (seen.get(k) === fingerprint) return false;
      seen.set(k, fingerprint);
      return true;
    };
    this.#services.on('add', (obj) => void (changed(obj) && listener()));
    this.#services.on('update', (obj) => void (changed(obj) && listener()));
    this.#services.on('delete', (obj) => {
      seen.delete(key(obj.metadata.namespace!, obj.metadata.name));
      listener();
    });
  }

  /** Resolves once every write made so far has reached the API server (or was dropped). */
  flush(): Promise<void> {
    return this.#writes.flush();
  }

  /** Resources whose spec karb refuses, with the errors to show in their status. */
  refused(): Array<{ object: InferenceServiceObject; errors: FieldError[] }> {
    const out: Array<{ object: InferenceServiceObject; errors: FieldError[] }> = [];
    for (const obj of this.#live()) {
      const parsed = this.#parse(obj);
      if (!parsed.ok) out.push({ object: obj, errors: parsed.errors });
    }
    return out;
  }

  /** Whether the service exists and karb refuses its current spec. */
  isRefused(namespace: string, name: string): boolean {
    const obj = this.#services.get(name, namespace);
    return obj !== undefined && !obj.metadata.deletionTimestamp && !this.#parse(obj).ok;
  }

  /** The live resource of a service (uid, finalizers, deletion), from the watch cache. */
  resource(namespace: string, name: string): InferenceServiceObject | undefined {
    return this.#services.get(name, namespace);
  }

  // ---- services ----

  /**
   * Writes a service the way `kubectl apply` does (server-side apply of its spec), and reads it
   * back at once as the embedded store would: the next generation when the spec changed, the next
   * revision when its model or resources did. What the watch later reports (the API server's uid
   * and times) replaces the prediction once it has caught up with that generation.
   */
  apply(svc: InferenceService): ApplyResult {
    const { namespace, name } = svc.metadata;
    const k = key(namespace, name);
    const before = this.getService(namespace, name);
    const changed = before === undefined || canonicalJson(before.spec) !== canonicalJson(svc.spec);
    const service: StoredService = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: {
        name,
        namespace,
        uid: before?.metadata.uid || randomUUID(),
        generation: before === undefined ? 1 : before.metadata.generation + (changed ? 1 : 0),
        labels: svc.metadata.labels,
        annotations: svc.metadata.annotations,
        creationTimestamp: before?.metadata.creationTimestamp || this.#isoNow(),
      },
      spec: svc.spec,
      status: before?.status ?? {},
    };
    this.#pending.set(k, service);
    this.#deleted.delete(k);
    const body = { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace, labels: svc.metadata.labels, annotations: svc.metadata.annotations }, spec: svc.spec };
    this.#writes.schedule(`spec:${k}`, k, async () => {
      const written = await this.#o.client.apply(body);
      const uid = (written.metadata as { uid?: string }).uid;
      if (uid) this.#uids.set(k, uid);
    });
    const newRevision = this.#nextRevision(service);
    return { service, created: before === undefined, changed, ...(newRevision ? { newRevision } : {}) };
  }

  getService(namespace: string, name: string): StoredService | undefined {
    const k = key(namespace, name);
    if (this.#deleted.has(k)) return undefined;
    const obj = this.#services.get(name, namespace);
    const pending = this.#pending.get(k);
    if (pending) {
      // The watch has caught up once it shows this generation of this spec.
      const caughtUp = obj !== undefined && (obj.metadata.generation ?? 0) >= pending.metadata.generation && this.#parse(obj).ok;
      if (!caughtUp) return { ...pending, status: this.#currentStatus(k) };
      this.#pending.delete(k);
    }
    return obj && !obj.metadata.deletionTimestamp ? this.#stored(obj) : undefined;
  }

  findByName(name: string): StoredService[] {
    return this.listServices().filter((s) => s.metadata.name === name);
  }

  listServices(namespace?: string): StoredService[] {
    const keys = new Set<string>();
    for (const obj of this.#services.list(namespace)) keys.add(key(obj.metadata.namespace!, obj.metadata.name));
    for (const s of this.#pending.values()) if (namespace === undefined || s.metadata.namespace === namespace) keys.add(key(s.metadata.namespace, s.metadata.name));
    const out: StoredService[] = [];
    for (const k of keys) {
      const slash = k.indexOf('/');
      const s = this.getService(k.slice(0, slash), k.slice(slash + 1));
      if (s) out.push(s);
    }
    return out.sort((a, b) => (a.metadata.namespace === b.metadata.namespace ? cmp(a.metadata.name, b.metadata.name) : cmp(a.metadata.namespace, b.metadata.namespace)));
  }

  setStatus(namespace: string, name: string, status: InferenceServiceStatus): boolean {
    const k = key(namespace, name);
    if (!this.getService(namespace, name)) return false;
    const json = canonicalJson(status);
    if ((this.#statusJson.get(k) ?? canonicalJson(this.#currentStatus(k))) === json) return false;
    this.#status.set(k, status);
    this.#statusJson.set(k, json);
    this.#writeStatus(namespace, name);
    return true;
  }

  /** Deletes the service; the API server's garbage collector takes its revisions and everything else it owns. */
  deleteService(namespace: string, name: string): boolean {
    const k = key(namespace, name);
    if (!this.getService(namespace, name)) return false;
    const uid = this.#services.get(name, namespace)?.metadata.uid;
    this.#forget(namespace, name, uid);
    this.#deleted.add(k);
    this.#writes.schedule(`spec:${k}`, k, () => this.#o.client.delete(INFERENCE_SERVICES, namespace, name));
    return true;
  }

  // ---- revisions ----

  listRevisions(namespace: string, service: string): RevisionRecord[] {
    const sk = key(namespace, service);
    if (this.#deleted.has(sk)) return [];
    const byName = new Map<string, RevisionRecord>();
    const created = this.#createdRevisions.get(sk);
    for (const obj of this.#revisionsByService.list(namespace, service)) {
      if (obj.metadata.deletionTimestamp || this.#deletedRevisions.has(key(namespace, obj.metadata.name))) continue;
      byName.set(obj.metadata.name, toRevision(obj, namespace, service));
      created?.delete(obj.metadata.name);
    }
    if (created?.size === 0) this.#createdRevisions.delete(sk);
    for (const r of created?.values() ?? []) if (!byName.has(r.name)) byName.set(r.name, r);
    return [...byName.values()].sort((a, b) => a.number - b.number);
  }

  /**
   * Makes the next revision of every service whose model or resources changed since its latest
   * one (`apply` does it for the service it writes); returns the revisions made.
   */
  syncRevisions(): RevisionRecord[] {
    const made: RevisionRecord[] = [];
    for (const service of this.listServices()) {
      const record = this.#nextRevision(service);
      if (record) made.push(record);
    }
    return made;
  }

  /** The service's next revision as a ControllerRevision it owns, when its template changed; else undefined. */
  #nextRevision(service: StoredService): RevisionRecord | undefined {
    const { namespace, name } = service.metadata;
    const k = key(namespace, name);
    const revisions = this.listRevisions(namespace, name);
    const latest = revisions[revisions.length - 1];
    const hash = this.#revisionHash(service.spec);
    if (latest?.hash === hash) return undefined;
    // Numbers are never reused: past the highest number this store has seen for the service.
    const number = Math.max(latest?.number ?? 0, this.#highest.get(k) ?? 0) + 1;
    this.#highest.set(k, number);
    const record: RevisionRecord = { name: revisionName(name, number), namespace, service: name, number, hash, template: revisionTemplateOf(service.spec), createdAt: this.#isoNow() };
    if (!this.#createdRevisions.has(k)) this.#createdRevisions.set(k, new Map());
    this.#createdRevisions.get(k)!.set(record.name, record);
    this.#writes.schedule(`revision:${key(namespace, record.name)}`, k, () => {
      // Written after the service's own apply (a service's writes go in order), so its uid is known by now.
      const uid = this.#services.get(name, namespace)?.metadata.uid ?? this.#uids.get(k) ?? service.metadata.uid;
      const body: ControllerRevisionObject = {
        apiVersion: 'apps/v1',
        kind: 'ControllerRevision',
        metadata: { name: record.name, namespace, labels: revisionLabels(name, record.name, service.metadata.labels), ownerReferences: [ownerReference(name, uid)] },
        revision: number,
        data: { hash, template: record.template },
      };
      return this.#o.client.create(body);
    });
    return record;
  }

  deleteRevision(namespace: string, name: string): void {
    const k = key(namespace, name);
    let service = this.#revisions.get(name, namespace)?.metadata.labels?.[LABEL_SERVICE];
    for (const created of this.#createdRevisions.values()) {
      const record = created.get(name);
      if (record?.namespace !== namespace) continue;
      service = record.service;
      created.delete(name);
    }
    this.#deletedRevisions.add(k);
    // In its service's lane, after that revision's creation; a revision of no known service gets a lane of its own.
    this.#writes.schedule(`revision:${k}`, service === undefined ? k : key(namespace, service), async () => {
      await this.#o.client.delete(CONTROLLER_REVISIONS, namespace, name);
      this.#deletedRevisions.delete(k);
    });
  }

  pruneRevisions(namespace: string, service: string, limit: number, keep: ReadonlySet<string>): string[] {
    const revisions = this.listRevisions(namespace, service);
    const latest = revisions[revisions.length - 1];
    const others = revisions.filter((r) => r !== latest && !keep.has(r.name));
    const doomed = others.slice(0, Math.max(0, others.length - limit)).map((r) => r.name);
    for (const name of doomed) this.deleteRevision(namespace, name);
    return doomed;
  }

  // ---- autoscaler and rollout: in status ----

  getAutoscaler(namespace: string, service: string): AutoscalerRecord | undefined {
    return this.#currentState(key(namespace, service)).autoscaler;
  }

  /**
   * The loop records a decision every period, with its time and the decider's running state. Only
   * a decision people see change (count, reason, message, panic) is written; the rest rides along
   * with the next write, so a restart resumes from the last visible decision's state.
   */
  setAutoscaler(namespace: string, service: string, record: AutoscalerRecord): void {
    const k = key(namespace, service);
    const state = this.#currentState(k);
    this.#state.set(k, { ...state, autoscaler: record });
    if (canonicalJson(visible(state.autoscaler)) !== canonicalJson(visible(record))) this.#writeStatus(namespace, service);
  }

  getRollout<T>(namespace: string, service: string): T | undefined {
    return this.#currentState(key(namespace, service)).rollout as T | undefined;
  }

  setRollout(namespace: string, service: string, record: unknown): boolean {
    const k = key(namespace, service);
    const state = this.#currentState(k);
    if (canonicalJson(state.rollout) === canonicalJson(record)) return false;
    this.#state.set(k, { ...state, rollout: record });
    this.#writeStatus(namespace, service);
    return true;
  }

  // ---- events ----

  addEvent(event: Omit<EventRecord, 'id' | 'time'> & { time?: string }): EventRecord {
    const record: EventRecord = { ...event, id: this.#nextEventId++, time: event.time ?? this.#isoNow() };
    this.#events.push(record);
    const limit = this.#o.eventHistory ?? 1000;
    if (this.#events.length > limit) this.#events.splice(0, this.#events.length - limit);
    for (const listener of this.#listeners) listener(record);
    const owner = this.#services.get(event.service, event.namespace);
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${event.service}.${randomBytes(8).toString('hex')}`, namespace: event.namespace },
      eventTime: microTime(record.time),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.#o.instance,
      action: event.reason,
      reason: event.reason,
      type: event.type,
      note: event.message.slice(0, 1024),
      regarding: { apiVersion: API_VERSION, kind: KIND, namespace: event.namespace, name: event.service, ...(owner?.metadata.uid ? { uid: owner.metadata.uid } : {}) },
      ...(event.revision ? { related: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: event.namespace, name: event.revision } } : {}),
    };
    this.#writes.schedule(`event:${record.id}`, key(event.namespace, event.service), () => this.#o.client.create(body));
    return record;
  }

  subscribe(listener: (event: EventRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  listEvents(afterId = 0, limit = 1000): EventRecord[] {
    return this.#events.filter((e) => e.id > afterId).slice(0, limit);
  }

  close(): void {
    void this.#services.stop();
    void this.#revisions.stop();
    this.#writes.close();
  }

  // ---- internals ----

  #live(namespace?: string): InferenceServiceObject[] {
    return this.#services.list(namespace).filter((o) => !o.metadata.deletionTimestamp) as InferenceServiceObject[];
  }

  #parse(obj: InferenceServiceObject) {
    const uid = obj.metadata.uid ?? key(obj.metadata.namespace!, obj.metadata.name);
    const generation = obj.metadata.generation ?? 0;
    const cached = this.#parsed.get(uid);
    if (cached && cached.generation === generation) return cached.result;
    const { name, namespace, labels, annotations } = obj.metadata;
    let result = validateInferenceService({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name, namespace, labels: labels ?? {}, annotations: annotations ?? {} }, spec: obj.spec });
    if (result.ok && this.#o.admit) {
      const errors = this.#o.admit(result.value);
      if (errors.length > 0) result = { ok: false, errors };
    }
    this.#parsed.set(uid, { generation, result });
    return result;
  }

  #stored(obj: InferenceServiceObject): StoredService | undefined {
    const parsed = this.#parse(obj);
    if (!parsed.ok) return undefined;
    const { namespace, name } = obj.metadata;
    const m = obj.metadata;
    return {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name, namespace: namespace!, uid: m.uid ?? '', generation: m.generation ?? 1, labels: m.labels ?? {}, annotations: m.annotations ?? {}, creationTimestamp: m.creationTimestamp ?? '' },
      spec: parsed.value.spec,
      status: this.#currentStatus(key(namespace!, name)),
    };
  }

  #currentStatus(k: string): InferenceServiceStatus {
    const mine = this.#status.get(k);
    if (mine) return mine;
    const [namespace, name] = k.split('/') as [string, string];
    return fromResourceStatus(this.#services.get(name, namespace)?.status).status;
  }

  #currentState(k: string): ControllerState {
    const mine = this.#state.get(k);
    if (mine) return mine;
    const [namespace, name] = k.split('/') as [string, string];
    return fromResourceStatus(this.#services.get(name, namespace)?.status).state;
  }

  #writeStatus(namespace: string, name: string): void {
    const k = key(namespace, name);
    this.#writes.schedule(`status:${k}`, k, async () => {
      const obj = this.#services.get(name, namespace);
      if (!obj) return;
      const previous = this.#written.get(k) ?? obj.status;
      const status = toResourceStatus(this.#currentStatus(k), this.#currentState(k), obj.metadata.generation ?? 1, previous, new Date(this.#o.clock.now()));
      // Only karb writes status: sending the whole of it, forced, makes it exactly this.
      await this.#o.client.apply({ apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status }, { subresource: 'status' });
      this.#written.set(k, status);
    });
  }

  #forget(namespace: string, name: string, uid: string | undefined): void {
    const k = key(namespace, name);
    this.#pending.delete(k);
    this.#deleted.delete(k);
    this.#uids.delete(k);
    this.#highest.delete(k);
    this.#status.delete(k);
    this.#statusJson.delete(k);
    this.#state.delete(k);
    this.#written.delete(k);
    if (uid) this.#parsed.delete(uid);
    this.#createdRevisions.delete(k);
  }

  #revisionHash(spec: InferenceService['spec']): string {
    let hash = this.#hashes.get(spec);
    if (hash === undefined) this.#hashes.set(spec, (hash = revisionHash(spec)));
    return hash;
  }

  #isoNow(): string {
    return new Date(this.#o.clock.now()).toISOString();
  }
}

function visible(record: AutoscalerRecord | undefined): unknown {
  return record && { desiredReplicas: record.desiredReplicas, reason: record.reason, message: record.message, panic: record.panic };
}

function toRevision(obj: ControllerRevisionObject, namespace: string, service: string): RevisionRecord {
  return { name: obj.metadata.name, namespace, service, number: obj.revision, hash: obj.data.hash, template: obj.data.template, createdAt: obj.metadata.creationTimestamp ?? '' };
}


function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
