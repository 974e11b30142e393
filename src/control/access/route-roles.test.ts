/**
 * The route table (route-roles.ts) against the API it guards. Every route the API's modules
 * list in their headers has an entry, and every entry is a route they list; through a real
 * control API on loopback, every entry reaches a handler with the admin token, and each role
 * gets through exactly the entries its rank allows (403 ROLE_FORBIDDEN otherwise). A path or
 * method missing from a table is refused, never let through.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InMemoryRoutingTable } from '../../gateway/discovery/routing-table.ts';
import type { Runtime } from '../../runtime/types.ts';
import { ManualClock } from '../../util/clock.ts';
import { SignalHub } from '../../observability/hub.ts';
import { RequestTally } from '../../observability/request-tally.ts';
import { startControlApi, type ControlApi } from '../api.ts';
import { HistorySampler } from '../history-sampler.ts';
import { KeyStore } from '../key-store.ts';
import type { Reconciler } from '../reconciler.ts';
import { SqliteStore } from '../sqlite-store.ts';
import { AuditLog } from './audit-log.ts';
import { matchRoute, ROUTE_ROLES, type RouteRule } from './route-roles.ts';
import { roleAllows, ROLES, type Role } from './roles.ts';
import { TokenStore } from './token-store.ts';

const CONTROL = join(import.meta.dirname, '..');
/** api.ts and every module it mounts: each lists its routes in its header comment. */
const MODULES = ['api.ts', 'keys-api.ts', 'dashboard-api.ts', 'viewer-routes.ts', 'access/access-api.ts'];

/** The `METHOD /path` lines of each module's header, `{a|b}` spelled out, query strings dropped. */
function documentedRoutes(): Array<{ method: string; path: string; from: string }> {
  const routes: Array<{ method: string; path: string; from: string }> = [];
  for (const file of MODULES) {
    const text = readFileSync(join(CONTROL, file), 'utf8');
    const header = text.slice(text.indexOf('/**'), text.indexOf('*/'));
    for (const line of header.split('\n')) {
      const m = /^\s*\*\s+(GET|HEAD|PUT|POST|DELETE|PATCH)\s+(\/[^\s,]*(?:,\s+\/[^\s,]*)*)/.exec(line);
      if (m === null) continue;
      for (const path of m[2]!.split(/,\s+/)) {
        for (const one of expand(path.replace(/\?.*$/, ''))) routes.push({ method: m[1]!, path: one, from: file });
      }
    }
  }
  return routes;
}

function expand(path: string): string[] {
  const alt = /\{([^}]*\|[^}]*)\}/.exec(path);
  if (alt === null) return [path];
  return alt[1]!.split('|').flatMap((choice) => expand(path.replace(alt[0], choice)));
}

/** A concrete path for a template: each `{param}` and `*` becomes `x`. */
const concrete = (path: string) => path.replace(/\{[^}]*\}/g, 'x').replace(/\*$/, 'x');
const segments = (path: string) => path.split('/').filter(Boolean);
const entries = ROUTE_ROLES.flatMap((rule) => Object.entries(rule.methods).map(([method, access]) => ({ rule, method, access })));

