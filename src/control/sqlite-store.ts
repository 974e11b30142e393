/**
 * The embedded control plane's `Store` (store.ts) in SQLite (`node:sqlite`):
 * services (spec, generation, status), their immutable revisions, events,
 * rollouts and autoscaler records. Writes that belong together (a spec and the
 * revision it creates) share one transaction, so a crash leaves either both or
 * neither. Timestamps come from the injected clock.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { openStateDatabase } from './state-db.ts';
import { randomUUID } from 'node:crypto';
import { canonicalJson, revisionHash, revisionName, revisionTemplateOf, type InferenceService, type InferenceServiceStatus } from '../api/index.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import type { ApplyResult, AutoscalerRecord, EventRecord, RevisionRecord, Store, StoredService } from './store.ts';

const SCHEMA = `
create table if not exists services (
  namespace text not null,
  name text not null,
  uid text not null,
  generation integer not null,
  labels text not null,
  annotations text not null,
  spec text not null,
  status text not null,
  created_at text not null,
  primary key (namespace, name)
);
create table if not exists revisions (
  namespace text not null,
  service text not null,
  name text not null,
  number integer not null,
  hash text not null,
  template text not null,
  created_at text not null,
  primary key (namespace, name)
);
create index if not exists revisions_by_service on revisions (namespace, service, number);
create table if not exists events (
  id integer primary key autoincrement,
  time text not null,
  type text not null,
  reason text not null,
  message text not null,
  namespace text not null,
  service text not null,
  revision text,
  replica text
);
create table if not exists rollouts (
  namespace text not null,
  service text not null,
  record text not null,
  primary key (namespace, service)
);
create table if not exists autoscalers (
  namespace text not null,
  service text not null,
  record text not null,
  primary key (namespace, service)
);
`;

interface ServiceRow {
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  labels: string;
  annotations: string;
  spec: string;
  status: string;
  created_at: string;
}

interface RevisionRow {
  namespace: string;
  service: string;
  name: string;
  number: number;
  hash: string;
  template: string;
  created_at: string;
}

/** How many events are kept; older ones are pruned as new ones arrive. */
const EVENT_RETENTION = 5000;

export interface SqliteStoreOptions {
  /** Where creation and event timestamps come from; the platform passes the system clock, tests a manual one. */
  clock?: Clock;
}

