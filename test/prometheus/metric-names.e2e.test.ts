/**
 * Every karb component's /metrics follows Prometheus' naming, as `promtool check metrics` lints
 * it and as naming.ts adds: the model server in both of its modes (Open Inference Protocol and
 * OpenAI), after real requests so that every family has series. karb up's /metrics (control plane
 * and gateway) is checked in prometheus.e2e.test.ts, where it runs with traffic.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, KARB, ROOT, waitFor } from '../helpers.ts';
import { namingProblems } from './naming.ts';
import { promtoolCheckMetrics } from './promtool.ts';

const children: ChildProcess[] = [];

after(async () => {
  for (const child of children) {
    if (child.exitCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
});

async function serve(model: string, name: string): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, [KARB, 'serve', '--model', join(ROOT, 'models', model), '--name', name, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`karb serve ${model} to be ready`, async () => {
    if (child.exitCode !== null) throw new Error(`karb serve exited ${child.exitCode}: ${output.slice(-2000)}`);
    return (await fetch(`${url}/v2/health/ready`)).ok;
  }, 120_000).catch((err: Error) => {
    throw new Error(`${err.message}\nits output: ${output.slice(-2000)}`);
  });
  return url;
}

test('the model server’s /metrics (Open Inference Protocol) follows the naming rules', async () => {
  const url = await serve('fraud-v1.onnx', 'fraud');
  const body = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] }] });
  const res = await fetch(`${url}/v2/models/fraud/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(res.status, 200, await res.text());
  const text = await (await fetch(`${url}/metrics`)).text();
  assert.match(text, /^karb_serving_batch_rows_count\{[^}]*\} 1$/m);
  assert.deepEqual(namingProblems(text), []);
  const lint = await promtoolCheckMetrics(text);
  assert.equal(lint.code, 0, lint.output);
});

test('the model server’s /metrics (OpenAI) follows the naming rules', async () => {
  const url = await serve('tiny-lm.onnx', 'tiny-lm');
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-lm', prompt: 'hi', max_tokens: 2 }) });
  assert.equal(res.status, 200, await res.text());
  const text = await (await fetch(`${url}/metrics`)).text();
  assert.match(text, /^karb_serving_generated_tokens_total(\{[^}]*\})? [1-9]/m);
  assert.deepEqual(namingProblems(text), []);
  const lint = await promtoolCheckMetrics(text);
  assert.equal(lint.code, 0, lint.output);
});

test('the naming rules catch what they name', () => {
  const text = [
    '# TYPE karb_jobs gauge',
    '# TYPE karb_jobs_total counter',
    '# TYPE karb_latency_ms histogram',
    '# TYPE karb_served counter',
    '# TYPE http_requests_total counter',
  ].join('\n');
  assert.deepEqual(namingProblems(text), [
    'karb_jobs_total and karb_jobs both claim the name karb_jobs',
    'karb_latency_ms: not a base unit (seconds, bytes)',
    'karb_served: a counter must end in _total',
    'http_requests_total: not karb_ and snake_case',
  ]);
});
