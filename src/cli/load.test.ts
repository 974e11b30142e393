import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { parseLoadArgs, runLoadCommand, type LoadReport } from './load.ts';
import { answerAfter, closedPort, startTestServer } from '../loadgen/test-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'karb-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function capture(): Writable & { text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      text += String(chunk);
      callback();
    },
  });
  return Object.assign(stream, { text: () => text });
}

async function load(args: string[], options: { tty?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = capture();
  const stderr = Object.assign(capture(), { isTTY: options.tty ?? false });
  const code = await runLoadCommand(args, { stdout, stderr, env: {}, onInterrupt: () => () => {} });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

test('usage errors exit 2 with a message that says what to fix', async () => {
  const badCsv = join(dir, 'bad.csv');
  writeFileSync(badCsv, 't,tokens\n0,1\n0.5,2\nlater,3\n');
  const cases: Array<[string[], RegExp]> = [
    [[], /say where to send: --url URL, or --model NAME/],
    [['--url', 'http://x', '--model', 'm'], /either --url or --model, not both/],
    [['--url', 'ftp://x'], /--url must be an http:\/\/ or https:\/\/ URL/],
    [['--url', 'http://x', '--shape', 'zigzag'], /--shape must be one of constant, step, burst, ramp, sine, replay, got "zigzag"/],
    [['--url', 'http://x', '--to', '5'], /--to does not apply to --shape constant; it is for --shape step or ramp/],
    [['--url', 'http://x', '--shape', 'step'], /--shape step needs --to N, the rate after the step/],
    [['--url', 'http://x', '--duration', 'soon'], /--duration must be a duration such as 500ms, 30s, 5m or 1h, got "soon"/],
    [['--url', 'http://x', '--rate=-3'], /--rate must be 0 or more/],
    [['--url', 'http://x', '--shape', 'sine', '--rate', '10', '--amplitude', '20'], /amplitude \(20\) must not exceed the mean rate \(10\)/],
    [['--url', 'http://x', '--plot', 'out.png'], /--plot writes SVG; name the file with \.svg/],
    [['--url', 'http://x', '--header', 'no-colon'], /--header must look like 'name: value'/],
    [['--url', 'http://x', '--body-json', '{oops'], /--body-json is not valid JSON/],
    [['--model', 'fraud'], /--model needs a request body/],
    [['--url', 'http://x', '--shape', 'replay'], /--shape replay needs --csv FILE/],
    [['--url', 'http://x', '--csv', join(dir, 'missing.csv')], /cannot read --csv .*missing\.csv: no such file/],
    [['--url', 'http://x', '--csv', badCsv], new RegExp(`${badCsv.replace(/[.]/g, '\\.')}:4: "t" must be the arrival time in seconds from the start, got "later"`)],
    [['--url', 'http://x', '--csv', badCsv, '--seed', '3'], /--seed does not apply to --shape replay/],
    [['--url', 'http://x', '--nope'], /Unknown option '--nope'/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr, stdout } = await load(args);
    assert.equal(code, 2, `${args.join(' ')} → ${stderr}`);
    assert.match(stderr, message, args.join(' '));
    assert.match(stderr, /run 'karb load --help'/);
    assert.equal(stdout, '');
  }
});

test('--help prints the usage and exits 0', async () => {
  const { code, stdout } = await load(['--help']);
  assert.equal(code, 0);
  assert.match(stdout, /^usage: karb load/);
  assert.match(stdout, /--replicas-from URL/);
});

test('flags become the schedule and the target', () => {
  const config = parseLoadArgs(['--model', 'fraud', '--gateway', 'http://gw:9000/', '--body-json', '{"inputs":[]}', '--shape', 'burst', '--rate', '20', '--duration', '30s', '--factor', '3', '--burst-at', '10s', '--burst-for', '5s', '--header', 'Authorization: Bearer k1'], {});
  assert.notEqual(config, 'help');
  if (config === 'help') return;
  assert.equal(config.target.url, 'http://gw:9000/v2/models/fraud/infer');
  assert.equal(config.target.method, 'POST');
  assert.deepEqual(config.target.headers, { authorization: 'Bearer k1', 'content-type': 'application/json' });
  assert.equal(config.schedule.description, 'burst 20 req/s ×3 at 10s–15s for 30s (poisson, seed 1)');
  assert.equal(config.service, 'fraud');
  const viaEnv = parseLoadArgs(['--model', 'fraud', '--body-json', '{}'], { KARB_GATEWAY: 'http://10.0.0.1:8080' });
  assert.equal(viaEnv !== 'help' && viaEnv.target.url, 'http://10.0.0.1:8080/v2/models/fraud/infer');
  const step = parseLoadArgs(['--url', 'http://x/', '--shape', 'step', '--rate', '10', '--to', '40', '--duration', '1m'], {});
  assert.equal(step !== 'help' && step.schedule.description, 'step 10→40 req/s at 30s for 60s (poisson, seed 1)');
});

test('a duration flag takes a bare number as seconds', () => {
  const config = parseLoadArgs(['--url', 'http://x/', '--duration', '3', '--timeout', '.5'], {});
  assert.notEqual(config, 'help');
  if (config === 'help') return;
  assert.equal(config.schedule.durationMs, 3000);
  assert.equal(config.timeoutMs, 500);
});

test('an unreachable target exits 1 after trying, saying what to do', async () => {
  const port = await closedPort();
  const { code, stderr, stdout } = await load(['--model', 'fraud', '--gateway', `http://127.0.0.1:${port}`, '--body-json', '{}', '--duration', '1s']);
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED after 3 attempts\\); start the platform with 'karb up'`));
  assert.equal(stdout, '');
});

test('--model posts to the gateway; --json prints the report with errors by code', async () => {
  const server = await startTestServer(answerAfter(20, (req) => (req.index % 5 === 4 ? 503 : 200)));
  try {
    const { code, stdout, stderr } = await load([
      '--model', 'fraud', '--gateway', server.url, '--body-json', '{"inputs":[1]}', '--header', 'authorization: Bearer secret',
      '--rate', '40', '--duration', '1s', '--arrivals', 'uniform', '--json',
    ]);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout) as LoadReport;
    assert.equal(report.target.url, `${server.url}/v2/models/fraud/infer`);
    assert.equal(report.totals.sent, 40);
    assert.equal(report.totals.ok, 32);
    assert.deepEqual(report.totals.errorsByCode, { '503': 8 });
    assert.equal(report.rates.offeredRps, 40);
    assert.ok(report.latencyMs.p50 >= 15 && report.latencyMs.p99 >= report.latencyMs.p50);
    assert.equal(report.schedule.shape, 'constant');
    assert.ok(report.series.length >= 1);
    assert.equal(server.received.length, 40);
    for (const r of server.received) {
      assert.equal(r.method, 'POST');
      assert.equal(r.url, '/v2/models/fraud/infer');
      assert.equal(r.headers.authorization, 'Bearer secret');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.body, '{"inputs":[1]}');
    }
    assert.equal(stderr, ''); // not a terminal: no progress line
  } finally {
    await server.close();
  }
});

test('replay from CSV with a time scale; body fields come from its columns; plot with replicas; progress line', async () => {
  const server = await startTestServer((req, res) => {
    if (req.url.startsWith('/api/v1/replicas')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [{ service: 'chat', phase: 'Ready' }, { service: 'chat', phase: 'Starting' }, { service: 'other', phase: 'Ready' }] }));
      return;
    }
    answerAfter(5)(req, res);
  });
  const csv = join(dir, 'trace.csv');
  writeFileSync(csv, 't,tokens_in,tokens_out\n0,10,100\n2,20,200\n4,30,300\n10,40,400\n');
  const body = join(dir, 'body.json');
  writeFileSync(body, '{"max_tokens":{{tokens_out}}}');
  const plot = join(dir, 'run.svg');
  try {
    const { code, stdout, stderr } = await load([
      '--url', `${server.url}/v1/completions`, '--body', body, '--csv', csv, '--time-scale', '0.1',
      '--plot', plot, '--replicas-from', server.url,
    ], { tty: true });
    assert.equal(code, 0, stderr);
    const infer = server.received.filter((r) => r.url === '/v1/completions');
    assert.deepEqual(infer.map((r) => r.body), ['{"max_tokens":100}', '{"max_tokens":200}', '{"max_tokens":300}', '{"max_tokens":400}']);
    assert.ok(server.received.some((r) => r.url === '/api/v1/replicas'), 'the control plane was polled');
    assert.match(stdout, /^target {5}POST http:\/\/127\.0\.0\.1:\d+\/v1\/completions$/m);
    assert.match(stdout, /^schedule {3}replay of 4 arrivals at time scale 0\.1 for 2s$/m);
    assert.match(stdout, /^requests {3}4 offered · 4 sent · 0 dropped · 4 ok · 0 errors$/m);
    assert.match(stdout, /^replicas {3}chat 1→1 \(max 1\) · other 1→1 \(max 1\)$/m);
    const svg = readFileSync(plot, 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, />Ready replicas</);
    assert.match(svg, />chat</);
    // On a terminal, one progress line updates in place and is cleared at the end.
    assert.match(stderr, /\r\x1b\[2K1s\/2s {2}offered 3\/s {2}achieved \d\/s {2}p95 \d+(\.\d+)? ms {2}errors 0 {2}outstanding \d/);
    assert.ok(stderr.endsWith('\r\x1b[2K'));
  } finally {
    await server.close();
  }
});

test('a target that accepts connections but never answers in time exits 1', async () => {
  const server = await startTestServer(() => {
    // Never answers; the client's timeout ends each request.
  });
  try {
    const { code, stderr } = await load(['--url', server.url, '--rate', '10', '--duration', '300ms', '--arrivals', 'uniform', '--timeout', '200ms']);
    assert.equal(code, 1);
    assert.match(stderr, /no answer from http:\/\/127\.0\.0\.1:\d+\/: every request failed \(timeout ×3\)/);
  } finally {
    await server.close();
  }
});
