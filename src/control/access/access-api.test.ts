/**
 * Roles through a real control API on loopback, tokens made and revoked through its own
 * /api/v1/tokens: a viewer reads but may not apply, a deployer applies but may not make API keys,
 * an admin (a token with the role, or the admin-token file's) does both, a revoked token is a
 * 401; and the audit log holds each change and each refusal with who made it — and no token and
 * no request body anywhere in it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryRoutingTable } from '../../gateway/discovery/routing-table.ts';
import type { Runtime } from '../../runtime/types.ts';
import { startControlApi, type ControlApi } from '../api.ts';
import { KeyStore } from '../key-store.ts';
import type { Reconciler } from '../reconciler.ts';
import { SqliteStore } from '../sqlite-store.ts';
import { AuditLog, type AuditRecord } from './audit-log.ts';
import { TokenStore } from './token-store.ts';

const ADMIN = `karb_admin_${'k'.repeat(43)}`;
/** In every manifest applied: the audit log must never hold it (it keeps no bodies). */
const BODY_MARKER = 'body-marker-7f3a';

const manifest = (name: string) =>
  JSON.stringify({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name, labels: { note: BODY_MARKER } }, spec: { model: { uri: 'file://models/m.onnx' } } });

describe('roles on the control API, and the audit log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'karb-access-'));
  const db = join(dir, 'state', 'karb.db');
  const store = new SqliteStore(db);
  const keys = new KeyStore(db);
  const tokens = new TokenStore(db);
  const audit = new AuditLog(db);
  let api: ControlApi;
  const made: Record<string, string> = {};

  before(async () => {
    mkdirSync(join(dir, 'models'));
    writeFileSync(join(dir, 'models', 'm.onnx'), 'not really a model: admission only checks it is a file');
    api = await startControlApi({
      store,
      runtime: { replicas: () => [], endpoints: () => [] } as unknown as Runtime,
      reconciler: { reconcile: async () => {} } as unknown as Reconciler,
      baseDir: dir,
      port: 0,
      adminToken: ADMIN,
      keys: { keys, routingTable: new InMemoryRoutingTable() },
      access: { tokens, audit },
    });
  });

  after(async () => {
    await api.close();
    for (const s of [store, keys, tokens, audit]) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function call(token: string | undefined, method: string, path: string, body?: string): Promise<{ status: number; body: Record<string, any> }> {
    const res = await fetch(api.url + path, { method, ...(body === undefined ? {} : { body }), headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  it('lets the admin token make a token for each role, shown once', async () => {
    for (const [name, role] of [['alice', 'viewer'], ['dave', 'deployer'], ['root', 'admin']] as const) {
      const res = await call(ADMIN, 'POST', '/api/v1/tokens', JSON.stringify({ name, role }));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.match(res.body.token, /^karb_tok_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual({ ...res.body.record, createdAt: 'x' }, { name, role, createdAt: 'x', lastUsedAt: null });
      made[name] = res.body.token;
    }
    const listed = await call(ADMIN, 'GET', '/api/v1/tokens');
    assert.deepEqual(listed.body.items.map((t: { name: string; role: string }) => `${t.name}:${t.role}`), ['alice:viewer', 'dave:deployer', 'root:admin']);
    for (const token of Object.values(made)) assert.ok(!JSON.stringify(listed.body).includes(token), 'a listing holds no token');
    const bad = await call(ADMIN, 'POST', '/api/v1/tokens', JSON.stringify({ name: 'eve', role: 'superuser' }));
    assert.deepEqual([bad.status, bad.body.error.code, bad.body.error.message], [400, 'INVALID_ROLE', 'role: required, one of viewer, deployer, admin']);
    const taken = await call(ADMIN, 'POST', '/api/v1/tokens', JSON.stringify({ name: 'alice', role: 'admin' }));
    assert.deepEqual([taken.status, taken.body.error.code], [409, 'TOKEN_EXISTS']);
  });

  it('lets a viewer read, and refuses its apply with 403 naming both roles', async () => {
    assert.equal((await call(made.alice, 'GET', '/api/v1/services')).status, 200);
    assert.equal((await call(made.alice, 'GET', '/api/v1/routes')).status, 200);
    const applied = await call(made.alice, 'PUT', '/api/v1/services/fraud', manifest('fraud'));
    assert.equal(applied.status, 403);
    assert.equal(applied.body.error.code, 'ROLE_FORBIDDEN');
    assert.match(applied.body.error.message, /^token 'alice' has role viewer; PUT \/api\/v1\/services\/fraud needs deployer \(/);
    assert.equal(store.listServices().length, 0, 'nothing was applied');
    for (const path of ['/api/v1/keys', '/api/v1/tokens', '/api/v1/audit']) {
      const res = await call(made.alice, 'GET', path);
      assert.equal(res.status, 403, path);
      assert.match(res.body.error.message, new RegExp(`^token 'alice' has role viewer; GET ${path} needs admin`));
    }
  });

  it('lets a deployer apply, and refuses its API key', async () => {
    const applied = await call(made.dave, 'PUT', '/api/v1/services/fraud', manifest('fraud'));
    assert.equal(applied.status, 201, JSON.stringify(applied.body));
    assert.equal(store.listServices()[0]?.metadata.name, 'fraud');
    const key = await call(made.dave, 'POST', '/api/v1/keys', JSON.stringify({ namespace: 'default' }));
    assert.equal(key.status, 403);
    assert.match(key.body.error.message, /^token 'dave' has role deployer; POST \/api\/v1\/keys needs admin/);
    assert.equal(keys.list().length, 0, 'no key was made');
  });

  it('lets an admin, by token or by the admin-token file, apply, make keys and read the audit log', async () => {
    for (const token of [made.root!, ADMIN]) {
      assert.equal((await call(token, 'PUT', '/api/v1/services/fraud', manifest('fraud'))).status, 200);
      assert.equal((await call(token, 'POST', '/api/v1/keys', JSON.stringify({ namespace: 'default' }))).status, 201);
      assert.equal((await call(token, 'GET', '/api/v1/audit')).status, 200);
    }
    assert.equal(keys.list().length, 2);
  });

  it('refuses a revoked token, an unknown one, and none, with 401', async () => {
    assert.equal((await call(made.root, 'DELETE', '/api/v1/tokens/alice')).status, 200);
    const revoked = await call(made.alice, 'GET', '/api/v1/services');
    assert.deepEqual([revoked.status, revoked.body.error.code], [401, 'ADMIN_TOKEN_REQUIRED']);
    assert.equal((await call(`karb_tok_${'z'.repeat(43)}`, 'GET', '/api/v1/services')).status, 401);
    assert.equal((await call(undefined, 'DELETE', '/api/v1/services/fraud')).status, 401);
    assert.equal(store.listServices().length, 1, 'the anonymous delete did nothing');
    const gone = await call(ADMIN, 'DELETE', '/api/v1/tokens/alice');
    assert.deepEqual([gone.status, gone.body.error.code], [404, 'TOKEN_NOT_FOUND']);
  });

  it('records every change and refusal with who made it, and no token or body', async () => {
    const res = await call(ADMIN, 'GET', '/api/v1/audit?limit=100');
    assert.equal(res.status, 200);
    assert.equal(res.body.kept, 10_000);
    const items = res.body.items as AuditRecord[];
    const seen = items.map((r) => `${r.actor}|${r.role ?? '-'}|${r.method} ${r.path}|${r.target ?? '-'}|${r.outcome}`).reverse();
    assert.deepEqual(seen, [
      'admin|admin|POST /api/v1/tokens|-|201',
      'admin|admin|POST /api/v1/tokens|-|201',
      'admin|admin|POST /api/v1/tokens|-|201',
      'admin|admin|POST /api/v1/tokens|-|400',
      'admin|admin|POST /api/v1/tokens|-|409',
      'alice|viewer|PUT /api/v1/services/fraud|fraud|403',
      'alice|viewer|GET /api/v1/keys|-|403',
      'alice|viewer|GET /api/v1/tokens|-|403',
      'alice|viewer|GET /api/v1/audit|-|403',
      'dave|deployer|PUT /api/v1/services/fraud|fraud|201',
      'dave|deployer|POST /api/v1/keys|-|403',
      'root|admin|PUT /api/v1/services/fraud|fraud|200',
      'root|admin|POST /api/v1/keys|-|201',
      'admin|admin|PUT /api/v1/services/fraud|fraud|200',
      'admin|admin|POST /api/v1/keys|-|201',
      'root|admin|DELETE /api/v1/tokens/alice|alice|200',
      'anonymous|-|GET /api/v1/services|-|401',
      'anonymous|-|GET /api/v1/services|-|401',
      'anonymous|-|DELETE /api/v1/services/fraud|fraud|401',
      'admin|admin|DELETE /api/v1/tokens/alice|alice|404',
    ]);
    assert.ok(items.every((r) => !Number.isNaN(Date.parse(r.time))), 'each record has its time');
    const text = JSON.stringify(res.body);
    for (const token of [...Object.values(made), ADMIN]) {
      assert.ok(!text.includes(token), 'a token is in the audit log');
      assert.ok(!text.includes(token.slice(-43)), 'the secret part of a token is in the audit log');
    }
    assert.ok(!text.includes(BODY_MARKER) && !text.includes('"namespace":"default"'), 'a request body is in the audit log');
    const two = await call(ADMIN, 'GET', '/api/v1/audit?limit=2');
    assert.deepEqual(two.body.items.map((r: AuditRecord) => r.outcome), [404, 401], 'the newest first');
    const bad = await call(ADMIN, 'GET', '/api/v1/audit?limit=0');
    assert.deepEqual([bad.status, bad.body.error.code], [400, 'INVALID_LIMIT']);
    assert.match(bad.body.error.message, /^limit must be a whole number from 1 to 10000 \(got "0"\)/);
  });

  it('leaves gateways’ signal reports and activations out, unless they are refused', async () => {
    const count = async () => ((await call(ADMIN, 'GET', '/api/v1/audit?limit=10000')).body.items as AuditRecord[]).length;
    const before = await count();
    await call(ADMIN, 'POST', '/api/v1/signals', '{}');
    await call(ADMIN, 'POST', '/api/v1/services/scorer/activate');
    assert.equal(await count(), before, 'telemetry is not recorded');
    assert.equal((await call(undefined, 'POST', '/api/v1/signals', '{}')).status, 401);
    const newest = ((await call(ADMIN, 'GET', '/api/v1/audit?limit=1')).body.items as AuditRecord[])[0]!;
    assert.deepEqual([newest.actor, newest.method, newest.path, newest.outcome], ['anonymous', 'POST', '/api/v1/signals', 401], 'a refused one is');
  });
});
