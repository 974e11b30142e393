/**
 * Model server benchmark:
 *   node bench/model-server.ts [--json] [--quick] [--rounds N] [--seconds N] [--warmup N] [--threads N]
 *
 * 1. Compute-bound, models/wide-mlp.onnx: rows/s of raw in-process ONNX Runtime
 *    running batches of 32 back to back, vs `karb serve --max-batch-size 32` over
 *    HTTP at saturating concurrency, for several request shapes: one row per
 *    request in JSON (the batcher builds every batch from 32 callers), 8 rows in
 *    JSON, and 8 and 32 rows with the binary tensor extension. Target: ≥ 85% of raw.
 *    Both use the same session settings and `--threads` intra-op threads
 *    (default: every CPU). Also reported: CPU time per row of the server process
 *    against raw ONNX Runtime's (CPU efficiency), which does not depend on the
 *    load generator sharing the machine.
 * 2. HTTP-bound, models/fraud-v1.onnx: requests/s of `karb serve` vs a bare
 *    node:http server (bench/model-server-bare.ts) answering the same response
 *    bytes, same client, same concurrency, one row per JSON request. Target: ≥ 50%.
 *
 * Servers run as child processes, as the embedded runtime starts them. The load
 * comes from this process: one undici Pool, one keep-alive connection per
 * concurrent request, closed loop. Raw ONNX Runtime runs in this process while the
 * server idles; each wide-mlp case takes `--rounds` turns of raw then server, the
 * order alternating, so a busy machine weighs on both sides of the ratio alike.
 * Defaults: 3 rounds of 4 s (~2 min in all); `--quick`: 2 rounds of 2 s. On a small machine the client competes with the server for
 * the same cores; the CPU columns show how much of the gap that is.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { Pool } from 'undici';
import { readProcessCpuSeconds } from '../src/runtime/local/proc-stat.ts';
import { CLI, ensureModels, REPO, startChild, type Child } from './support.ts';

const MODELS = { wide: path.join(REPO, 'models/wide-mlp.onnx'), fraud: path.join(REPO, 'models/fraud-v1.onnx') };

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    threads: { type: 'string' },
  },
});
/** Per wide-mlp case, rounds of raw ONNX Runtime and karb serve, alternating which goes first (default 3; --quick 2). */
const ROUNDS = Number(flags.rounds ?? (flags.quick ? 2 : 3));
const SECONDS = Number(flags.seconds ?? (flags.quick ? 2 : 4));
const WARMUP = Number(flags.warmup ?? (flags.quick ? 0.5 : 1));
const THREADS = Number(flags.threads ?? os.availableParallelism());
const BATCH = 32;
const CLIENT = 'undici Pool in the benchmark process (closed loop, keep-alive, one connection per concurrent request); servers are child processes';

interface WideCase {
  name: string;
  rowsPerRequest: number;
  binary: boolean;
  concurrency: number;
}
const WIDE_CASES: WideCase[] = [
  { name: 'JSON, 1 row/request', rowsPerRequest: 1, binary: false, concurrency: 96 },
  { name: 'JSON, 8 rows/request', rowsPerRequest: 8, binary: false, concurrency: 16 },
  { name: 'binary, 8 rows/request', rowsPerRequest: 8, binary: true, concurrency: 16 },
  { name: 'binary, 32 rows/request', rowsPerRequest: 32, binary: true, concurrency: 6 },
];
const FRAUD_CONCURRENCY = 64;

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** Deterministic, distinct rows. */
function rows(count: number, width: number, seed: number): Float32Array {
  const out = new Float32Array(count * width);
  for (let i = 0; i < out.length; i++) out[i] = Math.sin(seed * 7.31 + i * 0.377) * 2;
  return out;
}

interface Body {
  body: string | Buffer;
  headers: Record<string, string>;
}

