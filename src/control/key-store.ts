/**
 * API key records in the control plane's SQLite database (table `api_keys`),
 * on a connection of their own so the service store stays unaware of keys.
 * Holds hashes only: the key itself exists once, in the answer to `create`.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { BUSY_TIMEOUT_MS, openStateDatabase } from './state-db.ts';
import { NotFoundError } from '../errors.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import { generateKey, type KeyRecord, type KeySummary } from '../gateway/edge/keys.ts';

const SCHEMA = `
create table if not exists api_keys (
  id text primary key,
  name text not null,
  namespace text not null,
  services text,
  rps real,
  burst real,
  expires_at text,
  created_at text not null,
  last_used_at text,
  revoked_at text,
  hash text not null
);
`;

interface KeyRow {
  id: string;
  name: string;
  namespace: string;
  services: string | null;
  rps: number | null;
  burst: number | null;
  expires_at: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  hash: string;
}

export interface CreateKeyInput {
  namespace: string;
  name?: string;
  services?: string[] | null;
  rps?: number | null;
  burst?: number | null;
  /** Lifetime in milliseconds from now; null or absent: never expires. */
  lifetimeMs?: number | null;
}

/** Cached lookups at most; ids are caller-chosen, so misses must not pile up without bound. */
const MAX_CACHED = 100_000;

/**
 * Key records on SQLite, with an in-memory cache of lookups (hits and misses)
 * in front of the gateway's per-request read. The cache is exact because this
 * store is the only writer of its table while karb runs (one `karb up` per
 * state directory; keys change only through its control API): `create` and
 * `revoke` update it in the same call, so a revoke takes effect on the next
 * request. Expiry needs no invalidation: it is checked against the clock.
 */
/** How long key creation and revocation wait for another writer. */

export class KeyStore {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, KeyRecord | undefined>();
  readonly #clock: Clock;
  readonly #get: StatementSync;
  readonly #list: StatementSync;
  readonly #insert: StatementSync;
  readonly #revoke: StatementSync;
  readonly #touch: StatementSync;
  readonly #count: StatementSync;

  /** `clock` stamps creation and revocation times; the platform passes the system clock, tests a manual one. */
  constructor(path: string, options: { clock?: Clock } = {}) {
    this.#db = openStateDatabase(path, SCHEMA);
    this.#clock = options.clock ?? systemClock;
    this.#get = this.#db.prepare('select * from api_keys where id = ?');
    this.#list = this.#db.prepare('select * from api_keys order by created_at, id');
    this.#insert = this.#db.prepare(
      'insert into api_keys (id, name, namespace, services, rps, burst, expires_at, created_at, hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#revoke = this.#db.prepare('update api_keys set revoked_at = ? where id = ? and revoked_at is null');
    this.#touch = this.#db.prepare('update api_keys set last_used_at = ? where id = ?');
    this.#count = this.#db.prepare('select count(*) as n from api_keys where revoked_at is null');
  }

  /** Creates a key; the returned `key` is the only time it exists in clear. */
  create(input: CreateKeyInput): { key: string; record: KeySummary } {
    const { id, key, hash } = generateKey();
    const now = new Date(this.#clock.now());
    const expiresAt = input.lifetimeMs ? new Date(now.getTime() + input.lifetimeMs).toISOString() : null;
    this.#insert.run(
      id,
      input.name ?? '',
      input.namespace,
      input.services ? JSON.stringify(input.services) : null,
      input.rps ?? null,
      input.burst ?? null,
      expiresAt,
      now.toISOString(),
      hash,
    );
    this.#cache.delete(id);
    return { key, record: summary(this.get(id)!) };
  }

  /** The full record, hash included: for the gateway's verification only. */
  get(id: string): KeyRecord | undefined {
    if (this.#cache.has(id)) return this.#cache.get(id);
    const record = this.#read(id);
    if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
    // The id arrives as a slice of the caller's Authorization header; kept as is, the cache would
    // hold the whole presented key, secret included. A copy of its bytes holds only the id.
    this.#cache.set(Buffer.from(id, 'latin1').toString('latin1'), record);
    return record;
  }

  #read(id: string): KeyRecord | undefined {
    const row = this.#get.get(id) as KeyRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  list(): KeySummary[] {
    return (this.#list.all() as unknown as KeyRow[]).map((r) => summary(fromRow(r)));
  }

  /** Revokes a key for good; revoking it again is a no-op. */
  revoke(id: string): KeySummary {
    this.#revoke.run(new Date(this.#clock.now()).toISOString(), id);
    this.#cache.delete(id);
    const record = this.get(id);
    if (record === undefined) throw new NotFoundError(`no API key with id ${id}; karb keys list shows the ids`, 'KEY_NOT_FOUND');
    return summary(record);
  }

  /**
   * Records when keys were last used, all in one transaction. It never waits
   * for another writer (the gateway calls it on its event loop): a busy
   * database throws at once, and the caller keeps the uses for its next try.
   */
  touchMany(uses: ReadonlyArray<readonly [id: string, at: Date]>): void {
    this.#db.exec(`pragma busy_timeout = 0`);
    try {
      this.#db.exec('begin immediate');
      try {
        for (const [id, at] of uses) this.#touch.run(at.toISOString(), id);
        this.#db.exec('commit');
      } catch (err) {
        this.#db.exec('rollback');
        throw err;
      }
    } finally {
      this.#db.exec(`pragma busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
    for (const [id, at] of uses) {
      const cached = this.#cache.get(id);
      if (cached !== undefined) this.#cache.set(id, { ...cached, lastUsedAt: at.toISOString() });
    }
  }

  /** Keys that are not revoked (expired ones included). */
  activeCount(): number {
    return Number((this.#count.get() as { n: number }).n);
  }

  close(): void {
    this.#db.close();
  }
}

export function summary(record: KeyRecord): KeySummary {
  const { hash: _hash, ...rest } = record;
  return rest;
}

function fromRow(r: KeyRow): KeyRecord {
  return {
    id: r.id,
    name: r.name,
    namespace: r.namespace,
    services: r.services === null ? null : (JSON.parse(r.services) as string[]),
    rps: r.rps,
    burst: r.burst,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    hash: r.hash,
  };
}
