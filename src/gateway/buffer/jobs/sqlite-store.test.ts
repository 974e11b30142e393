import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../util/clock.ts';
import { SqliteJobStore } from './sqlite-store.ts';
import { describeJobStore } from './store-conformance.ts';

describeJobStore('sqlite', {
  async create(clock) {
    const dir = mkdtempSync(join(tmpdir(), 'karb-jobs-'));
    const file = join(dir, 'jobs.db');
    return {
      store: new SqliteJobStore(file, clock),
      reopen: async () => new SqliteJobStore(file, clock),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});

describe('SqliteJobStore on a file written before jobs could be listed', () => {
  it('numbers the existing jobs in creation order and lists them after the new ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'karb-jobs-'));
    const file = join(dir, 'jobs.db');
    try {
      const old = new DatabaseSync(file);
      old.exec(`CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, service TEXT NOT NULL,
        path TEXT NOT NULL, content_type TEXT NOT NULL, body BLOB NOT NULL, state TEXT NOT NULL, result_status INTEGER,
        result_content_type TEXT, result_body BLOB, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, ttl_ms INTEGER NOT NULL, not_before INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0)`);
      const insert = old.prepare(`INSERT INTO jobs (id, owner, service, path, content_type, body, state, created_at, updated_at, expires_at, ttl_ms)
                                  VALUES (?, ?, 'fraud', '/v2/models/fraud/infer', 'application/json', x'7b7d', 'queued', 1, 1, 60001, 60000)`);
      for (const [id, owner] of [['old-a-1', 'key-a'], ['old-b-1', 'key-b'], ['old-a-2', 'key-a']] as const) insert.run(id, owner);
      old.close();

      const clock = new ManualClock(1_000);
      for (let round = 0; round < 2; round++) {
        // Opening twice: the second open finds the file already migrated.
        const store = new SqliteJobStore(file, clock);
        try {
          const r = await store.enqueue({ owner: 'key-a', service: 'fraud', path: '/v2/models/fraud/infer', contentType: 'application/json', body: Buffer.from('{}'), ttlMs: 60_000 }, 10);
          assert.ok(r.accepted);
          const ids = (await store.list('key-a', { limit: 10 })).jobs.map((j) => j.id);
          assert.deepEqual(ids.slice(-2), ['old-a-2', 'old-a-1']);
          assert.equal(ids.length, 3 + round);
          assert.deepEqual((await store.list('key-b', { limit: 10 })).jobs.map((j) => j.id), ['old-b-1']);
        } finally {
          await store.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
