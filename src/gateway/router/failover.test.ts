// SIGKILL one of three real `karb serve` replicas under steady open-loop load:
// retries (connect errors, resets) and outlier ejection keep callers whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createHttpSender, runOpenLoop } from '../../loadgen/runner.ts';
import { generatedSchedule } from '../../loadgen/schedule.ts';
import { CLI, MODELS, NODE, REPO_ROOT, ensureModels } from '../../serving/test-helpers.ts';
import { startGateway } from '../server/gateway.ts';
import { InMemoryRoutingTable } from '../discovery/routing-table.ts';
import { revision, route } from '../server/test-support.ts';
import { waitFor } from '../../util/wait-for.ts';

interface Serve {
  child: ChildProcess;
  port: Promise<number>;
}

function startServe(): Serve {
  const child = spawn(
    NODE,
    [CLI, 'serve', '--model', MODELS.fraudV1, '--port', '0', '--intra-op-threads', '1', '--max-delay-ms', '1'],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const port = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const record = JSON.parse(line) as { msg?: string; port?: number };
        if (record.msg === 'listening' && typeof record.port === 'number') resolve(record.port);
      } catch {
        // not a log record
      }
    });
    child.once('exit', (code) => reject(new Error(`karb serve exited with ${code} before listening`)));
  });
  port.catch(() => {});
  return { child, port };
}

const BODY = JSON.stringify({
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 8], data: [0.1, 0.5, 0.2, 0.9, 0.3, 0.1, 0.7, 0.4] }],
});

test('SIGKILL of one of three real replicas under 200 req/s: every request succeeds', async (t) => {
  await ensureModels();
  const replicas = [startServe(), startServe(), startServe()];
  t.after(() => {
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  });
  const ports = await Promise.all(replicas.map((r) => r.port));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  await waitFor('three ready replicas', async () => {
    const states = await Promise.all(urls.map((u) => fetch(`${u}/v2/health/ready`).then((r) => r.status, () => 0)));
    return states.every((s) => s === 200);
  }, 30_000);

  const table = new InMemoryRoutingTable();
  table.replace([route('fraud-v1', [revision('fraud-v1-00001', 100, urls)])]);
  const gw = await startGateway({ routingTable: table, port: 0 });
  t.after(() => gw.close());
  const sender = createHttpSender(
    { url: `${gw.url}/v2/models/fraud-v1/infer`, method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY },
    { connections: 64, timeoutMs: 10_000 },
  );
  t.after(() => sender.close());

  const victim = replicas[1]!.child;
  const kill = setTimeout(() => victim.kill('SIGKILL'), 1_500);
  t.after(() => clearTimeout(kill));
  const result = await runOpenLoop({
    schedule: generatedSchedule({ shape: 'constant', rate: 200 }, { durationMs: 5_000, seed: 7, arrivals: 'uniform' }),
    send: sender.send,
  });
  assert.ok(victim.signalCode === 'SIGKILL', 'the replica was killed during the run');
  const { sent, ok, errorsByCode, unfinished } = result.totals;
  const text = await gw.metrics();
  const retries = text
    .split('\n')
    .filter((l) => l.startsWith('karb_gateway_retries_total{') || l.startsWith('karb_gateway_retry_budget_exhausted_total{'))
    .join('; ');
  t.diagnostic(`sent ${sent}, ok ${ok} (${((100 * ok) / sent).toFixed(2)}%), errors ${JSON.stringify(errorsByCode)}; ${retries}`);
  assert.equal(unfinished, 0);
  assert.ok(sent >= 900, `the load ran (${sent} sent)`);
  assert.equal(ok, sent, `${ok} of ${sent} succeeded; errors ${JSON.stringify(errorsByCode)}`);
  assert.match(text, /karb_gateway_retries_total\{service="fraud-v1",reason="(connect|reset)"\} [1-9]/);
});
