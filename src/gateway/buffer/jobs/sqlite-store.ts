/**
 * The embedded job store: one SQLite file (`<stateDir>/jobs.db`, WAL) written
 * by one gateway process. Every transition is one statement (enqueue: one
 * insert after taking the owner's next list position), so a SIGKILL leaves each
 * job in exactly one state; node:sqlite is synchronous, so a cancel and the
 * worker's claim or completion of the same job cannot interleave.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Clock } from '../../../util/clock.ts';
import { newJobId } from './job-id.ts';
import { FIRST_POSITION, pageOf } from './listing.ts';
import {
  JOB_STATES,
  type CancelResult,
  type EnqueueResult,
  type Job,
  type JobListQuery,
  type JobOutcome,
  type JobPage,
  type JobState,
  type JobStore,
  type JobSummary,
  type NewJob,
  type RecoverResult,
  type TerminalJobState,
} from './types.ts';

type SummaryRow = Omit<Row, 'body' | 'result_body'>;

interface Row {
  id: string;
  owner: string;
  service: string;
  path: string;
  content_type: string;
  body: Uint8Array;
  state: string;
  result_status: number | null;
  result_content_type: string | null;
  result_body: Uint8Array | null;
  created_at: number;
  updated_at: number;
  expires_at: number;
  attempts: number;
  owner_seq: number;
}

/** The columns a listing reads: no request or result bodies. */
const SUMMARY_COLUMNS = 'id, owner, service, path, content_type, state, result_status, result_content_type, created_at, updated_at, expires_at, attempts, owner_seq';

export class SqliteJobStore implements JobStore {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #s: Record<string, StatementSync>;

