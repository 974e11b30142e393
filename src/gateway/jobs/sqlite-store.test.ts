import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
