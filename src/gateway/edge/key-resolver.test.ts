import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { KeyStore } from '../../control/key-store.ts';
import { ManualClock } from '../../util/clock.ts';
import { StoreKeyResolver } from './key-resolver.ts';

const START = Date.parse('2026-06-01T00:00:00.000Z');

function setup() {
  const store = new KeyStore(':memory:', { clock: new ManualClock(START) });
  const clock = new ManualClock(START);
  const resolver = new StoreKeyResolver(store, { clock });
  const a = store.create({ namespace: 'payments', name: 'a' }).record.id;
  const b = store.create({ namespace: 'payments', name: 'b' }).record.id;
  const writes: number[] = [];
  const touchMany = store.touchMany.bind(store);
  store.touchMany = (uses) => {
    writes.push(uses.length);
    touchMany(uses);
  };
  return { store, clock, resolver, a, b, writes };
}

test('"last used" is written off the request, once a second for every key together, at most once a minute per key', () => {
  const { store, clock, resolver, a, b, writes } = setup();
  resolver.used(store.get(a)!, clock.now());
  resolver.used(store.get(b)!, clock.now());
  assert.deepEqual(writes, [], 'nothing is written during the request');
  assert.equal(store.get(a)!.lastUsedAt, null);

  clock.advance(1000);
  assert.deepEqual(writes, [2], 'both keys in one write');
  assert.equal(store.get(a)!.lastUsedAt, '2026-06-01T00:00:00.000Z');
  assert.equal(store.get(b)!.lastUsedAt, '2026-06-01T00:00:00.000Z');

  clock.advance(30_000);
  resolver.used(store.get(a)!, clock.now());
  clock.advance(1000);
  assert.deepEqual(writes, [2], 'within a minute of the last record, a use writes nothing');

  clock.advance(30_000);
  resolver.used(store.get(a)!, clock.now());
  clock.advance(1000);
  assert.deepEqual(writes, [2, 1]);
  assert.equal(store.get(a)!.lastUsedAt, '2026-06-01T00:01:02.000Z');
  store.close();
});

test('closing writes the pending uses at once, and a failing write does not throw', () => {
  const { store, clock, resolver, a, writes } = setup();
  resolver.used(store.get(a)!, clock.now());
  resolver.close();
  assert.deepEqual(writes, [1]);
  assert.equal(store.get(a)!.lastUsedAt, '2026-06-01T00:00:00.000Z');
  clock.advance(5000);
  assert.deepEqual(writes, [1], 'the flush timer was cleared');

  clock.advance(60_000);
  resolver.used(store.get(a)!, clock.now());
  store.close();
  assert.doesNotThrow(() => clock.advance(1000), 'a closed database loses the time, nothing else');
});

test('while another writer holds the database, the write fails and its uses are written at the next flush', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'karb-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'karb.db');
  const store = new KeyStore(path, { clock: new ManualClock(START) });
  const clock = new ManualClock(START);
  const resolver = new StoreKeyResolver(store, { clock });
  const a = store.create({ namespace: 'payments', name: 'a' }).record.id;
  const b = store.create({ namespace: 'payments', name: 'b' }).record.id;

  const other = new DatabaseSync(path);
  other.exec('begin immediate');
  resolver.used(store.get(a)!, clock.now());
  clock.advance(1000);
  assert.equal(store.get(a)!.lastUsedAt, null, 'the write failed while the other connection held the lock');
  other.exec('rollback');
  other.close();

  clock.advance(60_000);
  resolver.used(store.get(b)!, clock.now());
  clock.advance(1000);
  assert.equal(store.get(a)!.lastUsedAt, '2026-06-01T00:00:00.000Z', 'the kept use is written with the next one');
  assert.equal(store.get(b)!.lastUsedAt, '2026-06-01T00:01:01.000Z');
  store.close();
});