  constructor(file: string, clock: Clock) {
    this.#clock = clock;
    this.#db = new DatabaseSync(file);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL,
        service TEXT NOT NULL,
        path TEXT NOT NULL,
        content_type TEXT NOT NULL,
        body BLOB NOT NULL,
        state TEXT NOT NULL,
        result_status INTEGER,
        result_content_type TEXT,
        result_body BLOB,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        ttl_ms INTEGER NOT NULL,
        not_before INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner_seq INTEGER NOT NULL DEFAULT 0
      );
      -- The last list position handed out per owner (listing.ts): kept after the owner's jobs are deleted, so positions are never reused.
      CREATE TABLE IF NOT EXISTS job_owners (owner TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID;
    `);
    addOwnerSeq(this.#db);
    this.#db.exec(`
      CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
      CREATE INDEX IF NOT EXISTS jobs_service_state ON jobs (service, state);
      CREATE UNIQUE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, owner_seq);
      CREATE INDEX IF NOT EXISTS jobs_owner_state ON jobs (owner, state, owner_seq);
    `);
    const p = (sql: string) => this.#db.prepare(sql);
    this.#s = {
      pending: p(`SELECT count(*) AS n FROM jobs WHERE service = ? AND state IN ('queued', 'running')`),
      queued: p(`SELECT count(*) AS n FROM jobs WHERE service = ? AND state = 'queued'`),
      nextOwnerSeq: p(`INSERT INTO job_owners (owner, last_seq) VALUES (?, 1)
                       ON CONFLICT (owner) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`),
      insert: p(`INSERT INTO jobs (id, owner, service, path, content_type, body, state, created_at, updated_at, expires_at, ttl_ms, owner_seq)
                 VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)`),
      list: p(`SELECT ${SUMMARY_COLUMNS} FROM jobs WHERE owner = ? AND owner_seq < ? ORDER BY owner_seq DESC LIMIT ?`),
      listState: p(`SELECT ${SUMMARY_COLUMNS} FROM jobs WHERE owner = ? AND state = ? AND owner_seq < ? ORDER BY owner_seq DESC LIMIT ?`),
      cancel: p(`UPDATE jobs SET state = 'cancelled', updated_at = ? WHERE id = ? AND owner = ? AND state IN ('queued', 'running') RETURNING *`),
      get: p(`SELECT * FROM jobs WHERE id = ?`),
      expireQueued: p(`UPDATE jobs SET state = 'expired', updated_at = ? WHERE state = 'queued' AND expires_at <= ?`),
      claim: p(`UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ?
                WHERE seq IN (SELECT seq FROM jobs WHERE state = 'queued' AND not_before <= ? ORDER BY seq LIMIT ?)
                RETURNING *`),
      complete: p(`UPDATE jobs SET state = ?, result_status = ?, result_content_type = ?, result_body = ?, updated_at = ?
                   WHERE id = ? AND state = 'running'`),
      release: p(`UPDATE jobs SET state = 'queued', not_before = ?, updated_at = ? WHERE id = ? AND state = 'running'`),
      expireRunning: p(`UPDATE jobs SET state = 'expired', updated_at = ? WHERE state = 'running' AND expires_at <= ?`),
      requeueRunning: p(`UPDATE jobs SET state = 'queued', not_before = 0, updated_at = ? WHERE state = 'running'`),
      deleteOld: p(`DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'expired', 'cancelled') AND updated_at + ttl_ms <= ?`),
      counts: p(`SELECT state, count(*) AS n FROM jobs GROUP BY state`),
    };
  }

  async enqueue(job: NewJob, maxQueued: number): Promise<EnqueueResult> {
    // One process writes this file and node:sqlite is synchronous: count and insert cannot interleave.
    const queued = Number((this.#s.pending!.get(job.service) as { n: number }).n);
    if (queued >= maxQueued) return { accepted: false, reason: 'QueueFull', queued };
    const now = this.#clock.now();
    const id = newJobId();
    // A crash between these two leaves a gap in the owner's positions: harmless, they only order.
    const ownerSeq = Number((this.#s.nextOwnerSeq!.get(job.owner) as { last_seq: number }).last_seq);
    this.#s.insert!.run(id, job.owner, job.service, job.path, job.contentType, job.body, now, now, now + job.ttlMs, job.ttlMs, ownerSeq);
    return { accepted: true, job: this.#getSync(id)! };
  }

  async list(owner: string, query: JobListQuery): Promise<JobPage> {
    const after = query.after ?? FIRST_POSITION;
    const rows = (
      query.state === undefined ? this.#s.list!.all(owner, after, query.limit + 1) : this.#s.listState!.all(owner, query.state, after, query.limit + 1)
    ) as unknown as SummaryRow[];
    return pageOf(rows.map((r) => ({ job: toSummary(r), position: Number(r.owner_seq) })), query.limit);
  }

  async cancel(id: string, owner: string): Promise<CancelResult> {
    const row = this.#s.cancel!.get(this.#clock.now(), id, owner) as Row | undefined;
    if (row !== undefined) return { outcome: 'cancelled', job: toJob(row) };
    // Not changed: missing, another owner's, or terminal (and terminal states never change again).
    const job = this.#getSync(id);
    if (job === undefined || job.owner !== owner) return { outcome: 'not-found' };
    return { outcome: 'finished', state: job.state as TerminalJobState };
  }

  async get(id: string): Promise<Job | undefined> {
    return this.#getSync(id);
  }

  async claim(limit: number): Promise<Job[]> {
    if (limit <= 0) return [];
    const now = this.#clock.now();
    this.#s.expireQueued!.run(now, now);
    const rows = this.#s.claim!.all(now, now, limit) as unknown as Array<Row & { seq: number }>;
    rows.sort((a, b) => a.seq - b.seq);
    return rows.map(toJob);
  }

  async complete(id: string, outcome: JobOutcome): Promise<boolean> {
    const r = this.#s.complete!.run(outcome.state, outcome.status, outcome.contentType, outcome.body, this.#clock.now(), id);
    return Number(r.changes) === 1;
  }

  async release(id: string, notBeforeMs: number): Promise<boolean> {
    return Number(this.#s.release!.run(notBeforeMs, this.#clock.now(), id).changes) === 1;
  }

  async recover(): Promise<RecoverResult> {
    const now = this.#clock.now();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const expired = Number(this.#s.expireRunning!.run(now, now).changes) + Number(this.#s.expireQueued!.run(now, now).changes);
      const requeued = Number(this.#s.requeueRunning!.run(now).changes);
      this.#db.exec('COMMIT');
      return { requeued, expired };
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async sweep(): Promise<{ expired: number; deleted: number }> {
    const now = this.#clock.now();
    const expired = Number(this.#s.expireQueued!.run(now, now).changes);
    const deleted = Number(this.#s.deleteOld!.run(now).changes);
    return { expired, deleted };
  }

  async counts(): Promise<Record<JobState, number>> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of this.#s.counts!.all() as Array<{ state: JobState; n: number }>) out[r.state] = Number(r.n);
    return out;
  }

  queuedCount(service: string): number {
    return Number((this.#s.queued!.get(service) as { n: number }).n);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }

  #getSync(id: string): Job | undefined {
    const row = this.#s.get!.get(id) as Row | undefined;
    return row === undefined ? undefined : toJob(row);
  }
}

/**
 * Files written before jobs could be listed lack `owner_seq`: add it, number the
 * existing jobs by their global `seq` (creation order, unique) and start each
 * owner's positions after them. One transaction, once.
 */
function addOwnerSeq(db: DatabaseSync): void {
  const columns = db.prepare(`PRAGMA table_info(jobs)`).all() as Array<{ name: string }>;
  if (columns.some((c) => c.name === 'owner_seq')) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(`
      ALTER TABLE jobs ADD COLUMN owner_seq INTEGER NOT NULL DEFAULT 0;
      UPDATE jobs SET owner_seq = seq;
      INSERT INTO job_owners (owner, last_seq) SELECT owner, max(owner_seq) FROM jobs WHERE true GROUP BY owner
        ON CONFLICT (owner) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    `);
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

function toSummary(r: SummaryRow): JobSummary {
  return {
    id: r.id,
    owner: r.owner,
    service: r.service,
    path: r.path,
    contentType: r.content_type,
    state: r.state as JobState,
    resultStatus: r.result_status === null ? null : Number(r.result_status),
    resultContentType: r.result_content_type,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    expiresAt: Number(r.expires_at),
    attempts: Number(r.attempts),
  };
}

function toJob(r: Row): Job {
  return {
    ...toSummary(r),
    body: Buffer.from(r.body),
    resultBody: r.result_body === null ? null : Buffer.from(r.result_body),
  };
}
