/**
 * The control plane's audit log, in its SQLite database (table `audit_log`): one record for each
 * `/api/v1` call that changes something (any method but GET and HEAD) and each refused one (401,
 * 403). A record holds the time, who called (a token's name, `admin`, or `anonymous`) with their
 * role, the method, the path (never its query string), the service or other target the path
 * names, and the HTTP status — never a token and never a request body. Gateways' signal reports
 * and activations are telemetry and are recorded only when refused. Bounded: the newest AUDIT_KEEP
 * changes and, apart, the newest AUDIT_KEEP refusals are kept, so refused calls (which anyone can
 * send) never push a change out; a target that would decode to control characters is kept as sent.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { openStateDatabase } from '../state-db.ts';
import { systemClock, type Clock } from '../../util/clock.ts';
import type { Role } from './roles.ts';

export const AUDIT_KEEP = 10_000;

const SCHEMA = `
create table if not exists audit_log (
  id integer primary key autoincrement,
  at text not null,
  actor text not null,
  role text,
  method text not null,
  path text not null,
  target text,
  outcome integer not null
);
`;

export interface AuditEntry {
  actor: string;
  /** Null when the caller could not be named (no token, or one karb does not know). */
  role: Role | null;
  method: string;
  path: string;
  target: string | null;
  /** The HTTP status of the answer. */
  outcome: number;
}

export interface AuditRecord extends AuditEntry {
  id: number;
  time: string;
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  role: string | null;
  method: string;
  path: string;
  target: string | null;
  outcome: number;
}

export class AuditLog {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #keep: number;
  readonly #insert: StatementSync;
  readonly #trim: StatementSync;
  readonly #newest: StatementSync;

  /** `keep`: records kept (default AUDIT_KEEP); tests pass fewer. */
  constructor(path: string, options: { clock?: Clock; keep?: number } = {}) {
    // No fsync per record: refused calls are recorded too, and a flood of them must not cost the disk a sync each.
    this.#db = openStateDatabase(path, SCHEMA, { synchronous: 'normal' });
    this.#clock = options.clock ?? systemClock;
    this.#keep = options.keep ?? AUDIT_KEEP;
    this.#insert = this.#db.prepare('insert into audit_log (at, actor, role, method, path, target, outcome) values (?, ?, ?, ?, ?, ?, ?)');
    // Refusals (401, 403) and changes are kept and trimmed apart, so a flood of refused calls,
    // which anyone can send, never pushes a change out of the log.
    this.#trim = this.#db.prepare(
      'delete from audit_log where (outcome in (401, 403)) = ? and id <= (select id from audit_log where (outcome in (401, 403)) = ? order by id desc limit 1 offset ?)',
    );
    this.#newest = this.#db.prepare('select * from audit_log order by id desc limit ?');
  }

  get keep(): number {
    return this.#keep;
  }

  record(entry: AuditEntry): void {
    this.#insert.run(new Date(this.#clock.now()).toISOString(), entry.actor, entry.role, entry.method, entry.path, entry.target, entry.outcome);
    const refused = entry.outcome === 401 || entry.outcome === 403 ? 1 : 0;
    this.#trim.run(refused, refused, this.#keep);
  }

  /** The newest `limit` records, newest first. */
  list(limit: number): AuditRecord[] {
    return (this.#newest.all(limit) as unknown as AuditRow[]).map((r) => ({
      id: r.id,
      time: r.at,
      actor: r.actor,
      role: r.role as Role | null,
      method: r.method,
      path: r.path,
      target: r.target,
      outcome: r.outcome,
    }));
  }

  close(): void {
    this.#db.close();
  }
}

/** Longer path segments are not a name karb gave: they are left out, as anything shaped like a credential. */
const MAX_SEGMENT = 100;

/**
 * A request's path as the log keeps it: no query string, and any segment that could be a
 * credential (one holding `karb_`, or longer than any name karb gives) replaced by `{redacted}`,
 * so a key pasted into a URL by mistake is not written down.
 */
export function auditPath(pathname: string): string {
  return pathname.split('/').map((s) => (isCredentialLike(s) ? '{redacted}' : s)).join('/').slice(0, 512);
}

/**
 * A path segment as a record's target (decoded); `{redacted}` when it could be a credential, and
 * as sent (percent-encoded) when decoding would give control characters, which could forge a row
 * or reach an admin's terminal.
 */
export function auditTarget(segment: string): string {
  if (isCredentialLike(segment)) return '{redacted}';
  const decoded = decode(segment);
  return /^[\x20-\x7e\u00a0-\uffff]*$/.test(decoded) && !/[\u2028\u2029]/.test(decoded) ? decoded : segment;
}

function isCredentialLike(segment: string): boolean {
  const decoded = decode(segment);
  return decoded.toLowerCase().includes('karb_') || decoded.length > MAX_SEGMENT;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // Not valid percent-encoding: kept as it came.
    return segment;
  }
}
