/**
 * The README path, end to end with real processes: `karb up`, `karb apply`,
 * inference through the gateway, `karb get`, and every kind of bad input —
 * after which the service still answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fraudRequest, freePort, karb, ROOT, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

const BENIGN = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];
const RISKY = [1890, 3, 0.9, 850, 7, 1, 0, 20];

describe('README path: karb up, apply, infer, get', () => {
  const work = workDir();
  let up: KarbUp;
  const cli = (args: string[], input?: string) => karb([...args, '--server', up.controlUrl], { cwd: work.dir, ...(input ? { input } : {}) });
  const infer = (body: string, model = 'fraud-detector') =>
    fetch(`${up.gatewayUrl}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...up.auth }, body });

  before(async () => {
    up = await startKarbUp(work.dir);
    const applied = await cli(['apply', '-f', join(ROOT, 'examples/fraud-detector.yaml')]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /inferenceservice\/fraud-detector created \(revision fraud-detector-00001\)/);
    await waitFor('fraud-detector to be Ready', async () => {
      const r = await cli(['get', 'services', 'fraud-detector', '-o', 'json']);
      const svc = JSON.parse(r.stdout);
      return svc.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.status === 'True';
    });
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('answers an inference with a fraud probability that moves with the inputs', async () => {
    const res = await infer(fraudRequest([BENIGN, RISKY]));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-karb-revision'), 'fraud-detector-00001');
    const body = (await res.json()) as { outputs: Array<{ name: string; shape: number[]; data: number[] }> };
    const out = body.outputs.find((o) => o.name === 'probability')!;
    assert.deepEqual(out.shape, [2, 1]);
    const [benign, risky] = out.data as [number, number];
    assert.ok(benign > 0 && benign < 1 && risky > 0 && risky < 1, `probabilities in (0,1): ${out.data}`);
    assert.ok(risky > benign + 0.3, `risky ${risky} should score well above benign ${benign}`);
  });

  it('serves the model metadata', async () => {
    const res = await fetch(`${up.gatewayUrl}/v2/models/fraud-detector`, { headers: up.auth });
    assert.equal(res.status, 200);
    const meta = (await res.json()) as { inputs: Array<{ name: string; datatype: string; shape: number[] }>; outputs: Array<{ name: string }> };
    assert.deepEqual(meta.inputs, [{ name: 'features', datatype: 'FP32', shape: [-1, 8] }]);
    assert.equal(meta.outputs[0]?.name, 'probability');
  });

  it('lists the service, its revision and its replica', async () => {
    const services = await cli(['get', 'services']);
    assert.equal(services.code, 0);
    assert.match(services.stdout, /^NAME\s+NAMESPACE\s+READY\s+REPLICAS\s+TRAFFIC/);
    // The autoscaler may have added a replica if this machine was slow enough to push p95 up.
    assert.match(services.stdout, /fraud-detector\s+default\s+True\s+[1-4]\/[1-4]\s+00001=100%\s+-\s+gascl\s+250ms/);
    const revisions = await cli(['get', 'revisions', 'fraud-detector', '-o', 'yaml']);
    assert.match(revisions.stdout, /name: fraud-detector-00001/);
    const replicas = await cli(['get', 'replicas', '-o', 'json']);
    const items = JSON.parse(replicas.stdout).items as Array<{ phase: string; revision: string }>;
    assert.ok(items.length >= 1 && items.every((r) => r.revision === 'fraud-detector-00001'), JSON.stringify(items));
    assert.ok(items.some((r) => r.phase === 'Ready'), JSON.stringify(items));
  });

  it('rejects bad inference requests with a clear 4xx', async () => {
    const cases: Array<[string, Promise<Response>, number, RegExp]> = [
      ['malformed JSON', infer('{"inputs": ['), 400, /JSON/i],
      ['wrong tensor name', infer(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 8], datatype: 'FP32', data: BENIGN }] })), 400, /features/],
      ['wrong shape', infer(JSON.stringify({ inputs: [{ name: 'features', shape: [1, 7], datatype: 'FP32', data: BENIGN.slice(0, 7) }] })), 400, /shape|dimension/i],
      ['wrong datatype', infer(JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'BYTES', data: BENIGN }] })), 400, /datatype|FP32/],
      ['unknown model', infer(fraudRequest([BENIGN]), 'no-such-model'), 404, /no-such-model/],
      ['body over the limit', infer('x'.repeat(9 * 1024 * 1024)), 413, /limit|large/i],
    ];
    for (const [name, pending, status, message] of cases) {
      const res = await pending;
      const text = await res.text();
      assert.equal(res.status, status, `${name}: ${text}`);
      assert.match(JSON.parse(text).error, message, name);
      assert.doesNotMatch(text, /at .*\.ts:\d+/, `${name}: no stack trace`);
    }
    assert.equal((await infer(fraudRequest([BENIGN]))).status, 200, 'still serving after bad input');
  });

  it('refuses invalid manifests with the path of each error and disturbs nothing', async () => {
    const bad = join(work.dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: karb.dev/v1alpha1\nkind: InferenceService\nmetadata: {name: fraud-detector}\nspec:\n  model: {uri: "file://models/fraud-v1.onnx"}\n  scaling: {minReplicas: 3, maxReplicas: 2}\n');
    const invalid = await cli(['apply', '-f', bad]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /spec\.scaling\.maxReplicas: must be >= minReplicas \(got 2 < 3\)/);

    const broken = join(work.dir, 'broken.yaml');
    writeFileSync(broken, 'metadata: {name: x\nspec: [');
    const yaml = await cli(['apply', '-f', broken]);
    assert.equal(yaml.code, 1);
    assert.match(yaml.stderr, /broken\.yaml: invalid YAML at line \d+, column \d+/);

    const missing = join(work.dir, 'missing-model.yaml');
    writeFileSync(missing, 'apiVersion: karb.dev/v1alpha1\nkind: InferenceService\nmetadata: {name: fraud-detector}\nspec:\n  model: {uri: "file://models/nope.onnx"}\n');
    const notThere = await cli(['apply', '-f', missing]);
    assert.equal(notThere.code, 1);
    assert.match(notThere.stderr, /spec\.model\.uri: no model file at .*nope\.onnx/);

    const usage = await cli(['apply', 'examples/fraud-detector.yaml']);
    assert.equal(usage.code, 2);

    const res = await infer(fraudRequest([BENIGN]));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-karb-revision'), 'fraud-detector-00001', 'the deployed revision is untouched');
  });

  it('answers 422 with every error path on the API itself', async () => {
    const res = await fetch(`${up.controlUrl}/api/v1/services/broken`, {
      method: 'PUT',
      headers: { 'content-type': 'application/yaml', ...up.admin },
      body: 'apiVersion: karb.dev/v1alpha1\nkind: InferenceService\nmetadata: {name: broken}\nspec:\n  model: {uri: 1}\n  slo: {latencyP95Ms: fast}\n',
    });
    assert.equal(res.status, 422);
    const body = (await res.json()) as { error: { code: string; details: Array<{ path: string }> } };
    assert.equal(body.error.code, 'INVALID_SPEC');
    assert.deepEqual(body.error.details.map((d) => d.path).sort(), ['spec.model.uri', 'spec.slo.latencyP95Ms']);
  });

  it('a replica whose model file is not the one spec.model.digest pins keeps exiting, and status and events say why', async () => {
    const actual = `sha256:${createHash('sha256').update(readFileSync(join(ROOT, 'models/fraud-v1.onnx'))).digest('hex')}`;
    const wrong = `sha256:${'0'.repeat(64)}`;
    const manifest = join(work.dir, 'pinned.yaml');
    writeFileSync(manifest, `apiVersion: karb.dev/v1alpha1\nkind: InferenceService\nmetadata: {name: pinned}\nspec:\n  model: {uri: "file://models/fraud-v1.onnx", digest: "${wrong}"}\n`);
    const applied = await cli(['apply', '-f', manifest]);
    assert.equal(applied.code, 0, applied.stderr);
    const why = `exited with code 1 \\(last output: karb serve: model file \\S+/models/fraud-v1\\.onnx has digest ${actual}, but --model-digest pins ${wrong}; the file changed or the pin is wrong\\); restarting in \\d+ ms`;

    const ready = await waitFor('pinned to say why it is not ready', async () => {
      const svc = JSON.parse((await cli(['get', 'services', 'pinned', '-o', 'json'])).stdout);
      const condition = svc.status?.conditions?.find((c: { type: string }) => c.type === 'Ready');
      return condition?.reason === 'ReplicaCrashing' ? (condition as { status: string; message: string }) : undefined;
    });
    assert.equal(ready.status, 'False');
    assert.match(ready.message, new RegExp(`^pinned-00001: pinned-00001-\\w+ keeps exiting \\(restarts: \\d+\\): pid \\d+ ${why}; see \\.karb/logs/pinned-00001-\\w+\\.log$`));
    const events = ((await (await fetch(`${up.controlUrl}/api/v1/events`, { headers: up.admin })).json()) as { items: Array<{ reason: string; service: string; message: string }> }).items;
    const crashed = events.filter((e) => e.service === 'pinned' && e.reason === 'ReplicaCrashed');
    assert.ok(crashed.length > 0 && crashed.every((e) => new RegExp(why).test(e.message)), JSON.stringify(crashed));

    const deleted = await cli(['delete', 'pinned']);
    assert.equal(deleted.code, 0, deleted.stderr);
    await waitFor('the pinned replicas to be gone', async () => {
      const items = JSON.parse((await cli(['get', 'replicas', '-o', 'json'])).stdout).items as Array<{ service: string }>;
      return items.every((r) => r.service !== 'pinned');
    });
  });
});

describe('CLI without a control plane', () => {
  it('says clearly that none is running and exits 1', async () => {
    const r = await karb(['get', 'services', '--server', 'http://127.0.0.1:9']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no karb control plane answers at http:\/\/127\.0\.0\.1:9 .*karb up/);
  });

  it('exits 2 on a usage error', async () => {
    const r = await karb(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });
});

describe('servers that cannot start', () => {
  it('refuses one port for both servers as a usage error', async () => {
    const work = workDir();
    try {
      const r = await karb(['up', '--port', '40999', '--gateway-port', '40999'], { cwd: work.dir, timeoutMs: 30_000 });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--port and --gateway-port must differ/);
    } finally {
      work.cleanup();
    }
  });

  for (const which of ['control plane', 'gateway'] as const) {
    it(`says which port is taken when the ${which}'s is, stops what it started and exits 1`, async () => {
      const work = workDir();
      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      const taken = (holder.address() as AddressInfo).port;
      let other = await freePort();
      while (other === taken) other = await freePort();
      const [control, gateway] = which === 'gateway' ? [other, taken] : [taken, other];
      try {
        // A karb up that hung instead of exiting is killed, and fails the test with code null.
        const r = await karb(['up', '--port', String(control), '--gateway-port', String(gateway)], { cwd: work.dir, timeoutMs: 60_000 });
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`karb: the ${which} cannot listen on 127\\.0\\.0\\.1:${taken}: the port is already in use`));
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
        assert.equal(existsSync(join(work.dir, '.karb', 'karb.pid')), false, 'the state directory is unlocked');
        if (which === 'control plane') {
          // The gateway had started: it let go of its port.
          const again = createServer();
          await new Promise<void>((resolve, reject) => {
            again.once('error', reject);
            again.listen(other, '127.0.0.1', resolve);
          });
          await new Promise<void>((resolve) => again.close(() => resolve()));
        }
      } finally {
        await new Promise<void>((resolve) => holder.close(() => resolve()));
        work.cleanup();
      }
    });
  }
  it('karb gateway and karb serve say the same of a taken port and exit 1', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = String((holder.address() as AddressInfo).port);
    try {
      const gateway = await karb(['gateway', '--port', taken, '--control-plane', 'http://127.0.0.1:9', '--token', 't'], { timeoutMs: 60_000 });
      assert.equal(gateway.code, 1, gateway.stderr);
      assert.match(gateway.stderr, new RegExp(`karb: the gateway cannot listen on 127\\.0\\.0\\.1:${taken}: the port is already in use`));
      const serve = await karb(['serve', '--model', join(ROOT, 'models', 'fraud-v1.onnx'), '--port', taken], { timeoutMs: 60_000 });
      assert.equal(serve.code, 1, serve.stderr);
      assert.match(serve.stderr, new RegExp(`karb serve: the model server cannot listen on 127\\.0\\.0\\.1:${taken}: the port is already in use`));
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});
