/**
 * One connection to karb up's SQLite state (`.karb/karb.db`): the folder made, WAL (readers never
 * wait for the writer), a busy timeout so the stores that share the file take turns, and the
 * caller's schema applied. `synchronous: 'normal'` skips the fsync per commit: with WAL a crash of
 * karb loses nothing, a crash of the machine may lose the last commits.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export const BUSY_TIMEOUT_MS = 5000;

export function openStateDatabase(path: string, schema: string, options: { synchronous?: 'normal' } = {}): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  db.exec(`pragma journal_mode = wal;${options.synchronous ? ` pragma synchronous = ${options.synchronous};` : ''} pragma busy_timeout = ${BUSY_TIMEOUT_MS};`);
  db.exec(schema);
  return db;
}