function inferBody(input: string, data: Float32Array, width: number, binary: boolean): Body {
  const shape = [data.length / width, width];
  if (!binary) {
    return { body: JSON.stringify({ inputs: [{ name: input, datatype: 'FP32', shape, data: Array.from(data) }] }), headers: { 'content-type': 'application/json' } };
  }
  const header = JSON.stringify({ inputs: [{ name: input, datatype: 'FP32', shape, parameters: { binary_data_size: data.byteLength } }], parameters: { binary_data_output: true } });
  return {
    body: Buffer.concat([Buffer.from(header), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(Buffer.byteLength(header)) },
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc on Linux; undefined elsewhere. */
function processCpuSeconds(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : readProcessCpuSeconds(pid);
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}


// ---------------------------------------------------------------------------

interface RawResult {
  rowsPerSecond: number;
  cpuMicrosPerRow: number;
}

/** Raw in-process ONNX Runtime, batches of 32 back to back; `measure(seconds)` can be called between server runs. */
async function rawOrt(): Promise<{ measure(seconds: number): Promise<RawResult>; close(): Promise<void> }> {
  // The model server's session settings (src/serving/ort-session.ts).
  const session = await InferenceSession.create(MODELS.wide, {
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    interOpNumThreads: 1,
    intraOpNumThreads: THREADS,
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  const feeds = { x: new Tensor('float32', rows(BATCH, 256, 1), [BATCH, 256]) };
  const measure = async (seconds: number): Promise<RawResult> => {
    let runs = 0;
    const cpu0 = ownCpuSeconds();
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) {
      await session.run(feeds);
      runs++;
    }
    const elapsed = (performance.now() - start) / 1000;
    return { rowsPerSecond: (runs * BATCH) / elapsed, cpuMicrosPerRow: ((ownCpuSeconds() - cpu0) * 1e6) / (runs * BATCH) };
  };
  await measure(WARMUP);
  return { measure, close: () => session.release() };
}

interface LoadResult {
  requestsPerSecond: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU seconds per second of the server process and of this (client) process during the measurement. */
  serverCores: number | undefined;
  clientCores: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Closed-loop load: `concurrency` callers, each sending its next request when the last is answered. */
async function closedLoop(server: Child, requestPath: string, bodies: readonly Body[], concurrency: number): Promise<LoadResult> {
  const pool = new Pool(server.url, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  let measuring = false;
  let stop = false;
  let done = 0;
  let errors = 0;
  const latencies: number[] = [];
  const caller = async (id: number) => {
    let i = id;
    while (!stop) {
      const { body, headers } = bodies[i++ % bodies.length]!;
      const t0 = performance.now();
      try {
        const res = await pool.request({ path: requestPath, method: 'POST', body, headers });
        await res.body.arrayBuffer();
        if (res.statusCode !== 200 && measuring) errors++;
      } catch {
        if (measuring) errors++;
      }
      if (measuring) {
        done++;
        latencies.push(performance.now() - t0);
      }
    }
  };
  const callers = Array.from({ length: concurrency }, (_, id) => caller(id));
  await sleep(WARMUP * 1000);
  const serverCpu0 = processCpuSeconds(server.process.pid);
  const clientCpu0 = ownCpuSeconds();
  measuring = true;
  const start = performance.now();
  await sleep(SECONDS * 1000);
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  const serverCpu1 = processCpuSeconds(server.process.pid);
  const clientCores = (ownCpuSeconds() - clientCpu0) / elapsed;
  const counted = done;
  stop = true;
  await Promise.all(callers);
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    requestsPerSecond: counted / elapsed,
    errors,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    serverCores: serverCpu0 === undefined || serverCpu1 === undefined ? undefined : (serverCpu1 - serverCpu0) / elapsed,
    clientCores,
  };
}

/** Rounds of equal length pooled: mean rates and CPU, median percentiles. */
function pooledRaw(rounds: readonly RawResult[]): RawResult {
  return { rowsPerSecond: mean(rounds.map((r) => r.rowsPerSecond)), cpuMicrosPerRow: mean(rounds.map((r) => r.cpuMicrosPerRow)) };
}

function pooledLoad(rounds: readonly LoadResult[]): LoadResult {
  const serverCores = rounds.every((r) => r.serverCores !== undefined) ? mean(rounds.map((r) => r.serverCores!)) : undefined;
  return {
    requestsPerSecond: mean(rounds.map((r) => r.requestsPerSecond)),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    serverCores,
    clientCores: mean(rounds.map((r) => r.clientCores)),
  };
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function median(values: readonly number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  await ensureModels();
  const cpus = os.availableParallelism();

  // Raw ONNX Runtime is measured right before each server case (the server idles meanwhile),
  // so both sides of each ratio see the same machine conditions.
  const raw = await rawOrt();
  const wideServer = await startChild([CLI, 'serve', '--model', MODELS.wide, '--port', '0', '--max-batch-size', String(BATCH), '--intra-op-threads', String(THREADS)]);
  const wide: Array<
    WideCase & LoadResult & { raw: RawResult; rowsPerSecond: number; ratio: number; serverCpuMicrosPerRow: number | undefined; cpuEfficiency: number | undefined; roundRatios: number[] }
  > = [];
  try {
    for (const c of WIDE_CASES) {
      log(`wide-mlp: raw ONNX Runtime (batch ${BATCH}, ${THREADS} threads) and karb serve with ${c.name}, ${c.concurrency} concurrent requests, ${ROUNDS} alternating rounds…`);
      const bodies = Array.from({ length: 64 }, (_, k) => inferBody('x', rows(c.rowsPerRequest, 256, 1000 + k), 256, c.binary));
      // Raw and server take turns (raw first, then server first, ...) so that both see the same machine.
      const rounds: Array<{ raw: RawResult; load: LoadResult }> = [];
      for (let r = 0; r < ROUNDS; r++) {
        if (r % 2 === 0) {
          const rawRound = await raw.measure(SECONDS);
          rounds.push({ raw: rawRound, load: await closedLoop(wideServer, '/v2/models/wide-mlp/infer', bodies, c.concurrency) });
        } else {
          const load = await closedLoop(wideServer, '/v2/models/wide-mlp/infer', bodies, c.concurrency);
          rounds.push({ raw: await raw.measure(SECONDS), load });
        }
      }
      const rawNow = pooledRaw(rounds.map((r) => r.raw));
      const load = pooledLoad(rounds.map((r) => r.load));
      const rowsPerSecond = load.requestsPerSecond * c.rowsPerRequest;
      const serverCpuMicrosPerRow = load.serverCores === undefined ? undefined : (load.serverCores * 1e6) / rowsPerSecond;
      wide.push({
        ...c,
        ...load,
        raw: rawNow,
        rowsPerSecond,
        ratio: rowsPerSecond / rawNow.rowsPerSecond,
        serverCpuMicrosPerRow,
        cpuEfficiency: serverCpuMicrosPerRow === undefined ? undefined : rawNow.cpuMicrosPerRow / serverCpuMicrosPerRow,
        roundRatios: rounds.map((r) => (r.load.requestsPerSecond * c.rowsPerRequest) / r.raw.rowsPerSecond),
      });
    }
  } finally {
    await wideServer.stop();
    await raw.close();
  }

  log(`fraud-v1: karb serve vs bare node:http, ${FRAUD_CONCURRENCY} concurrent one-row JSON requests…`);
  const fraudBodies = Array.from({ length: 256 }, (_, k) => inferBody('features', rows(1, 8, 5000 + k), 8, false));
  const fraudServer = await startChild([CLI, 'serve', '--model', MODELS.fraud, '--port', '0', '--max-batch-size', String(BATCH)]);
  let fraudLoad: LoadResult;
  let sample: string;
  try {
    const res = await fetch(`${fraudServer.url}/v2/models/fraud-v1/infer`, { method: 'POST', body: fraudBodies[0]!.body, headers: fraudBodies[0]!.headers });
    sample = await res.text();
    fraudLoad = await closedLoop(fraudServer, '/v2/models/fraud-v1/infer', fraudBodies, FRAUD_CONCURRENCY);
  } finally {
    await fraudServer.stop();
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'karb-bench-'));
  const responseFile = path.join(dir, 'response.json');
  writeFileSync(responseFile, sample);
  const bare = await startChild([path.join(REPO, 'bench/model-server-bare.ts'), responseFile]);
  let bareLoad: LoadResult;
  try {
    bareLoad = await closedLoop(bare, '/v2/models/fraud-v1/infer', fraudBodies, FRAUD_CONCURRENCY);
  } finally {
    await bare.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const fraudRatio = fraudLoad.requestsPerSecond / bareLoad.requestsPerSecond;

  const result = {
    machine: { cpus, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version },
    settings: { rounds: ROUNDS, seconds: SECONDS, warmupSeconds: WARMUP, maxBatchSize: BATCH, intraOpThreads: THREADS, client: CLIENT },
    wideMlp: { target: 0.85, cases: wide.map((w) => ({ ...w, pass: w.ratio >= 0.85 })) },
    fraud: { target: 0.5, ratio: fraudRatio, pass: fraudRatio >= 0.5, concurrency: FRAUD_CONCURRENCY, server: fraudLoad, bare: bareLoad },
  };

  if (flags.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return;
  }
  const n = (v: number) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));
  const pct = (r: number | undefined) => (r === undefined ? 'n/a' : `${(r * 100).toFixed(1)}%`);
  const us = (v: number | undefined) => (v === undefined ? 'n/a' : `${v.toFixed(0)} µs`);
  const perRequest = (l: LoadResult) => (l.serverCores === undefined ? undefined : (l.serverCores * 1e6) / l.requestsPerSecond);
  const lines = [
    `Model server benchmark: ${cpus} CPUs (${result.machine.cpuModel}), Node ${process.version}, ${SECONDS} s per measurement after ${WARMUP} s warm-up, ${ROUNDS} alternating rounds per wide-mlp case, ${THREADS} intra-op threads`,
    '',
    `wide-mlp (compute-bound), rows/s, max batch ${BATCH}; raw = in-process ONNX Runtime, batches of ${BATCH}, in rounds alternating with the server's (rates are the rounds' mean)`,
    '',
    '| requests | concurrency | karb serve rows/s | raw rows/s | ratio (≥ 85%) | p50 / p99 ms | server CPU/row | raw CPU/row | CPU efficiency | client CPU |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...wide.map(
      (w) =>
        `| ${w.name} | ${w.concurrency} | ${n(w.rowsPerSecond)} | ${n(w.raw.rowsPerSecond)} | ${pct(w.ratio)} ${w.ratio >= 0.85 ? '✓' : '✗'} (rounds ${w.roundRatios.map((r) => pct(r)).join(', ')}) | ${n(w.p50Ms)} / ${n(w.p99Ms)} | ${us(w.serverCpuMicrosPerRow)} | ${us(w.raw.cpuMicrosPerRow)} | ${pct(w.cpuEfficiency)} | ${w.clientCores.toFixed(2)} cores |`,
    ),
    '',
    `fraud-v1 (HTTP-bound), requests/s, one row per JSON request, concurrency ${FRAUD_CONCURRENCY}`,
    '',
    '| server | requests/s | p50 / p99 ms | server CPU/request | client CPU | errors |',
    '|---|---|---|---|---|---|',
    `| karb serve | ${n(fraudLoad.requestsPerSecond)} | ${n(fraudLoad.p50Ms)} / ${n(fraudLoad.p99Ms)} | ${us(perRequest(fraudLoad))} | ${fraudLoad.clientCores.toFixed(2)} cores | ${fraudLoad.errors} |`,
    `| bare node:http, same response bytes | ${n(bareLoad.requestsPerSecond)} | ${n(bareLoad.p50Ms)} / ${n(bareLoad.p99Ms)} | ${us(perRequest(bareLoad))} | ${bareLoad.clientCores.toFixed(2)} cores | ${bareLoad.errors} |`,
    `| **ratio** (target ≥ 50%) | **${pct(fraudRatio)}** ${fraudRatio >= 0.5 ? '✓' : '✗'} | | | | |`,
    '',
    `CPU efficiency = raw ONNX Runtime CPU per row ÷ server process CPU per row. Client: ${CLIENT}.`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/model-server: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