describe('the route table', () => {
  const documented = documentedRoutes();

  it('has an entry for every route the API documents', () => {
    assert.ok(documented.length >= 25, `only ${documented.length} routes read from the headers: did their form change?`);
    for (const r of documented) {
      const match = matchRoute(r.method, segments(concrete(r.path)));
      assert.equal(match.kind, 'route', `${r.method} ${r.path} (${r.from}) has no entry in route-roles.ts`);
    }
  });

  it('holds no entry the API does not document', () => {
    const reached = new Set<string>();
    for (const r of documented) {
      const match = matchRoute(r.method, segments(concrete(r.path)));
      if (match.kind === 'route') reached.add(`${match.rule.path} ${r.method}`);
    }
    for (const { rule, method } of entries) {
      // HEAD goes with GET on the open pages.
      const documentedAs = method === 'HEAD' ? 'GET' : method;
      assert.ok(reached.has(`${rule.path} ${documentedAs}`), `${method} ${rule.path} is in route-roles.ts but no module's header lists it`);
    }
  });

  it('gives viewers no credentials and no audit log, and deployers only services and rollouts to change', () => {
    const needs = (role: Role) => entries.filter((e) => e.access === role).map((e) => `${e.method} ${e.rule.path}`).sort();
    assert.deepEqual(needs('deployer'), ['DELETE /api/v1/services/{name}', 'POST /api/v1/services/{name}/rollout/{command}', 'PUT /api/v1/services/{name}']);
    assert.deepEqual(needs('admin'), [
      'DELETE /api/v1/keys/{id}',
      'DELETE /api/v1/tokens/{name}',
      'GET /api/v1/audit',
      'GET /api/v1/keys',
      'GET /api/v1/keys/lookup',
      'GET /api/v1/tokens',
      'POST /api/v1/keys',
      'POST /api/v1/services/{name}/activate',
      'POST /api/v1/signals',
      'POST /api/v1/tokens',
    ]);
    for (const e of entries.filter((x) => x.access === 'viewer')) assert.equal(e.method, 'GET', `${e.method} ${e.rule.path} changes something: a viewer may not`);
    for (const e of entries.filter((x) => x.access === 'public')) assert.ok(!e.rule.path.startsWith('/api/'), `${e.rule.path} is under /api: it needs a token`);
  });

  it('refuses what it has no entry for: another path, another method', () => {
    const table: RouteRule[] = [{ path: '/api/v1/things/{name}', methods: { GET: 'viewer', PUT: 'deployer' } }, { path: '/files/*', methods: { GET: 'public' } }];
    assert.deepEqual(matchRoute('GET', ['api', 'v1', 'things', 'a', 'secret'], table), { kind: 'no-route' });
    assert.deepEqual(matchRoute('GET', ['api', 'v1', 'things'], table), { kind: 'no-route' });
    assert.deepEqual(matchRoute('GET', ['api', 'v1', 'other'], table), { kind: 'no-route' });
    const wrongMethod = matchRoute('DELETE', ['api', 'v1', 'things', 'a'], table);
    assert.equal(wrongMethod.kind, 'method-not-allowed');
    assert.equal(wrongMethod.kind === 'method-not-allowed' && wrongMethod.allow, 'GET, PUT');
    assert.equal(matchRoute('toString', ['api', 'v1', 'things', 'a'], table).kind, 'method-not-allowed', 'a method named like an Object property is no entry');
    const put = matchRoute('PUT', ['api', 'v1', 'things', 'b'], table);
    assert.deepEqual(put.kind === 'route' && [put.access, put.params], ['deployer', { name: 'b' }]);
    assert.equal(matchRoute('GET', ['files'], table).kind, 'route', 'a last * matches the rest, nothing included');
    assert.equal(matchRoute('GET', ['files', 'a', 'b'], table).kind, 'route');
  });

  it('prefers a literal segment to a parameter, whatever the order', () => {
    const lookup = matchRoute('GET', ['api', 'v1', 'keys', 'lookup']);
    assert.equal(lookup.kind === 'route' && lookup.rule.path, '/api/v1/keys/lookup');
    const revoke = matchRoute('DELETE', ['api', 'v1', 'keys', '0123456789abcdef']);
    assert.equal(revoke.kind === 'route' && revoke.rule.path, '/api/v1/keys/{id}');
  });
});

