/**
 * The control API over HTTP for what a caller gets wrong: a hostile manifest or
 * key request is a 400 that names the problem, never a 500. The runtime and
 * reconciler are never reached by these requests, so they are bare stand-ins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryRoutingTable } from '../gateway/discovery/routing-table.ts';
import type { Runtime } from '../runtime/types.ts';
import { startControlApi, type ControlApi } from './api.ts';
import { KeyStore } from './key-store.ts';
import type { Reconciler } from './reconciler.ts';
import type { Store } from './store.ts';
import { SqliteStore } from './sqlite-store.ts';
import { ALIAS_BOMB_YAML } from '../../test/hostile/control-corpus.ts';

let api: ControlApi;
let store: Store;
let keys: KeyStore;

before(async () => {
  store = new SqliteStore(':memory:');
  keys = new KeyStore(':memory:');
  api = await startControlApi({
    store,
    runtime: {} as Runtime,
    reconciler: { reconcile: async () => {} } as unknown as Reconciler,
    baseDir: process.cwd(),
    port: 0,
    keys: { keys, routingTable: new InMemoryRoutingTable() },
  });
});

after(async () => {
  await api.close();
  keys.close();
  store.close();
});

async function call(method: string, path: string, body: string): Promise<{ status: number; code: string; message: string }> {
  const res = await fetch(api.url + path, { method, body, headers: { 'content-type': 'application/json' } });
  const json = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, code: json.error?.code ?? '', message: json.error?.message ?? JSON.stringify(json) };
}

describe('PUT /api/v1/services/{name}', () => {
  it('answers a YAML alias bomb with 400 naming the aliases', async () => {
    const reply = await call('PUT', '/api/v1/services/lol', ALIAS_BOMB_YAML);
    assert.equal(reply.status, 400, reply.message);
    assert.equal(reply.code, 'INVALID_MANIFEST');
    assert.match(reply.message, /^request body: the manifest uses too many YAML aliases \(an alias bomb\?\): /);
  });

  it('answers an alias to an anchor that does not exist with 400', async () => {
    const reply = await call('PUT', '/api/v1/services/a', 'apiVersion: karb.dev/v1alpha1\nkind: *nowhere\n');
    assert.equal(reply.status, 400, reply.message);
    assert.match(reply.message, /^request body: invalid YAML: .*nowhere/);
  });
});

describe('POST /api/v1/keys', () => {
  const cases: Array<{ name: string; body: string; message: RegExp }> = [
    { name: 'a lifetime past what a date can hold', body: '{"namespace":"default","expires":"100000000d"}', message: /^expires: a duration from 1s to 36500d \(100 years\), such as 30d, 12h, 90m or 2w \(got "100000000d"\)$/ },
    { name: 'a lifetime just past 100 years', body: '{"namespace":"default","expires":"36501d"}', message: /^expires: a duration from 1s to 36500d/ },
    { name: 'a lifetime of more digits than a number holds', body: `{"namespace":"default","expires":"${'9'.repeat(400)}w"}`, message: /^expires: a duration from 1s to 36500d/ },
    { name: 'a lifetime that is not a string', body: '{"namespace":"default","expires":30}', message: /^expires: a duration .* \(got 30\)$/ },
    { name: 'an unknown field', body: '{"namespace":"default","expiresAt":"2020-01-01T00:00:00Z"}', message: /^unknown field 'expiresAt' \(did you mean 'expires'\?\); a key request takes namespace, services, rps, burst, expires, name$/ },
    { name: 'an unknown field like no other', body: '{"namespace":"default","admin":true}', message: /^unknown field 'admin'; a key request takes namespace, services, rps, burst, expires, name$/ },
    { name: 'an array body', body: '[{"namespace":"default"}]', message: /^key request body must be a JSON object/ },
    { name: 'a namespace that is not a string', body: '{"namespace":7}', message: /^namespace: required, a DNS label/ },
    { name: 'services that are not a list', body: '{"namespace":"default","services":"fraud"}', message: /^services: a non-empty list/ },
    { name: 'rps as a string', body: '{"namespace":"default","rps":"5"}', message: /^rps: a number greater than 0/ },
    { name: 'rps JSON reads as Infinity', body: '{"namespace":"default","rps":1e999}', message: /^rps: a number greater than 0/ },
    { name: 'burst as a boolean', body: '{"namespace":"default","rps":5,"burst":true}', message: /^burst: a number greater than 0/ },
    { name: 'a name that is not a string', body: '{"namespace":"default","name":["a"]}', message: /^name: a label of at most 100 characters/ },
  ];
  for (const c of cases) {
    it(`answers 400 for ${c.name}, and creates no key`, async () => {
      const reply = await call('POST', '/api/v1/keys', c.body);
      assert.equal(reply.status, 400, reply.message);
      assert.equal(reply.code, 'INVALID_REQUEST');
      assert.match(reply.message, c.message);
      assert.equal(keys.list().length, 0);
    });
  }

  it('creates a key that lives the longest lifetime allowed', async () => {
    const res = await fetch(`${api.url}/api/v1/keys`, { method: 'POST', body: '{"namespace":"default","expires":"36500d","name":"long"}' });
    assert.equal(res.status, 201);
    const { record } = (await res.json()) as { record: { expiresAt: string; name: string } };
    assert.equal(record.name, 'long');
    const years = (Date.parse(record.expiresAt) - Date.now()) / (365 * 86_400_000);
    assert.ok(years > 99 && years <= 100, record.expiresAt);
  });
});

describe('a method a path does not take', () => {
  for (const [method, path, allow] of [
    ['DELETE', '/api/v1/services', 'GET'],
    ['PATCH', '/api/v1/services/a', 'GET, PUT, DELETE'],
    ['GET', '/api/v1/signals', 'POST'],
    ['PUT', '/api/v1/keys', 'GET, POST'],
  ] as const) {
    it(`answers ${method} ${path} with 405 and Allow: ${allow}`, async () => {
      const res = await fetch(api.url + path, { method });
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, 405, body.error.message);
      assert.equal(res.headers.get('allow'), allow);
      assert.equal(body.error.code, 'METHOD_NOT_ALLOWED');
      assert.match(body.error.message, new RegExp(`^${method} is not allowed on this path; use ${allow}$`));
    });
  }
});
