/** The built-in ONNX server (`karb serve`) started, probed and drained through the local runtime. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { LocalRuntime } from './local-runtime.ts';
import { isProcessAlive } from './process-identity.ts';
import { fixtureResources, reasons, recordEvents, scratch, waitFor } from './testdata/helpers.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const modelPath = fileURLToPath(new URL('../../../models/fraud-v1.onnx', import.meta.url));

test('a replica of the built-in ONNX server becomes ready, answers inference, and drains on stop', async (t) => {
  if (!existsSync(modelPath)) {
    execFileSync(process.execPath, ['scripts/make-models.ts', '--if-missing'], { cwd: root, stdio: 'inherit' });
  }
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, probe: { readyIntervalMs: 200 } }));
  const events = recordEvents(runtime);
  await runtime.ensureRevision(
    {
      revision: 'fraud-detector-00001',
      service: 'fraud-detector',
      namespace: 'default',
      model: { format: 'onnx', uri: pathToFileURL(modelPath).href, name: 'fraud-detector', batching: { maxBatchSize: 8, maxDelayMs: 2 } },
      resources: fixtureResources,
      drainSeconds: 20,
    },
    1,
  );
  const [endpoint] = await waitFor('karb serve to be ready', () => (runtime.endpoints().length === 1 ? runtime.endpoints() : undefined), 60_000);
  const replica = runtime.replicas()[0]!;

  const res = await fetch(`${endpoint!.url}/v2/models/fraud-detector/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [1890, 3, 0.9, 850, 7, 1, 0, 20] }] }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { outputs: Array<{ data: number[] }> };
  const p = body.outputs[0]!.data[0]!;
  assert.ok(p >= 0 && p <= 1, `a probability, got ${p}`);

  await runtime.removeRevision('default', 'fraud-detector-00001');
  await runtime.settled();
  assert.equal(isProcessAlive(replica.pid!), false);
  assert.match(reasons(events, 'ReplicaStopped')[0]!.message, /exited with code 0 after SIGTERM/);
  assert.match(readFileSync(replica.logFile, 'utf8'), /"msg":"listening"/);
});
