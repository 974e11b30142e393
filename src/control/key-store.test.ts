import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyStore } from './key-store.ts';
import { checkKey, parseKey } from '../gateway/edge/keys.ts';
import { NotFoundError } from '../errors.ts';
import { ManualClock } from '../util/clock.ts';

test('keys are stored as hashes, listed without them, and revoked for good', () => {
  const clock = new ManualClock(Date.parse('2026-06-01T00:00:00Z'));
  const store = new KeyStore(':memory:', { clock });
  try {
    const { key, record } = store.create({ namespace: 'payments', services: ['fraud'], rps: 5, lifetimeMs: 86_400_000, name: 'ci' });
    const { id, secret } = parseKey(key)!;
    assert.equal(record.id, id);
    assert.deepEqual(
      { ...record },
      { id, name: 'ci', namespace: 'payments', services: ['fraud'], rps: 5, burst: null, expiresAt: '2026-06-02T00:00:00.000Z', createdAt: '2026-06-01T00:00:00.000Z', lastUsedAt: null, revokedAt: null },
    );
    const full = store.get(id)!;
    assert.notEqual(full.hash, secret);
    assert.ok(!JSON.stringify(full).includes(secret), 'the secret is stored nowhere');
    assert.deepEqual(checkKey(full, secret, clock.now()), { ok: true });
    assert.ok(store.list().every((k) => !('hash' in k)));
    assert.equal(store.activeCount(), 1);

    store.touchMany([[id, new Date(clock.now() + 1000)]]);
    assert.equal(store.get(id)!.lastUsedAt, '2026-06-01T00:00:01.000Z');

    clock.advance(5000);
    assert.equal(store.revoke(id).revokedAt, '2026-06-01T00:00:05.000Z');
    clock.advance(5000);
    assert.equal(store.revoke(id).revokedAt, '2026-06-01T00:00:05.000Z', 'a second revoke changes nothing');
    assert.deepEqual(checkKey(store.get(id), secret, clock.now()), { ok: false, reason: 'revoked' });
    assert.equal(store.activeCount(), 0);
    assert.throws(() => store.revoke('ffffffffffffffff'), NotFoundError);
  } finally {
    store.close();
  }
});

test('cached lookups follow create and revoke at once', () => {
  const store = new KeyStore(':memory:');
  const { record } = store.create({ namespace: 'payments' });
  assert.equal(store.get(record.id)?.revokedAt, null, 'looked up (and cached)');
  store.revoke(record.id);
  assert.ok(store.get(record.id)?.revokedAt, 'the revoke is seen by the next lookup');
  assert.equal(store.get('k_unknown'), undefined, 'a miss is cached as a miss');
  store.close();
});

test("a looked-up key id does not keep the caller's Authorization header, secret included, in the cache", async () => {
  // --expose-gc set at run time: once nothing else holds the header, the heap is searched for its secret.
  const { setFlagsFromString, getHeapSnapshot } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { randomBytes } = await import('node:crypto');
  const store = new KeyStore(':memory:', { clock: new ManualClock(0) });
  try {
    // The secret lives only in the header string (and as bytes here), so the heap holds it as text only through the header.
    const secretBytes = randomBytes(32);
    // As the gateway does: the id is a slice of the header, and only the store may keep anything after the call.
    const present = (): unknown => {
      const header = `Bearer karb_0123456789abcdef_${secretBytes.toString('base64url')}`;
      return store.get(header.slice('Bearer karb_'.length, 'Bearer karb_'.length + 16));
    };
    assert.equal(present(), undefined, 'a key the store has never seen: a miss, cached too');
    gc();
    const chunks: string[] = [];
    for await (const chunk of getHeapSnapshot()) chunks.push(String(chunk));
    const heap = chunks.join('');
    assert.ok(!heap.includes(secretBytes.toString('base64url')), 'the secret is still on the heap: the cache holds the header it was sliced from');
  } finally {
    store.close();
  }
});
