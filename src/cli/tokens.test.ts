/**
 * `karb tokens` and `karb audit` as a person runs them: mistakes on the command line exit 2
 * before any control plane is asked; against a real control API on loopback, a token made by
 * the CLI is printed alone on stdout, a token whose role is too low gets the server's one-line
 * 403 and exit 1, and `karb audit` prints who did what without the token.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI, NODE } from '../serving/test-helpers.ts';
import type { Runtime } from '../runtime/types.ts';
import { startControlApi, type ControlApi } from '../control/api.ts';
import type { Reconciler } from '../control/reconciler.ts';
import { SqliteStore } from '../control/sqlite-store.ts';
import { AuditLog } from '../control/access/audit-log.ts';
import { TokenStore } from '../control/access/token-store.ts';

const NOWHERE = 'http://127.0.0.1:9';
const ADMIN = `karb_admin_${'c'.repeat(43)}`;

async function karb(args: string[], cwd = process.cwd()): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // KARB_STATE_DIR points nowhere: no admin-token file of this checkout is read by accident.
    const { stdout, stderr } = await promisify(execFile)(NODE, [CLI, ...args], { cwd, env: { ...process.env, KARB_TOKEN: '', KARB_STATE_DIR: '/nonexistent' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('karb tokens on the command line', () => {
  const cases: Array<[string[], RegExp]> = [
    [['tokens', 'rotate'], /^karb: unknown tokens command 'rotate'; use create, list or revoke\n$/],
    [['tokens', 'create', '--name', 'alice'], /^karb: tokens create needs --role viewer\|deployer\|admin\n$/],
    [['tokens', 'create', '--role', 'root', '--name', 'alice'], /^karb: --role must be viewer, deployer, admin \(got root\)\n$/],
    [['tokens', 'create', '--role', 'viewer'], /^karb: tokens create needs --name NAME /],
    [['tokens', 'create', '--role', 'viewer', '--name', 'Alice Smith'], /^karb: --name: token name must be a lower-case DNS label .* \(got "Alice Smith"\)\n$/],
    [['tokens', 'create', '--role', 'viewer', '--name', 'admin'], /^karb: --name: token name admin is reserved /],
    [['tokens', 'create', 'alice', '--role', 'viewer', '--name', 'alice'], /^karb: tokens create takes flags only, not 'alice'\n$/],
    [['tokens', 'revoke'], /^karb: tokens revoke takes one token name \(karb tokens list shows them\)\n$/],
    [['tokens', 'revoke', 'a', 'b'], /^karb: tokens revoke takes one token name/],
    [['tokens', 'revoke', 'alice', '--role', 'admin'], /^karb: --role goes with tokens create, not tokens revoke\n$/],
    [['tokens', 'list', '--bogus'], /^karb: Unknown option '--bogus'/],
    [['audit', '--limit', '0'], /^karb: --limit must be a whole number from 1 to 10000, got "0"/],
    [['audit', 'everything'], /^karb: audit takes flags only, not 'everything'\n$/],
  ];
  for (const [args, message] of cases) {
    it(`exits 2 for karb ${args.join(' ')}`, async () => {
      const { code, stderr } = await karb([...args, '--server', NOWHERE]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, message);
    });
  }

  it('prints its usage and exits 2 with no verb, 0 with --help', async () => {
    const bare = await karb(['tokens']);
    assert.equal(bare.code, 2);
    assert.match(bare.stdout, /^Usage:\n {2}karb tokens create --role viewer\|deployer\|admin --name NAME\n/);
    assert.equal((await karb(['tokens', '--help'])).code, 0);
  });
});

describe('karb tokens and karb audit against a control plane', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-tokens-cli-'));
  const store = new SqliteStore(':memory:');
  const tokens = new TokenStore(':memory:');
  const audit = new AuditLog(':memory:');
  let api: ControlApi;

  before(async () => {
    mkdirSync(path.join(dir, 'models'));
    writeFileSync(path.join(dir, 'models', 'm.onnx'), 'a file is all admission checks');
    writeFileSync(path.join(dir, 'svc.yaml'), 'apiVersion: karb.dev/v1alpha1\nkind: InferenceService\nmetadata: { name: scorer }\nspec: { model: { uri: file://models/m.onnx } }\n');
    api = await startControlApi({
      store,
      runtime: { replicas: () => [], endpoints: () => [] } as unknown as Runtime,
      reconciler: { reconcile: async () => {} } as unknown as Reconciler,
      baseDir: dir,
      port: 0,
      adminToken: ADMIN,
      access: { tokens, audit },
    });
  });

  after(async () => {
    await api.close();
    for (const s of [store, tokens, audit]) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes a viewer token, whose apply is refused in one line naming both roles, then revokes it', async () => {
    const server = ['--server', api.url];
    const created = await karb(['tokens', 'create', '--role', 'viewer', '--name', 'alice', ...server, '--token', ADMIN]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^karb_tok_[A-Za-z0-9_-]{43}\n$/);
    assert.match(created.stderr, /^created token alice with role viewer; this is the only time it is shown/);
    const viewer = created.stdout.trim();

    assert.equal((await karb(['get', 'services', ...server, '--token', viewer], dir)).code, 0, 'a viewer reads');
    const applied = await karb(['apply', '-f', 'svc.yaml', ...server, '--token', viewer], dir);
    assert.equal(applied.code, 1, applied.stderr);
    assert.match(applied.stderr, /^karb: svc\.yaml: scorer: token 'alice' has role viewer; PUT \/api\/v1\/services\/scorer needs deployer \([^\n]*\)\n$/);
    const made = await karb(['tokens', 'create', '--role', 'admin', '--name', 'mallory', ...server, '--token', viewer]);
    assert.equal(made.code, 1);
    assert.match(made.stderr, /^karb: token 'alice' has role viewer; POST \/api\/v1\/tokens needs admin \([^\n]*\)\n$/);

    const listed = await karb(['tokens', 'list', ...server, '--token', ADMIN]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^NAME +ROLE +CREATED +LAST-USED\nalice +viewer +\d+[smhd] +\d+[smhd]\n$/);

    assert.equal((await karb(['tokens', 'revoke', 'alice', ...server, '--token', ADMIN])).stdout, 'revoked token alice\n');
    const refused = await karb(['get', 'services', ...server, '--token', viewer], dir);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^karb: the control plane at http:\/\/127\.0\.0\.1:\d+ refused the token from --token \(unknown or revoked\)/);

    const log = await karb(['audit', '--limit', '3', ...server, '--token', ADMIN]);
    assert.equal(log.code, 0, log.stderr);
    const lines = log.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^TIME +ACTOR +ROLE +METHOD +PATH +TARGET +OUTCOME$/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/ +/).slice(1)), [
      ['anonymous', '-', 'GET', '/api/v1/services', '-', '401'],
      ['admin', 'admin', 'DELETE', '/api/v1/tokens/alice', 'alice', '200'],
      ['alice', 'viewer', 'POST', '/api/v1/tokens', '-', '403'],
    ]);
    assert.ok(!log.stdout.includes(viewer) && !log.stdout.includes(ADMIN), 'no token in the audit log');
  });
});
