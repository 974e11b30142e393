import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { before, describe, it } from 'node:test';
import { UsageError } from '../errors.ts';
import { parseServeArgs } from './cli.ts';
import { CLI, ensureModels, metricValue, MODELS, NODE, REPO_ROOT } from './test-helpers.ts';
import { waitFor } from '../util/wait-for.ts';

describe('parseServeArgs', () => {
  it('applies the defaults and names the model after its file', () => {
    assert.deepEqual(parseServeArgs(['--model', 'models/fraud-v1.onnx']), {
      modelPath: 'models/fraud-v1.onnx',
      name: 'fraud-v1',
      host: '127.0.0.1',
      port: 8000,
      maxBatchSize: 32,
      maxDelayMs: 4,
      maxQueueRows: 1024,
      bodyLimitBytes: 8 * 1024 * 1024,
      intraOpThreads: undefined,
      modelThread: 'auto',
      drainTimeoutMs: 30_000,
      warmupRequests: 48,
      injectLatencyMs: 0,
      injectErrorRate: 0,
    });
  });

  it('reads every flag', () => {
    const config = parseServeArgs([
      '--model=m.onnx', '--port', '0', '--host', '0.0.0.0', '--name', 'scorer', '--max-batch-size', '8', '--max-delay-ms', '2.5',
      '--max-queue', '64', '--body-limit', '4096', '--intra-op-threads', '2', '--model-thread', 'worker', '--drain-timeout-ms', '500',
      '--warmup-requests', '0', '--inject-latency-ms', '30', '--inject-error-rate', '0.25',
    ]);
    assert.deepEqual(config, {
      modelPath: 'm.onnx', name: 'scorer', host: '0.0.0.0', port: 0, maxBatchSize: 8, maxDelayMs: 2.5, maxQueueRows: 64,
      bodyLimitBytes: 4096, intraOpThreads: 2, modelThread: 'worker', drainTimeoutMs: 500, warmupRequests: 0, injectLatencyMs: 30, injectErrorRate: 0.25,
    });
  });

  it('reads --inject-while, the file whose existence turns the injected faults on', () => {
    const config = parseServeArgs(['--model', 'm.onnx', '--inject-error-rate', '1', '--inject-while', '/tmp/faults-on']);
    assert.ok(config !== 'help');
    assert.equal(config.injectWhile, '/tmp/faults-on');
  });

  it('reads the drift flags', () => {
    const config = parseServeArgs(['--model', 'm.onnx', '--drift-reference', 'm.reference.json', '--drift-learn-rows', '500', '--drift-window-rows', '4000', '--drift-max-columns', '1024']);
    assert.ok(config !== 'help');
    assert.deepEqual(config.drift, { referencePath: 'm.reference.json', learnRows: 500, windowRows: 4000, maxColumns: 1024 });
  });

  it('reads --model-digest, the pinned SHA-256 of the model file', () => {
    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
    const config = parseServeArgs(['--model', 'm.onnx', '--model-digest', digest]);
    assert.ok(config !== 'help');
    assert.equal(config.modelDigest, digest);
  });

  it('takes a drift window of 400 rows, the smallest that is always judged once full', () => {
    const config = parseServeArgs(['--model', 'm.onnx', '--drift-window-rows', '400']);
    assert.ok(config !== 'help');
    assert.equal(config.drift?.windowRows, 400);
  });

  const usageErrors: Array<{ args: string[]; error: RegExp }> = [
    { args: [], error: /--model FILE is required/ },
    { args: ['--model', 'm.onnx', '--warmup-requests=-1'], error: /--warmup-requests must be/ },
    { args: ['--model'], error: /--model/ },
    { args: ['--model', 'm.onnx', '--bogus'], error: /Unknown option '--bogus'/ },
    { args: ['--model', 'm.onnx', 'extra'], error: /positional/ },
    { args: ['--model', 'm.onnx', '--port', 'http'], error: /--port must be a whole number, got "http"/ },
    { args: ['--model', 'm.onnx', '--port', '70000'], error: /--port must be a number from 0 to 65535, got "70000"/ },
    { args: ['--model', 'm.onnx', '--max-batch-size', '0'], error: /--max-batch-size must be a number from 1/ },
    { args: ['--model', 'm.onnx', '--max-batch-size', '2.5'], error: /--max-batch-size must be a whole number/ },
    { args: ['--model', 'm.onnx', '--max-delay-ms=-1'], error: /--max-delay-ms must be a number from 0/ },
    { args: ['--model', 'm.onnx', '--inject-error-rate', '1.5'], error: /--inject-error-rate must be a number from 0 to 1, got "1.5"/ },
    { args: ['--model', 'm.onnx', '--name', 'a/b'], error: /--name must be a non-empty name without '\/'/ },
    { args: ['--model', 'm.onnx', '--drift-learn-rows', '5'], error: /--drift-learn-rows must be a number from 10 to 1000000, got "5"/ },
    { args: ['--model', 'm.onnx', '--drift-window-rows', '399'], error: /--drift-window-rows must be a whole number from 400 to 10000000 \(the window keeps as few as half its rows, and drift is judged from 200\), got "399"/ },
    { args: ['--model', 'm.onnx', '--model-thread', 'gpu'], error: /^--model-thread must be auto, worker or main, got "gpu"$/ },
    { args: ['--model', 'm.onnx', '--drift-max-columns', '0'], error: /--drift-max-columns must be a number from 1 to 65536, got "0"/ },
    { args: ['--model', 'm.onnx', '--model-digest', 'ABCDEF'.padEnd(64, '0')], error: /^--model-digest must be sha256: followed by 64 lowercase hex digits: sha256:<the hash `sha256sum model\.onnx` prints>, got "ABCDEF0+"$/ },
    { args: ['--model', 'm.onnx', '--model-digest', `sha256:${'A'.repeat(64)}`], error: /^--model-digest must be sha256: followed by 64 lowercase hex digits/ },
    { args: ['--model', 'm.onnx', '--model-digest', `sha256:${'a'.repeat(63)}`], error: /^--model-digest must be sha256: followed by 64 lowercase hex digits/ },
  ];
  for (const c of usageErrors) {
    it(`refuses ${JSON.stringify(c.args)}`, () => {
      assert.throws(() => parseServeArgs(c.args), (err: unknown) => err instanceof UsageError && c.error.test(err.message));
    });
  }
});

