/**
 * Keys never leak: a real `karb up` with its output captured, every error path
 * of the edge exercised (wrong, expired, revoked, out-of-scope, rate-limited
 * keys; bad body; unknown model; bad deadline header), then the output, the
 * replica logs under .karb/, the /metrics page (control plane and gateway) and every response (body and
 * headers) are searched for the keys and their secret parts: nothing.
 * Also: the control plane API refuses calls without a token, and a viewer's token may read only.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fraudRequest, karb, ROOT, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];

describe('security: keys never leak, the control plane needs its token', () => {
  const work = workDir('karb-security-');
  let up: KarbUp;
  const seen: string[] = [];
  const cli = (args: string[]) => karb([...args, '--server', up.controlUrl], { cwd: work.dir });
  const createKey = async (args: string[]): Promise<string> => {
    const r = await cli(['keys', 'create', ...args]);
    assert.equal(r.code, 0, r.stderr);
    seen.push(r.stderr);
    return r.stdout.trim();
  };
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${up.gatewayUrl}${path}`, init);
    const text = await res.text();
    seen.push(text, JSON.stringify([...res.headers]));
    return { status: res.status, text, headers: res.headers };
  };
  const infer = (key: string | undefined, body = fraudRequest([ROW]), model = 'fraud-detector', extra: Record<string, string> = {}) =>
    call(`/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra }, body });

  before(async () => {
    up = await startKarbUp(work.dir);
    const applied = await cli(['apply', '-f', join(ROOT, 'examples/fraud-detector.yaml')]);
    assert.equal(applied.code, 0, applied.stderr);
    await waitFor('fraud-detector to answer', async () => (await infer(up.apiKey)).status === 200);
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('exercises every error path, then finds no key anywhere', async () => {
    const good = await createKey(['--namespace', 'default', '--name', 'good']);
    const limited = await createKey(['--namespace', 'default', '--rps', '1', '--name', 'limited']);
    const scoped = await createKey(['--namespace', 'default', '--services', 'some-other-service']);
    const otherNs = await createKey(['--namespace', 'payments']);
    const revoked = await createKey(['--namespace', 'default']);
    const expiring = await createKey(['--namespace', 'default', '--expires', '1s']);
    const revokedId = revoked.slice(5, 21);
    const r = await cli(['keys', 'revoke', revokedId]);
    assert.equal(r.code, 0, r.stderr);
    const keys = [good, limited, scoped, otherNs, revoked, expiring, up.apiKey];
    for (const k of keys) assert.match(k, /^karb_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);

    assert.equal((await infer(good)).status, 200);
    assert.equal((await infer(undefined)).status, 401, 'no key');
    assert.equal((await infer(`${good.slice(0, -4)}AAAA`)).status, 401, 'wrong secret');
    assert.equal((await infer(good.slice(0, 30))).status, 401, 'malformed');
    assert.equal((await infer(revoked)).status, 401, 'revoked');
    await waitFor('the 1 s key to expire', async () => (await infer(expiring)).status === 401, 10_000, 200);
    assert.equal((await infer(scoped)).status, 403, 'service outside the allowlist');
    assert.equal((await infer(otherNs)).status, 403, 'other namespace');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await infer(limited)).status);
    assert.ok(statuses.includes(429), `rate limited: ${statuses}`);
    assert.equal((await infer(good, '{"inputs": [')).status, 400, 'bad body');
    assert.equal((await infer(good, fraudRequest([ROW]), 'no-such-model')).status, 404, 'unknown model');
    assert.equal((await infer(good, fraudRequest([ROW]), 'fraud-detector', { 'x-karb-timeout-ms': 'soon' })).status, 400, 'bad deadline');
    assert.equal((await infer(good, 'x'.repeat(9 * 1024 * 1024))).status, 413, 'body over the limit');
    assert.equal((await call('/v2/models/fraud-detector', { headers: { authorization: `Bearer ${revoked}` } })).status, 401);

    // "Last used" is written off the request path, within about a second.
    const listed = await waitFor('last used to be recorded', async () => {
      const list = await cli(['keys', 'list', '-o', 'json']);
      assert.equal(list.code, 0, list.stderr);
      seen.push(list.stdout);
      const items = JSON.parse(list.stdout).items as Array<Record<string, unknown>>;
      return items.find((k) => k.name === 'good')?.lastUsedAt ? items : undefined;
    }, 10_000, 200);
    assert.ok(listed.every((k) => !('hash' in k)), 'no hash in the listing');

    // The gateway's port never lists services; its metrics are scraped with the control plane's.
    assert.equal((await fetch(`${up.gatewayUrl}/metrics`, { headers: { authorization: `Bearer ${good}` } })).status, 404);
    const controlMetrics = await (await fetch(`${up.controlUrl}/metrics`)).text();
    assert.match(controlMetrics, /karb_gateway_auth_failures_total\{reason="revoked"\}/);
    assert.match(controlMetrics, /karb_gateway_ratelimited_total\{service="fraud-detector",scope="key"\}/);
    await up.stop();
    const logs = filesUnder(join(work.dir, '.karb', 'logs')).map((f) => readFileSync(f, 'utf8'));

    const haystacks: Array<[string, string]> = [
      ['karb up output', up.output()],
      ['control plane /metrics', controlMetrics],
      ...logs.map((l, i): [string, string] => [`replica log ${i}`, l]),
      ...seen.map((s, i): [string, string] => [`response or CLI output ${i}`, s]),
    ];
    assert.ok(up.output().includes('"status":401') && up.output().includes('"status":429'), 'the refusals were logged');
    for (const key of keys) {
      const secret = key.slice(-43);
      for (const [where, text] of haystacks) {
        assert.ok(!text.includes(secret), `the secret of a key appears in ${where}`);
        assert.ok(!text.includes(key), `a key appears in ${where}`);
      }
    }
    // The key ids are not secret, but they stay out of metric labels too.
    for (const key of keys) assert.ok(!controlMetrics.includes(key.slice(5, 21)), 'no key id in gateway metrics');
  });
});

describe('security: the control plane API needs the admin token', () => {
  const work = workDir('karb-admin-');
  let up: KarbUp;
  before(async () => {
    up = await startKarbUp(work.dir);
  });
  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('refuses /api/v1 without it, keeps health and metrics open, and the CLI says what is wrong', async () => {
    const mode = statSync(join(work.dir, '.karb', 'admin-token')).mode & 0o777;
    assert.equal(mode, 0o600);
    for (const path of ['/api/v1/services', '/api/v1/keys', '/api/v1/routes', '/api/v1/keys/lookup?id=0123456789abcdef']) {
      const none = await fetch(`${up.controlUrl}${path}`);
      assert.equal(none.status, 401, path);
      assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'ADMIN_TOKEN_REQUIRED');
      const wrong = await fetch(`${up.controlUrl}${path}`, { headers: { authorization: 'Bearer karb_admin_wrong' } });
      assert.equal(wrong.status, 401, path);
    }
    assert.equal((await fetch(`${up.controlUrl}/api/v1/routes`, { headers: up.admin })).status, 200);
    assert.equal((await fetch(`${up.controlUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${up.controlUrl}/metrics`)).status, 200);

    const missing = await karb(['get', 'services', '--server', up.controlUrl], { cwd: ROOT, env: { KARB_STATE_DIR: join(work.dir, 'nowhere') } });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /needs its admin token and none was found/);
    const wrong = await karb(['get', 'services', '--server', up.controlUrl, '--token', 'karb_admin_wrong'], { cwd: work.dir });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /refused the token from --token/);
    const right = await karb(['get', 'services', '--server', up.controlUrl], { cwd: work.dir });
    assert.equal(right.code, 0, right.stderr);
  });

  it('gives a viewer token reads only, refuses it once revoked, and audits it without the token', async () => {
    const cli = (args: string[]) => karb([...args, '--server', up.controlUrl], { cwd: work.dir });
    const created = await cli(['tokens', 'create', '--role', 'viewer', '--name', 'auditor']);
    assert.equal(created.code, 0, created.stderr);
    const viewer = created.stdout.trim();
    assert.equal((await cli(['get', 'services', '--token', viewer])).code, 0);
    const applied = await cli(['apply', '-f', join(ROOT, 'examples/fraud-detector.yaml'), '--token', viewer]);
    assert.equal(applied.code, 1);
    assert.match(applied.stderr, /token 'auditor' has role viewer; PUT \/api\/v1\/services\/fraud-detector needs deployer/);
    assert.equal((await cli(['tokens', 'revoke', 'auditor'])).code, 0);
    assert.equal((await fetch(`${up.controlUrl}/api/v1/services`, { headers: { authorization: `Bearer ${viewer}` } })).status, 401);
    const log = await cli(['audit', '-o', 'json']);
    assert.equal(log.code, 0, log.stderr);
    const items = JSON.parse(log.stdout).items as Array<{ actor: string; outcome: number; method: string }>;
    assert.ok(items.some((r) => r.actor === 'auditor' && r.method === 'PUT' && r.outcome === 403), log.stdout);
    for (const secret of [viewer, up.adminToken]) assert.ok(!log.stdout.includes(secret) && !up.output().includes(secret), 'a token in the audit log or karb up output');
  });
});

function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir).map((f) => join(dir, f)).filter((f) => statSync(f).isFile());
  } catch {
    return [];
  }
}
