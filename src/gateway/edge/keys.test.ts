import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearerToken, checkKey, checkScope, generateKey, hashSecret, parseKey, parseKeyLifetime, type KeyRecord } from './keys.ts';

function recordFor(hash: string, overrides: Partial<KeyRecord> = {}): KeyRecord {
  return {
    id: '0123456789abcdef',
    name: '',
    namespace: 'payments',
    services: null,
    rps: null,
    burst: null,
    expiresAt: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    lastUsedAt: null,
    revokedAt: null,
    hash,
    ...overrides,
  };
}

test('a new key parses back into its id and a secret whose hash is the stored one', () => {
  const k = generateKey();
  assert.match(k.key, /^karb_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  const parsed = parseKey(k.key)!;
  assert.equal(parsed.id, k.id);
  assert.equal(hashSecret(parsed.secret), k.hash);
  assert.ok(!k.hash.includes(parsed.secret), 'the stored hash is not the secret');
  assert.equal(Buffer.from(parsed.secret, 'base64url').length, 32, '256-bit secret');
  assert.notEqual(generateKey().key, k.key);
});

test('malformed keys do not parse', () => {
  const good = generateKey().key;
  const cases: Array<[string, string]> = [
    ['', 'empty'],
    ['karb_', 'prefix only'],
    [good.slice(0, -1), 'one character short'],
    [`${good}x`, 'one character long'],
    [good.replace('karb_', 'karx_'), 'wrong prefix'],
    [`karb_0123456789ABCDEF_${good.slice(-43)}`, 'upper-case id'],
    [`karb_0123456789abcdef-${good.slice(-43)}`, 'wrong separator'],
    [`karb_0123456789abcdef_${'!'.repeat(43)}`, 'secret outside base64url'],
  ];
  for (const [key, why] of cases) assert.equal(parseKey(key), undefined, why);
});

test('bearer tokens are taken from the Authorization header only in the Bearer scheme', () => {
  assert.equal(bearerToken('Bearer abc'), 'abc');
  assert.equal(bearerToken('bearer  abc '), 'abc');
  assert.equal(bearerToken('Basic abc'), undefined);
  assert.equal(bearerToken('Bearer '), undefined);
  assert.equal(bearerToken(undefined), undefined);
});

test('checkKey: every way a key can fail has its own reason, for metrics only', () => {
  const k = generateKey();
  const secret = parseKey(k.key)!.secret;
  const other = parseKey(generateKey().key)!.secret;
  const now = Date.parse('2026-06-01T00:00:00Z');
  const table: Array<[KeyRecord | undefined, string, ReturnType<typeof checkKey>, string]> = [
    [recordFor(k.hash), secret, { ok: true }, 'right secret'],
    [undefined, secret, { ok: false, reason: 'unknown' }, 'no record for the id'],
    [recordFor(k.hash), other, { ok: false, reason: 'mismatch' }, 'wrong secret'],
    [recordFor(k.hash, { revokedAt: '2026-05-01T00:00:00Z' }), secret, { ok: false, reason: 'revoked' }, 'revoked'],
    [recordFor(k.hash, { expiresAt: '2026-05-31T23:59:59Z' }), secret, { ok: false, reason: 'expired' }, 'expired'],
    [recordFor(k.hash, { expiresAt: '2026-06-01T00:00:00Z' }), secret, { ok: false, reason: 'expired' }, 'expires exactly now'],
    [recordFor(k.hash, { expiresAt: '2026-06-02T00:00:00Z' }), secret, { ok: true }, 'not yet expired'],
    [recordFor(k.hash, { revokedAt: '2026-05-01T00:00:00Z' }), other, { ok: false, reason: 'mismatch' }, 'a wrong secret learns nothing about revocation'],
  ];
  for (const [record, s, want, why] of table) assert.deepEqual(checkKey(record, s, now), want, why);
});

test('checkScope: namespace first, then the service allowlist', () => {
  assert.deepEqual(checkScope({ namespace: 'payments', services: null }, 'payments', 'fraud'), { ok: true });
  assert.deepEqual(checkScope({ namespace: 'payments', services: ['fraud'] }, 'payments', 'fraud'), { ok: true });
  assert.deepEqual(checkScope({ namespace: 'payments', services: ['fraud'] }, 'payments', 'churn'), { ok: false, reason: 'service' });
  assert.deepEqual(checkScope({ namespace: 'payments', services: null }, 'default', 'fraud'), { ok: false, reason: 'namespace' });
});

test('key lifetimes', () => {
  assert.equal(parseKeyLifetime('30d'), 30 * 86_400_000);
  assert.equal(parseKeyLifetime('12h'), 12 * 3_600_000);
  assert.equal(parseKeyLifetime('2w'), 14 * 86_400_000);
  assert.equal(parseKeyLifetime('90m'), 90 * 60_000);
  assert.equal(parseKeyLifetime('0d'), undefined);
  assert.equal(parseKeyLifetime('30'), undefined);
  assert.equal(parseKeyLifetime('1y'), undefined);
});
