/**
 * The control plane's state behind one interface: services (spec, generation,
 * status), their immutable revisions, events, each service's rollout and its
 * autoscaler's last decision. The actors (reconciler, autoscaling loop,
 * rollout tracker, control API) know only this contract; the embedded platform
 * keeps it in SQLite (`sqlite-store.ts`), and `store-conformance.ts` is the
 * suite every implementation passes.
 *
 * Methods are synchronous: a pass of the reconciler, a tick of the autoscaler
 * and a rollout command each read and write without interleaving with another.
 */
import type { InferenceService, InferenceServiceSpec, InferenceServiceStatus } from '../api/index.ts';
import type { ScaleReason } from '../autoscaler/types.ts';

export interface ServiceMetadata {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  creationTimestamp: string;
}

/** A service as stored: the user's spec plus what karb writes. */
export interface StoredService {
  apiVersion: InferenceService['apiVersion'];
  kind: InferenceService['kind'];
  metadata: ServiceMetadata;
  spec: InferenceServiceSpec;
  status: InferenceServiceStatus;
}

export interface RevisionRecord {
  name: string;
  namespace: string;
  service: string;
  number: number;
  hash: string;
  template: Pick<InferenceServiceSpec, 'model' | 'resources'>;
  createdAt: string;
}

export interface EventRecord {
  id: number;
  time: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  namespace: string;
  service: string;
  revision?: string;
  replica?: string;
}

export interface ApplyResult {
  service: StoredService;
  created: boolean;
  /** The spec changed (generation was bumped). */
  changed: boolean;
  /** Set when the apply created a new revision. */
  newRevision?: RevisionRecord;
}

/** The autoscaler's last decision for a service and its decider's state, so a restart continues. */
export interface AutoscalerRecord {
  /** The replica count the reconciler runs (bounded by the spec's min and max when applied). */
  desiredReplicas: number;
  /**
   * The nodes the decider wants the service's pool to have (gascl, given the pool's capacity), when
   * its replicas will not fit the nodes there or fewer would do; absent: as many as there are. On a
   * cluster, room it asks for beyond the replicas becomes a capacity reservation.
   */
  desiredNodes?: number;
  reason: ScaleReason;
  message: string;
  panic: boolean;
  /** Milliseconds since the epoch of the decision. */
  decidedAt: number;
  /** The decider's state (plain JSON). */
  state?: Record<string, unknown>;
}

export interface Store {
  /**
   * Creates or updates a service. A changed spec bumps the generation; a changed
   * model or resources also creates the next revision, in the same write as the
   * spec (a crash leaves both or neither).
   */
  apply(svc: InferenceService): ApplyResult;
  getService(namespace: string, name: string): StoredService | undefined;
  /** Services with this name in any namespace (model names are unique across namespaces in embedded mode). */
  findByName(name: string): StoredService[];
  /** Ordered by namespace, then name. */
  listServices(namespace?: string): StoredService[];
  /** Writes status only when it differs; returns whether anything was written. */
  setStatus(namespace: string, name: string, status: InferenceServiceStatus): boolean;
  /** Deletes the service with its revisions, rollout and autoscaler record; false when there was none. */
  deleteService(namespace: string, name: string): boolean;

  /** Ordered by number, oldest first. */
  listRevisions(namespace: string, service: string): RevisionRecord[];
  deleteRevision(namespace: string, name: string): void;
  /**
   * Keeps the latest revision, those in `keep` (running or serving) and the
   * `limit` newest others; deletes the rest, oldest first, and returns their names.
   * Revision numbers are never reused.
   */
  pruneRevisions(namespace: string, service: string, limit: number, keep: ReadonlySet<string>): string[];

  getAutoscaler(namespace: string, service: string): AutoscalerRecord | undefined;
  setAutoscaler(namespace: string, service: string, record: AutoscalerRecord): void;

  /** The service's current or last rollout (plain JSON, see src/rollout/types.ts). */
  getRollout<T>(namespace: string, service: string): T | undefined;
  /** Writes the rollout only when it differs (key order aside); returns whether anything was written. */
  setRollout(namespace: string, service: string, record: unknown): boolean;

  /** Records an event with the next id (ids increase in the order events are added); `time` defaults to the store's clock. */
  addEvent(event: Omit<EventRecord, 'id' | 'time'> & { time?: string }): EventRecord;
  /** Calls `listener` for every event added from now on, in order; returns the unsubscribe function. */
  subscribe(listener: (event: EventRecord) => void): () => void;
  /** Events after `afterId`, oldest first, at most `limit`; old events may have been pruned. */
  listEvents(afterId?: number, limit?: number): EventRecord[];

  close(): void;
}
