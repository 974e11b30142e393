/**
 * Replica cold start: spawn → listening → first inference answered, for the
 * built-in server on the reference model (fraud-v1), beside the floor — a bare
 * Node process that starts an HTTP server and answers the same request — in
 * the same run. Target: karb serve ≤ 1 s.
 *
 *   node bench/cold-start.ts [--trials 7] [--json]
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const ROOT = join(import.meta.dirname, '..');
const { values } = parseArgs({ options: { trials: { type: 'string', default: '7' }, json: { type: 'boolean', default: false } } });
const trials = Number(values.trials);

const BODY = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [23.5, 13, 0.1, 3.2, 0, 0, 1, 1460] }] });
const BARE_SERVER = `
const http = require('node:http');
const s = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end('{"outputs":[]}')); });
s.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ msg: 'listening', port: s.address().port })));
process.on('SIGTERM', () => process.exit(0));`;

interface Trial {
  listeningMs: number;
  firstAnswerMs: number;
}

/** Starts the command, waits for its `listening` log line, then times the first answer. */
async function coldStart(args: string[], path: string): Promise<Trial> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let buffered = '';
      child.stdout!.on('data', (d: Buffer) => {
        buffered += d;
        for (const line of buffered.split('\n')) {
          if (line.includes('"listening"')) resolve(JSON.parse(line).port);
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code} before listening`)));
    });
    const listeningMs = performance.now() - t0;
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body: BODY });
    await res.text();
    if (!res.ok) throw new Error(`first answer was ${res.status}`);
    return { listeningMs, firstAnswerMs: performance.now() - t0 };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const bare: Trial[] = [];
const karb: Trial[] = [];
for (let i = 0; i < trials; i++) {
  // Alternate, so both see the same machine conditions.
  bare.push(await coldStart(['-e', BARE_SERVER], '/'));
  karb.push(await coldStart([join(ROOT, 'src/cli/main.ts'), 'serve', '--model', 'models/fraud-v1.onnx', '--port', '0'], '/v2/models/fraud-v1/infer'));
}

const result = {
  machine: `${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}`,
  node: process.version,
  trials,
  bareNode: { listeningMs: median(bare.map((t) => t.listeningMs)), firstAnswerMs: median(bare.map((t) => t.firstAnswerMs)) },
  karbServe: { listeningMs: median(karb.map((t) => t.listeningMs)), firstAnswerMs: median(karb.map((t) => t.firstAnswerMs)) },
};
const ratio = result.karbServe.firstAnswerMs / result.bareNode.firstAnswerMs;
if (values.json) console.log(JSON.stringify({ ...result, ratio, targetMs: 1000, met: result.karbServe.firstAnswerMs <= 1000 }, null, 2));
else {
  console.log(`Cold start, median of ${trials} (${result.machine}, Node ${result.node})\n`);
  console.log('| process | spawn → listening | spawn → first answer |');
  console.log('|---|---:|---:|');
  console.log(`| bare node:http server (floor) | ${result.bareNode.listeningMs.toFixed(0)} ms | ${result.bareNode.firstAnswerMs.toFixed(0)} ms |`);
  console.log(`| karb serve, fraud-v1.onnx | ${result.karbServe.listeningMs.toFixed(0)} ms | ${result.karbServe.firstAnswerMs.toFixed(0)} ms |`);
  console.log(`\nkarb serve / floor: ×${ratio.toFixed(2)}; target spawn → first answer ≤ 1000 ms: ${result.karbServe.firstAnswerMs <= 1000 ? 'met' : 'NOT met'}`);
}
