import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { before, test } from 'node:test';
import { parseServeArgs } from '../cli.ts';
import { CLI, ensureModels, MODELS, NODE, REPO_ROOT } from '../test-helpers.ts';
import { waitFor } from '../../util/wait-for.ts';
import { loadTinyLm } from './test-support.ts';

before(async () => {
  await ensureModels();
  await (await loadTinyLm()).close(); // generates tiny-lm.onnx when an older checkout lacks it
});

/** `karb serve` as a real child process, killed at the end of the test if still running. */
function serve(t: { after(fn: () => void): void }, args: string[]) {
  const child = spawn(NODE, [CLI, 'serve', ...args, '--port', '0'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, exited, stderr: () => stderr };
}

test('--openai is a flag; without it the mode is chosen from the model', () => {
  const forced = parseServeArgs(['--model', 'm.onnx', '--openai']);
  assert.ok(forced !== 'help' && forced.openai === true);
  const plain = parseServeArgs(['--model', 'm.onnx']);
  assert.ok(plain !== 'help' && plain.openai === undefined);
});

test('karb serve picks the OpenAI API for the tiny LM by itself, answers, and drains on SIGTERM', async (t) => {
  const proc = serve(t, ['--model', MODELS.tinyLm]);
  await waitFor('the listening line', () => proc.lines.some((l) => l.msg === 'listening') || proc.child.exitCode !== null);
  const listening = proc.lines.find((l) => l.msg === 'listening');
  assert.ok(listening, proc.stderr());
  assert.equal(listening.protocol, 'openai');
  assert.equal(listening.model, 'tiny-lm');
  const url = `http://127.0.0.1:${listening.port as number}`;
  assert.equal((await fetch(`${url}/v2/health/ready`)).status, 200);
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'tiny-lm', prompt: 'hi', max_tokens: 4 }) });
  assert.equal(res.status, 200);
  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0);
  assert.ok(proc.lines.some((l) => l.msg === 'stopped'));
});

test('--openai on a model that is not a language model fails with a clear message', async (t) => {
  const proc = serve(t, ['--model', MODELS.fraudV1, '--openai']);
  assert.equal(await proc.exited, 1);
  assert.match(proc.stderr(), /not a language model the OpenAI API can serve: it needs one input 'input_ids'/);
});