describe('the route table through the control API', () => {
  const ADMIN = 'karb_admin_route-roles-test';
  const clock = new ManualClock(1_700_000_000_000);
  const store = new SqliteStore(':memory:', { clock });
  const keys = new KeyStore(':memory:');
  const tokens = new TokenStore(':memory:');
  const audit = new AuditLog(':memory:');
  const runtime = { replicas: () => [], endpoints: () => [] } as unknown as Runtime;
  const sampler = new HistorySampler({ store, runtime, hub: new SignalHub({ clock }), tally: new RequestTally(), clock });
  const bearer: Record<Role, string> = { viewer: '', deployer: '', admin: '' };
  let api: ControlApi;

  before(async () => {
    api = await startControlApi({
      store,
      runtime,
      reconciler: { reconcile: async () => {} } as unknown as Reconciler,
      baseDir: process.cwd(),
      port: 0,
      adminToken: ADMIN,
      keys: { keys, routingTable: new InMemoryRoutingTable() },
      access: { tokens, audit },
      onSignals: () => {},
      dashboard: { store, sampler, clock },
    });
    for (const role of ROLES) bearer[role] = tokens.create(`a-${role}`, role).token;
  });

  after(async () => {
    await api.close();
    for (const s of [store, keys, tokens, audit]) s.close();
  });

  /** One call, its body read (or, for a stream, dropped once its headers came). */
  async function call(method: string, path: string, token: string | undefined): Promise<{ status: number; code: string; message: string }> {
    const controller = new AbortController();
    const res = await fetch(api.url + path, { method, signal: controller.signal, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream') || method === 'HEAD') {
      controller.abort();
      return { status: res.status, code: '', message: '' };
    }
    const text = await res.text();
    const error = (text.startsWith('{') ? (JSON.parse(text) as { error?: { code: string; message: string } }).error : undefined) ?? { code: '', message: '' };
    return { status: res.status, ...error };
  }

  it('reaches a handler for every entry (with the admin token), never a "no route" or a 405', async () => {
    for (const { rule, method } of entries) {
      const path = concrete(rule.path);
      const reply = await call(method, path, ADMIN);
      assert.notEqual(reply.status, 405, `${method} ${path}: ${reply.message}`);
      assert.ok(!reply.message.startsWith('no route'), `${method} ${path} is in the table but no handler answers it: ${reply.message}`);
      assert.ok(reply.status !== 401 && reply.status !== 403, `${method} ${path}: ${reply.status} ${reply.message}`);
    }
  });

  it('lets each role through exactly the entries its rank allows', async () => {
    for (const { rule, method, access } of entries) {
      const path = concrete(rule.path);
      if (access === 'public') {
        assert.ok((await call(method, path, undefined)).status < 400 || path.startsWith('/dashboard/'), `${method} ${path} is public`);
        continue;
      }
      assert.equal((await call(method, path, undefined)).status, 401, `${method} ${path} without a token`);
      for (const role of ROLES) {
        const reply = await call(method, path, bearer[role]);
        if (roleAllows(role, access)) {
          assert.ok(reply.status !== 401 && reply.status !== 403, `${role} on ${method} ${path}: ${reply.status} ${reply.message}`);
        } else {
          assert.equal(reply.status, 403, `${role} on ${method} ${path}`);
          assert.equal(reply.code, 'ROLE_FORBIDDEN');
          assert.ok(reply.message.startsWith(`token 'a-${role}' has role ${role}; ${method} ${path} needs ${access} `), reply.message);
        }
      }
    }
  });

  it('answers a method the table does not list with 405 and the methods it does, before any role is weighed', async () => {
    const reply = await fetch(`${api.url}/api/v1/services/x`, { method: 'PATCH', headers: { authorization: `Bearer ${bearer.viewer}` } });
    assert.equal(reply.status, 405);
    assert.equal(reply.headers.get('allow'), 'GET, PUT, DELETE');
    const none = await fetch(`${api.url}/api/v1/nothing-here`, { headers: { authorization: `Bearer ${bearer.admin}` } });
    assert.equal(none.status, 404);
    assert.equal(((await none.json()) as { error: { message: string } }).error.message, 'no route GET /api/v1/nothing-here');
    assert.equal((await fetch(`${api.url}/api/v1/nothing-here`)).status, 401, 'and without a token, who is asking comes first');
  });
});
