/**
 * The token store on a real SQLite file: a token exists in clear only in `create`'s answer (the
 * database file holds its SHA-256), a presented token is found by its hash, revoking deletes it,
 * names are checked, and "last used" is written at most once a minute. The audit log keeps only
 * the newest records and never a credential shaped path segment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidRequestError, NotFoundError } from '../../errors.ts';
import { ManualClock } from '../../util/clock.ts';
import { TokenExistsError, TokenStore } from './token-store.ts';
import { AuditLog, auditPath, auditTarget } from './audit-log.ts';

test('a token is stored as its hash, found by it, listed without it, and revoked for good', () => {
  const dir = mkdtempSync(join(tmpdir(), 'karb-tokens-'));
  const clock = new ManualClock(Date.parse('2026-06-01T00:00:00Z'));
  const store = new TokenStore(join(dir, 'karb.db'), { clock });
  try {
    const { token, record } = store.create('alice', 'viewer');
    assert.match(token, /^karb_tok_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(record, { name: 'alice', role: 'viewer', createdAt: '2026-06-01T00:00:00.000Z', lastUsedAt: null });
    const second = store.create('ci-deploy', 'deployer').token;
    assert.notEqual(second, token);

    // The file and its write-ahead log hold the hash, never the token.
    const bytes = readdirSync(dir).map((f) => readFileSync(join(dir, f)).toString('latin1')).join('');
    assert.ok(!bytes.includes(token) && !bytes.includes(token.slice('karb_tok_'.length)), 'the token is in the database');
    assert.ok(bytes.includes(createHash('sha256').update(token).digest('hex')), 'its hash is what is stored');

    clock.advance(1000);
    assert.deepEqual(store.verify(token), { name: 'alice', role: 'viewer', createdAt: '2026-06-01T00:00:00.000Z', lastUsedAt: '2026-06-01T00:00:01.000Z' });
    assert.equal(store.verify(second)?.role, 'deployer');
    assert.equal(store.verify(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`), undefined, 'one character off');
    assert.equal(store.verify(token.slice('karb_tok_'.length)), undefined, 'without its prefix');
    assert.equal(store.verify(''), undefined);

    clock.advance(30_000);
    store.verify(token);
    assert.equal(store.list()[0]!.lastUsedAt, '2026-06-01T00:00:01.000Z', 'within a minute of the last write, none');
    clock.advance(30_000);
    store.verify(token);
    assert.equal(store.list()[0]!.lastUsedAt, '2026-06-01T00:01:01.000Z', 'a minute on, written again');

    const listed = JSON.stringify(store.list());
    assert.ok(!listed.includes(token) && !listed.includes('hash'), listed);
    assert.deepEqual(store.list().map((t) => [t.name, t.role]), [['alice', 'viewer'], ['ci-deploy', 'deployer']]);

    assert.equal(store.revoke('alice').name, 'alice');
    assert.equal(store.verify(token), undefined, 'a revoked token is no one');
    assert.deepEqual(store.list().map((t) => t.name), ['ci-deploy']);
    assert.throws(() => store.revoke('alice'), (err: unknown) => err instanceof NotFoundError && err.code === 'TOKEN_NOT_FOUND');
    assert.equal(store.create('alice', 'admin').record.role, 'admin', 'a revoked name can be used again');
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('token names and roles are checked, and a name is one token', () => {
  const store = new TokenStore(':memory:');
  try {
    store.create('bob', 'admin');
    assert.throws(() => store.create('bob', 'viewer'), (err: unknown) => err instanceof TokenExistsError && err.status === 409 && /revoke it first \(karb tokens revoke bob\)/.test(err.message));
    for (const name of ['admin', 'anonymous']) {
      assert.throws(() => store.create(name, 'viewer'), (err: unknown) => err instanceof InvalidRequestError && err.code === 'INVALID_TOKEN_NAME' && err.message.includes(`token name ${name} is reserved`));
    }
    for (const name of ['', 'Alice', 'a b', '-x', 'x'.repeat(64), 'a/b']) {
      assert.throws(() => store.create(name, 'viewer'), (err: unknown) => err instanceof InvalidRequestError && err.code === 'INVALID_TOKEN_NAME' && /^token name must be a lower-case DNS label/.test(err.message), name);
    }
    assert.throws(() => store.create('carol', 'root' as 'admin'), (err: unknown) => err instanceof InvalidRequestError && err.code === 'INVALID_ROLE');
    assert.deepEqual(store.list().map((t) => t.name), ['bob']);
  } finally {
    store.close();
  }
});

test('the audit log keeps the newest records, newest first', () => {
  const clock = new ManualClock(Date.parse('2026-06-01T00:00:00Z'));
  const log = new AuditLog(':memory:', { clock, keep: 3 });
  try {
    for (let i = 1; i <= 5; i++) {
      log.record({ actor: 'alice', role: 'deployer', method: 'PUT', path: `/api/v1/services/s${i}`, target: `s${i}`, outcome: 200 + i });
      clock.advance(1000);
    }
    const all = log.list(10);
    assert.deepEqual(all.map((r) => r.target), ['s5', 's4', 's3'], 'the oldest two are gone');
    assert.deepEqual(all[0], { id: 5, time: '2026-06-01T00:00:04.000Z', actor: 'alice', role: 'deployer', method: 'PUT', path: '/api/v1/services/s5', target: 's5', outcome: 205 });
    assert.deepEqual(log.list(1).map((r) => r.target), ['s5']);
    assert.equal(log.keep, 3);
  } finally {
    log.close();
  }
});

test('a flood of refused calls never pushes a change out of the audit log: each kind keeps its own newest', () => {
  const log = new AuditLog(':memory:', { keep: 2 });
  try {
    log.record({ actor: 'alice', role: 'deployer', method: 'DELETE', path: '/api/v1/services/prod', target: 'prod', outcome: 200 });
    for (let i = 0; i < 50; i++) log.record({ actor: 'anonymous', role: null, method: 'POST', path: '/api/v1/signals', target: null, outcome: i % 2 === 0 ? 401 : 403 });
    const all = log.list(10);
    assert.deepEqual(all.map((r) => r.outcome), [403, 401, 200], 'the two newest refusals, and the change');
    assert.equal(all[2]!.target, 'prod');
  } finally {
    log.close();
  }
});

test('a path or target that could hold a credential is redacted, a name is kept', () => {
  const key = `karb_0123456789abcdef_${'A'.repeat(43)}`;
  assert.equal(auditPath('/api/v1/services/fraud-detector'), '/api/v1/services/fraud-detector');
  assert.equal(auditPath(`/api/v1/keys/${key}`), '/api/v1/keys/{redacted}');
  assert.equal(auditPath(`/api/v1/keys/${encodeURIComponent(key).replace('_', '%5F')}`), '/api/v1/keys/{redacted}', 'percent-encoded');
  assert.equal(auditPath(`/api/v1/tokens/${'x'.repeat(101)}`), '/api/v1/tokens/{redacted}', 'longer than any name');
  assert.equal(auditTarget(`karb_tok_${'B'.repeat(43)}`), '{redacted}');
  assert.equal(auditTarget('my%20svc'), 'my svc');
  assert.equal(auditTarget('x%0A2025-01-01%20alice%20PUT'), 'x%0A2025-01-01%20alice%20PUT', 'a decoded newline could forge a row: kept as sent');
  assert.equal(auditTarget('x%1B%5B2J'), 'x%1B%5B2J', 'no terminal escape');
});
