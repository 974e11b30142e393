/**
 * What a spec can reach, end to end with a real `karb up` started with secrets
 * in its environment and `--models-root` pointing at the models folder:
 * a replica started with `command` sees a minimal environment (its spec's env,
 * PORT, PATH) and none of karb's secrets; a model URI resolves against the
 * models root; a URI outside the root is refused with one message whether or
 * not the file exists.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fraudRequest, freePort, karb, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

const SECRETS = { AWS_SECRET_ACCESS_KEY: 'e2e-aws-secret-value', KARB_TOKEN: 'karb_admin_e2e-token-of-the-operator', KARB_E2E_PASSWORD: 'e2e-password-value' };
/** A replica that writes the environment it was given to a file, then answers every request 200. */
const ENV_DUMP = `require('fs').writeFileSync(process.argv[1], JSON.stringify(process.env)); require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')`;

describe('replica environment and the models root', () => {
  const work = workDir('karb-replica-env-');
  const dump = join(work.dir, 'replica-env.json');
  let up: KarbUp;
  const put = async (name: string, model: Record<string, unknown>) => {
    const res = await fetch(`${up.controlUrl}/api/v1/services/${name}`, {
      method: 'PUT',
      headers: { ...up.admin, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name }, spec: { model, scaling: { minReplicas: 1, maxReplicas: 1 } } }),
    });
    return { status: res.status, body: (await res.json()) as { error?: { code: string; details: Array<{ path: string; message: string }> } } };
  };

  before(async () => {
    // Only karb up's environment gets the secrets (startKarbUp copies process.env when it starts it).
    Object.assign(process.env, SECRETS);
    try {
      up = await startKarbUp(work.dir, {}, ['--models-root', join(work.dir, 'models')]);
    } finally {
      for (const k of Object.keys(SECRETS)) delete process.env[k];
    }
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it("gives a command replica its spec's env and none of karb's secrets", async () => {
    const applied = await put('env-probe', { format: 'oip', command: [process.execPath, '-e', ENV_DUMP, dump], readinessPath: '/ready', env: { MODEL_SETTING: 'from-the-spec' } });
    assert.equal(applied.status, 201, JSON.stringify(applied.body));
    const env = await waitFor('the replica to write its environment', () => existsSync(dump) && (JSON.parse(readFileSync(dump, 'utf8')) as Record<string, string>));
    assert.equal(env.MODEL_SETTING, 'from-the-spec');
    assert.match(env.PORT ?? '', /^\d+$/);
    assert.ok(env.PATH, 'PATH reaches the replica');
    assert.equal(env.KARB_SERVICE, 'env-probe');
    for (const [name, value] of Object.entries(SECRETS)) {
      assert.equal(env[name], undefined, `${name} reached the replica`);
      assert.ok(!Object.values(env).some((v) => v.includes(value)), `the value of ${name} reached the replica`);
    }
    assert.ok(!Object.values(env).some((v) => v.includes(up.adminToken)), 'the admin token reached the replica');
  });

  it('resolves a relative model URI against --models-root and serves it', async () => {
    const applied = await put('rooted', { uri: 'file://fraud-v1.onnx' });
    assert.equal(applied.status, 201, JSON.stringify(applied.body));
    await waitFor('the model under the root to answer', async () => {
      const res = await fetch(`${up.gatewayUrl}/v2/models/rooted/infer`, { method: 'POST', headers: { ...up.auth, 'content-type': 'application/json' }, body: fraudRequest([[42.5, 14, 0.1, 3.2, 1, 0, 1, 1200]]) });
      return res.status === 200;
    });
  });

  it('refuses a URI outside the models root the same way whether or not the file exists', async () => {
    const root = join(work.dir, 'models');
    const messages: string[] = [];
    for (const uri of ['file:///etc/passwd', 'file:///etc/karb-no-such-file', 'file://../../etc/passwd']) {
      const r = await put('outside', { uri });
      assert.equal(r.status, 422);
      assert.equal(r.body.error?.code, 'INVALID_SPEC');
      const message = r.body.error?.details.find((d) => d.path === 'spec.model.uri')?.message ?? '';
      assert.equal(message, `${uri} is outside the models root ${root}; put the model under it or start karb up with --models-root`);
      messages.push(message.replace(uri, 'URI'));
    }
    assert.equal(new Set(messages).size, 1);
    const get = await fetch(`${up.controlUrl}/api/v1/services/outside`, { headers: up.admin });
    assert.equal(get.status, 404, 'nothing was stored');
  });

  it('refuses to start with a models root that is not a directory', async () => {
    const r = await karb(['up', '--models-root', join(work.dir, 'no-such-dir'), '--port', String(await freePort()), '--gateway-port', String(await freePort()), '--state-dir', join(work.dir, 'other-state')], { cwd: work.dir, timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--models-root .*no-such-dir is not a directory/);
  });
});
