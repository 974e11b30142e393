/**
 * The SQLite store: the Store conformance suite on an in-memory database and
 * on a file, plus what only a database file can show — everything survives a
 * reopen (a restarted karb up).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../util/clock.ts';
import { SqliteStore } from './sqlite-store.ts';
import { describeStore, serviceFixture } from './store-conformance.ts';

describeStore('sqlite in memory', { create: (clock) => ({ store: new SqliteStore(':memory:', { clock }), cleanup: () => {} }) });

describeStore('sqlite file', {
  create: (clock) => {
    const dir = mkdtempSync(join(tmpdir(), 'karb-store-'));
    return { store: new SqliteStore(join(dir, 'karb.db'), { clock }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  },
});

describe('SqliteStore', () => {
  it('keeps everything across a reopen of the database file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'karb-store-'));
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    try {
      const a = new SqliteStore(join(dir, 'karb.db'), { clock });
      a.apply(serviceFixture());
      a.apply(serviceFixture({ model: { uri: 'file://models/fraud-v2.onnx' } }));
      a.addEvent({ type: 'Normal', reason: 'Test', message: 'hello', namespace: 'default', service: 'fraud-detector' });
      a.setRollout('default', 'fraud-detector', { phase: 'Progressing' });
      a.setAutoscaler('default', 'fraud-detector', { desiredReplicas: 2, reason: 'Concurrency', message: '1→2', panic: false, decidedAt: 1 });
      a.close();
      const b = new SqliteStore(join(dir, 'karb.db'), { clock });
      assert.equal(b.getService('default', 'fraud-detector')?.metadata.generation, 2);
      assert.equal(b.listRevisions('default', 'fraud-detector').length, 2);
      assert.equal(b.listEvents()[0]?.message, 'hello');
      assert.deepEqual(b.getRollout('default', 'fraud-detector'), { phase: 'Progressing' });
      assert.equal(b.getAutoscaler('default', 'fraud-detector')?.desiredReplicas, 2);
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