/** Runs `karb serve` as a real child process; the test kills it if it is still running at the end. */
function startServe(t: { after(fn: () => void): void }, args: string[]) {
  const child = spawn(NODE, [CLI, 'serve', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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

async function listeningPort(proc: { lines: Array<Record<string, unknown>>; child: ChildProcess }): Promise<number> {
  await waitFor('the listening log line', () => proc.lines.some((l) => l.msg === 'listening') || proc.child.exitCode !== null);
  const line = proc.lines.find((l) => l.msg === 'listening');
  assert.ok(line, 'the server printed its listening line');
  assert.equal(line.level, 'info');
  return line.port as number;
}

function postJson(url: string, body: string, options: { holdBody?: boolean } = {}) {
  let finish = () => {};
  const reply = new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    if (options.holdBody) {
      const cut = Math.floor(body.length / 2);
      req.write(body.slice(0, cut));
      finish = () => req.end(body.slice(cut));
    } else {
      req.end(body);
    }
  });
  return { reply, finish: () => finish() };
}

const rowsBody = (k: number, rows: number) =>
  JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [rows, 8], data: Array.from({ length: rows * 8 }, (_, i) => Math.sin(k * 31 + i)) }] });

describe('karb serve (child process)', () => {
  before(() => ensureModels());

  it('exits 2 on a usage error and 1 on a model it cannot load, with a clear message', async (t) => {
    const usage = startServe(t, ['--port', '0']);
    assert.equal(await usage.exited, 2);
    assert.match(usage.stderr(), /karb serve: --model FILE is required/);
    assert.match(usage.stderr(), /usage: karb serve --model FILE/);

    const missing = startServe(t, ['--model', 'models/does-not-exist.onnx', '--port', '0']);
    assert.equal(await missing.exited, 1);
    assert.match(missing.stderr(), /karb serve: cannot load ONNX model 'models\/does-not-exist.onnx'/);
    assert.doesNotMatch(missing.stderr(), /\n\s+at /, 'no stack trace');
  });

  it('checks --model-digest before loading: the pinned file is served; another exits 1 with one line and loads nothing', async (t) => {
    const digest = `sha256:${createHash('sha256').update(readFileSync(MODELS.fraudV1)).digest('hex')}`;
    const pinned = startServe(t, ['--model', MODELS.fraudV1, '--model-digest', digest, '--port', '0', '--warmup-requests', '0']);
    const port = await listeningPort(pinned);
    assert.equal((await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status, 200);
    pinned.child.kill('SIGTERM');
    assert.equal(await pinned.exited, 0);

    const wrong = `sha256:${'0'.repeat(64)}`;
    const other = startServe(t, ['--model', MODELS.fraudV2, '--model-digest', digest, '--port', '0']);
    assert.equal(await other.exited, 1);
    assert.equal(
      other.stderr(),
      `karb serve: model file ${MODELS.fraudV2} has digest sha256:${createHash('sha256').update(readFileSync(MODELS.fraudV2)).digest('hex')}, but --model-digest pins ${digest}; the file changed or the pin is wrong\n`,
      'one line, no stack trace',
    );
    assert.deepEqual(other.lines.map((l) => l.msg), ['model digest refused'], 'nothing loaded, warmed up or listened');

    const missing = startServe(t, ['--model', 'models/does-not-exist.onnx', '--model-digest', wrong, '--port', '0']);
    assert.equal(await missing.exited, 1);
    assert.match(missing.stderr(), /^karb serve: cannot read model file models\/does-not-exist\.onnx to check its digest: ENOENT[^\n]*\n$/);
  });

  it('on SIGTERM: readiness 503 at once, new requests 503, every in-flight request answered 200, then exit 0', async (t) => {
    const proc = startServe(t, ['--model', MODELS.fraudV1, '--port', '0', '--max-delay-ms', '1', '--inject-latency-ms', '50', '--intra-op-threads', '1']);
    const port = await listeningPort(proc);
    const base = `http://127.0.0.1:${port}`;
    assert.deepEqual(proc.lines.map((l) => l.msg).slice(0, 3), ['model thread chosen', 'warmed up', 'listening']);
    const chosen = proc.lines[0]!;
    // fraud-v1 computes a batch in microseconds, but how long it took here is not asserted: the reason must match the choice.
    assert.match(String(chosen.reason), chosen.thread === 'main' ? /^a batch of 32 rows computes in [\d.]+ ms, within 0\.5 ms$/ : /^a batch of 32 rows computes in [\d.]+ ms, over 0\.5 ms$/);
    assert.equal(proc.lines[1]!.requests, 48, 'answered every warm-up request it sent itself');
    assert.equal(proc.lines[2]!.model, 'fraud-v1');
    assert.equal((await fetch(`${base}/v2/health/ready`)).status, 200);

    // One request is still uploading its body when the signal arrives, so the drain must wait for it.
    const slow = postJson(`${base}/v2/models/fraud-v1/infer`, rowsBody(0, 3), { holdBody: true });
    const busy = Array.from({ length: 6 }, (_, k) => postJson(`${base}/v2/models/fraud-v1/infer`, rowsBody(k + 1, 1)));
    await waitFor('7 requests in flight', async () => metricValue(await (await fetch(`${base}/metrics`)).text(), 'karb_serving_inflight_requests') === 7);

    proc.child.kill('SIGTERM');
    await waitFor('readiness to turn 503', async () => (await fetch(`${base}/v2/health/ready`)).status === 503);
    const refused = await postJson(`${base}/v2/models/fraud-v1/infer`, rowsBody(99, 1)).reply;
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.match(refused.body.error, /draining/);

    slow.finish();
    const replies = await Promise.all([slow.reply, ...busy.map((b) => b.reply)]);
    replies.forEach((r, k) => {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.outputs[0].shape, [k === 0 ? 3 : 1, 1]);
    });
    assert.equal(await proc.exited, 0);
    const messages = proc.lines.map((l) => l.msg);
    assert.ok(messages.includes('drained') && messages.includes('stopped'), messages.join(','));
  });
});