export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #stmts: Record<string, StatementSync>;
  readonly #listeners = new Set<(event: EventRecord) => void>();

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.#db = openStateDatabase(path, SCHEMA, { synchronous: 'normal' });
    this.#clock = options.clock ?? systemClock;
    const p = (sql: string) => this.#db.prepare(sql);
    this.#stmts = {
      getService: p('select * from services where namespace = ? and name = ?'),
      findByName: p('select * from services where name = ?'),
      listAll: p('select * from services order by namespace, name'),
      listNs: p('select * from services where namespace = ? order by name'),
      insertService: p('insert into services values (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      updateService: p('update services set generation = ?, labels = ?, annotations = ?, spec = ? where namespace = ? and name = ?'),
      updateStatus: p('update services set status = ? where namespace = ? and name = ?'),
      deleteService: p('delete from services where namespace = ? and name = ?'),
      latestRevision: p('select * from revisions where namespace = ? and service = ? order by number desc limit 1'),
      listRevisions: p('select * from revisions where namespace = ? and service = ? order by number'),
      insertRevision: p('insert into revisions values (?, ?, ?, ?, ?, ?, ?)'),
      deleteRevision: p('delete from revisions where namespace = ? and name = ?'),
      deleteRevisions: p('delete from revisions where namespace = ? and service = ?'),
      insertEvent: p('insert into events (time, type, reason, message, namespace, service, revision, replica) values (?, ?, ?, ?, ?, ?, ?, ?)'),
      listEvents: p('select * from events where id > ? order by id limit ?'),
      pruneEvents: p('delete from events where id <= ?'),
      getAutoscaler: p('select record from autoscalers where namespace = ? and service = ?'),
      putAutoscaler: p('insert into autoscalers values (?, ?, ?) on conflict (namespace, service) do update set record = excluded.record'),
      deleteAutoscaler: p('delete from autoscalers where namespace = ? and service = ?'),
      getRollout: p('select record from rollouts where namespace = ? and service = ?'),
      putRollout: p('insert into rollouts values (?, ?, ?) on conflict (namespace, service) do update set record = excluded.record'),
      deleteRollout: p('delete from rollouts where namespace = ? and service = ?'),
    };
  }

  close(): void {
    this.#db.close();
  }

  #isoNow(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  #transaction<T>(fn: () => T): T {
    this.#db.exec('begin immediate');
    try {
      const result = fn();
      this.#db.exec('commit');
      return result;
    } catch (err) {
      this.#db.exec('rollback');
      throw err;
    }
  }

  /**
   * Creates or updates a service. A changed spec bumps the generation; a changed
   * model or resources also creates the next revision.
   */
  apply(svc: InferenceService): ApplyResult {
    return this.#transaction(() => {
      const { namespace, name } = svc.metadata;
      const row = this.#stmts.getService!.get(namespace, name) as ServiceRow | undefined;
      const specJson = canonicalJson(svc.spec);
      const labels = JSON.stringify(svc.metadata.labels);
      const annotations = JSON.stringify(svc.metadata.annotations);
      let created = false;
      let changed = false;
      if (!row) {
        created = changed = true;
        this.#stmts.insertService!.run(namespace, name, randomUUID(), 1, labels, annotations, specJson, '{}', this.#isoNow());
      } else {
        changed = canonicalJson(JSON.parse(row.spec)) !== specJson;
        const generation = changed ? row.generation + 1 : row.generation;
        this.#stmts.updateService!.run(generation, labels, annotations, specJson, namespace, name);
      }
      const hash = revisionHash(svc.spec);
      const latest = this.#stmts.latestRevision!.get(namespace, name) as RevisionRow | undefined;
      let newRevision: RevisionRecord | undefined;
      if (!latest || latest.hash !== hash) {
        const number = (latest?.number ?? 0) + 1;
        const rev: RevisionRow = {
          namespace,
          service: name,
          name: revisionName(name, number),
          number,
          hash,
          template: JSON.stringify(revisionTemplateOf(svc.spec)),
          created_at: this.#isoNow(),
        };
        this.#stmts.insertRevision!.run(rev.namespace, rev.service, rev.name, rev.number, rev.hash, rev.template, rev.created_at);
        newRevision = toRevision(rev);
      }
      return { service: this.getService(namespace, name)!, created, changed, newRevision };
    });
  }

  getService(namespace: string, name: string): StoredService | undefined {
    const row = this.#stmts.getService!.get(namespace, name) as ServiceRow | undefined;
    return row ? toService(row) : undefined;
  }

  /** Services with this name in any namespace (model names are unique across namespaces in embedded mode). */
  findByName(name: string): StoredService[] {
    return (this.#stmts.findByName!.all(name) as unknown as ServiceRow[]).map(toService);
  }

  listServices(namespace?: string): StoredService[] {
    const rows = namespace ? this.#stmts.listNs!.all(namespace) : this.#stmts.listAll!.all();
    return (rows as unknown as ServiceRow[]).map(toService);
  }

  /** Writes status only when it differs; returns whether anything was written. */
  setStatus(namespace: string, name: string, status: InferenceServiceStatus): boolean {
    const row = this.#stmts.getService!.get(namespace, name) as ServiceRow | undefined;
    if (!row) return false;
    const next = canonicalJson(status);
    if (canonicalJson(JSON.parse(row.status)) === next) return false;
    this.#stmts.updateStatus!.run(next, namespace, name);
    return true;
  }

  deleteService(namespace: string, name: string): boolean {
    return this.#transaction(() => {
      const result = this.#stmts.deleteService!.run(namespace, name);
      this.#stmts.deleteRevisions!.run(namespace, name);
      this.#stmts.deleteAutoscaler!.run(namespace, name);
      this.#stmts.deleteRollout!.run(namespace, name);
      return Number(result.changes) > 0;
    });
  }

  getAutoscaler(namespace: string, service: string): AutoscalerRecord | undefined {
    const row = this.#stmts.getAutoscaler!.get(namespace, service) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as AutoscalerRecord) : undefined;
  }

  setAutoscaler(namespace: string, service: string, record: AutoscalerRecord): void {
    this.#stmts.putAutoscaler!.run(namespace, service, JSON.stringify(record));
  }

  /** The service's current or last rollout (plain JSON, see src/rollout/types.ts). */
  getRollout<T>(namespace: string, service: string): T | undefined {
    const row = this.#stmts.getRollout!.get(namespace, service) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as T) : undefined;
  }

  /** Writes the rollout only when it differs; returns whether anything was written. */
  setRollout(namespace: string, service: string, record: unknown): boolean {
    const next = canonicalJson(record);
    const row = this.#stmts.getRollout!.get(namespace, service) as { record: string } | undefined;
    if (row && canonicalJson(JSON.parse(row.record)) === next) return false;
    this.#stmts.putRollout!.run(namespace, service, next);
    return true;
  }

  /**
   * Keeps the latest revision, those in `keep` (running or serving) and the
   * `limit` newest others; deletes the rest, oldest first, and returns their names.
   */
  pruneRevisions(namespace: string, service: string, limit: number, keep: ReadonlySet<string>): string[] {
    const revisions = this.listRevisions(namespace, service);
    const latest = revisions[revisions.length - 1]?.name;
    const history = revisions.filter((r) => !keep.has(r.name) && r.name !== latest);
    const deleted = history.slice(0, Math.max(0, history.length - limit)).map((r) => r.name);
    for (const name of deleted) this.#stmts.deleteRevision!.run(namespace, name);
    return deleted;
  }

  listRevisions(namespace: string, service: string): RevisionRecord[] {
    return (this.#stmts.listRevisions!.all(namespace, service) as unknown as RevisionRow[]).map(toRevision);
  }

  deleteRevision(namespace: string, name: string): void {
    this.#stmts.deleteRevision!.run(namespace, name);
  }

  addEvent(event: Omit<EventRecord, 'id' | 'time'> & { time?: string }): EventRecord {
    const time = event.time ?? this.#isoNow();
    const result = this.#stmts.insertEvent!.run(
      time,
      event.type,
      event.reason,
      event.message,
      event.namespace,
      event.service,
      event.revision ?? null,
      event.replica ?? null,
    );
    const id = Number(result.lastInsertRowid);
    if (id > EVENT_RETENTION && id % 100 === 0) this.#stmts.pruneEvents!.run(id - EVENT_RETENTION);
    const record: EventRecord = { ...event, id, time };
    for (const listener of this.#listeners) listener(record);
    return record;
  }

  /** Calls `listener` for every event added from now on; returns the unsubscribe function. */
  subscribe(listener: (event: EventRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  listEvents(afterId = 0, limit = 500): EventRecord[] {
    return (this.#stmts.listEvents!.all(afterId, limit) as Array<Record<string, unknown>>).map((r) => ({
      id: Number(r.id),
      time: String(r.time),
      type: r.type as EventRecord['type'],
      reason: String(r.reason),
      message: String(r.message),
      namespace: String(r.namespace),
      service: String(r.service),
      ...(r.revision ? { revision: String(r.revision) } : {}),
      ...(r.replica ? { replica: String(r.replica) } : {}),
    }));
  }
}

function toService(row: ServiceRow): StoredService {
  return {
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: {
      name: row.name,
      namespace: row.namespace,
      uid: row.uid,
      generation: row.generation,
      labels: JSON.parse(row.labels),
      annotations: JSON.parse(row.annotations),
      creationTimestamp: row.created_at,
    },
    spec: JSON.parse(row.spec),
    status: JSON.parse(row.status),
  };
}

function toRevision(row: RevisionRow): RevisionRecord {
  return {
    name: row.name,
    namespace: row.namespace,
    service: row.service,
    number: row.number,
    hash: row.hash,
    template: JSON.parse(row.template),
    createdAt: row.created_at,
  };
}
