/**
 * A new replica's first requests, with and without warm-up: how much slower
 * the first 20 sequential inference requests to a fresh `karb serve` are than
 * the 20 after them, for `--warmup-requests 0` and the default, side by side in
 * the same run (a third, long-warmed server warms the client first, so only the
 * server's warm-up is measured). Target: with warm-up, the first 20 are no
 * slower than ×1.2 the next 20 (a canary's latency analysis allows ×1.2 by
 * default); also reported: spawn → ready, the price paid for it.
 *
 *   node bench/replica-warmup.ts [--trials 6] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const ROOT = join(import.meta.dirname, '..');
const { values } = parseArgs({ options: { trials: { type: 'string', default: '6' }, json: { type: 'boolean', default: false } } });
const trials = Number(values.trials);
const BODY = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [23.5, 13, 0.1, 3.2, 0, 0, 1, 1460] }] });

interface Started {
  child: ChildProcess;
  url: string;
  readyMs: number;
}

async function serve(extra: string[]): Promise<Started> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'serve', '--model', 'models/fraud-v1.onnx', '--port', '0', ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d;
      for (const line of buffered.split('\n')) if (line.includes('"listening"')) resolve(JSON.parse(line).port);
    });
    child.once('exit', (code) => reject(new Error(`karb serve exited ${code} before listening`)));
  });
  return { child, url: `http://127.0.0.1:${port}`, readyMs: performance.now() - t0 };
}

async function stop(s: Started): Promise<void> {
  s.child.kill('SIGTERM');
  if (s.child.exitCode === null) await new Promise((r) => s.child.once('exit', r));
}

async function sequential(url: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(`${url}/v2/models/fraud-v1/infer`, { method: 'POST', body: BODY, headers: { 'content-type': 'application/json' } });
    await res.text();
    if (!res.ok) throw new Error(`answered ${res.status}`);
    out.push(performance.now() - t);
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const clientWarmer = await serve([]);
await sequential(clientWarmer.url, 500);
const rows: Record<'cold' | 'warmed', { firstMs: number; nextMs: number; readyMs: number }[]> = { cold: [], warmed: [] };
for (let i = 0; i < trials; i++) {
  // Both start before either is measured, and the order alternates, so both see the same machine.
  const cold = await serve(['--warmup-requests', '0']);
  const warmed = await serve([]);
  await new Promise((r) => setTimeout(r, 500));
  for (const [kind, s] of (i % 2 === 0 ? [['cold', cold], ['warmed', warmed]] : [['warmed', warmed], ['cold', cold]]) as Array<['cold' | 'warmed', Started]>) {
    const times = await sequential(s.url, 40);
    rows[kind].push({ firstMs: mean(times.slice(0, 20)), nextMs: mean(times.slice(20)), readyMs: s.readyMs });
  }
  await Promise.all([stop(cold), stop(warmed)]);
}
await stop(clientWarmer);

const summary = (kind: 'cold' | 'warmed') => ({
  firstMs: median(rows[kind].map((r) => r.firstMs)),
  nextMs: median(rows[kind].map((r) => r.nextMs)),
  ratio: median(rows[kind].map((r) => r.firstMs / r.nextMs)),
  readyMs: median(rows[kind].map((r) => r.readyMs)),
});
const result = { machine: `${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}`, node: process.version, trials, cold: summary('cold'), warmed: summary('warmed'), target: 1.2 };
if (values.json) console.log(JSON.stringify({ ...result, met: result.warmed.ratio <= result.target }, null, 2));
else {
  console.log(`A fresh replica's first 20 requests vs the next 20, median of ${trials} (${result.machine}, Node ${result.node})\n`);
  console.log('| karb serve | spawn → listening | first 20 (mean) | next 20 (mean) | first / next |');
  console.log('|---|---:|---:|---:|---:|');
  for (const kind of ['cold', 'warmed'] as const) {
    const s = result[kind];
    console.log(`| ${kind === 'cold' ? '--warmup-requests 0' : 'default warm-up'} | ${s.readyMs.toFixed(0)} ms | ${s.firstMs.toFixed(2)} ms | ${s.nextMs.toFixed(2)} ms | ×${s.ratio.toFixed(2)} |`);
  }
  console.log(`\ntarget: warmed first / next ≤ ×${result.target}: ${result.warmed.ratio <= result.target ? 'met' : 'NOT met'}`);
}
