/**
 * People's access tokens for karb up's control plane, in its SQLite database (table
 * `access_tokens`), on a connection of their own like the key store's. A token reads
 * `karb_tok_<43 base64url characters>` (32 random bytes); only its SHA-256 is stored, and a
 * presented token is found by hashing it and looking the hash up, so no comparison of secrets
 * depends on how much of one matched. The token itself exists once, in the answer to `create`.
 * The name `admin` is the admin-token file's (access-control.ts); `anonymous` is the audit log's
 * word for a caller it could not name: neither can be given to a token.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { openStateDatabase } from '../state-db.ts';
import { hash, randomBytes } from 'node:crypto';
import { InvalidRequestError, KarbError, NotFoundError } from '../../errors.ts';
import { systemClock, type Clock } from '../../util/clock.ts';
import { isRole, ROLES, type Role } from './roles.ts';

export const TOKEN_PREFIX = 'karb_tok_';
export const RESERVED_TOKEN_NAMES: readonly string[] = ['admin', 'anonymous'];
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const TOKEN_NAME_RULE = 'a lower-case DNS label (letters, digits and -, at most 63 characters), such as alice or ci-deploy';
/** "Last used" is written at most this often per token: a dashboard's calls would otherwise each be a write. */
const LAST_USED_STEP_MS = 60_000;

const SCHEMA = `
create table if not exists access_tokens (
  name text primary key,
  role text not null,
  hash text not null unique,
  created_at text not null,
  last_used_at text
);
`;

interface TokenRow {
  name: string;
  role: string;
  hash: string;
  created_at: string;
  last_used_at: string | null;
}

/** A token as it is listed: never the token, never its hash. */
export interface TokenSummary {
  name: string;
  role: Role;
  createdAt: string;
  lastUsedAt: string | null;
}

export class TokenExistsError extends KarbError {
  constructor(name: string) {
    super('TOKEN_EXISTS', `a token named ${name} already exists; revoke it first (karb tokens revoke ${name}) or choose another name`, { status: 409 });
  }
}

/** Why `name` cannot name a token; undefined when it can. */
export function tokenNameProblem(name: string): string | undefined {
  if (!NAME.test(name)) return `token name must be ${TOKEN_NAME_RULE} (got ${JSON.stringify(name.slice(0, 70))})`;
  if (RESERVED_TOKEN_NAMES.includes(name)) return `token name ${name} is reserved (admin is the admin-token file's token; anonymous is how the audit log names a caller without one); choose another`;
  return undefined;
}

export class TokenStore {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #insert: StatementSync;
  readonly #byHash: StatementSync;
  readonly #list: StatementSync;
  readonly #get: StatementSync;
  readonly #delete: StatementSync;
  readonly #touch: StatementSync;

  constructor(path: string, options: { clock?: Clock } = {}) {
    this.#db = openStateDatabase(path, SCHEMA);
    this.#clock = options.clock ?? systemClock;
    this.#insert = this.#db.prepare('insert into access_tokens (name, role, hash, created_at) values (?, ?, ?, ?)');
    this.#byHash = this.#db.prepare('select * from access_tokens where hash = ?');
    this.#list = this.#db.prepare('select * from access_tokens order by created_at, name');
    this.#get = this.#db.prepare('select * from access_tokens where name = ?');
    this.#delete = this.#db.prepare('delete from access_tokens where name = ?');
    this.#touch = this.#db.prepare('update access_tokens set last_used_at = ? where name = ?');
  }

  /** Makes a token; the returned `token` is the only time it exists in clear. */
  create(name: string, role: Role): { token: string; record: TokenSummary } {
    const problem = tokenNameProblem(name);
    if (problem !== undefined) throw new InvalidRequestError(problem, { code: 'INVALID_TOKEN_NAME' });
    if (!isRole(role)) throw new InvalidRequestError(`role must be one of ${ROLES.join(', ')}`, { code: 'INVALID_ROLE' });
    if (this.#get.get(name) !== undefined) throw new TokenExistsError(name);
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    this.#insert.run(name, role, digest(token), new Date(this.#clock.now()).toISOString());
    return { token, record: summary(this.#get.get(name) as unknown as TokenRow) };
  }

  /** The token `presented` is, by its hash; undefined for one never made or revoked. Notes the use. */
  verify(presented: string): TokenSummary | undefined {
    if (!presented.startsWith(TOKEN_PREFIX)) return undefined;
    const row = this.#byHash.get(digest(presented)) as TokenRow | undefined;
    if (row === undefined) return undefined;
    const now = this.#clock.now();
    if (row.last_used_at === null || now - Date.parse(row.last_used_at) >= LAST_USED_STEP_MS) {
      try {
        this.#touch.run(new Date(now).toISOString(), row.name);
        row.last_used_at = new Date(now).toISOString();
      } catch {
        // A busy database: "last used" is a hint, and the caller is who they are either way; the next use writes it.
      }
    }
    return summary(row);
  }

  list(): TokenSummary[] {
    return (this.#list.all() as unknown as TokenRow[]).map(summary);
  }

  /** Deletes the token for good: the next call with it is a 401. */
  revoke(name: string): TokenSummary {
    const row = this.#get.get(name) as TokenRow | undefined;
    if (row === undefined) throw new NotFoundError(`no token named ${name.slice(0, 70)}; karb tokens list shows them`, 'TOKEN_NOT_FOUND');
    this.#delete.run(name);
    return summary(row);
  }

  close(): void {
    this.#db.close();
  }
}

function digest(token: string): string {
  return hash('sha256', token, 'hex');
}

function summary(row: TokenRow): TokenSummary {
  return { name: row.name, role: row.role as Role, createdAt: row.created_at, lastUsedAt: row.last_used_at };
}
