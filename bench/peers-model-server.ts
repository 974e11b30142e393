/**
 * Model server vs the peers users would pick instead:
 *   node bench/peers-model-server.ts [--json] [--quick] [--rounds N] [--seconds N] [--min-requests N] [--only kserve,ray-serve]
 *
 * `karb serve`, KServe's Python model server (a kserve.Model subclass with ONNX
 * Runtime, bench/peers/kserve-model-server.py) and Ray Serve (a deployment with
 * `@serve.batch`, bench/peers/ray-serve-model-server.py) serve the same ONNX file
 * over the same Open Inference Protocol v2 REST route, on loopback, with the same
 * ONNX Runtime session settings and intra-op threads. The peers come from PyPI,
 * pinned, each in its own cached venv (bench/peers/model-server-peers.ts); a peer
 * that cannot be installed or started is reported with the reason, and the others
 * are still measured.
 *
 * For each model — fraud-v1.onnx (small, HTTP-bound) and wide-mlp.onnx
 * (compute-bound) — with one-row JSON requests:
 * - throughput at saturation: closed loop, CONCURRENCY keep-alive callers;
 * - p50 / p99 at fixed open-loop rates (karb's own runner, src/loadgen/runner.ts,
 *   Poisson arrivals; latency from each request's scheduled time).
 * Every measurement alternates between the servers within a round, and the order
 * rotates from round to round, so all of them see the same machine. Latencies are
 * pooled over the rounds; throughput is the median round. CPU is the whole process
 * tree's (Ray runs several processes), memory is the tree's proportional set size.
 *
 * Goals: karb ≥ 3× KServe's throughput on the small model; karb's p99 below both
 * peers' at the fixed rates. `--json` prints everything, ratios included (and the table on stderr).
 * An open loop runs SECONDS, or longer at a low rate, until it has sent `--min-requests` (200).
 * Defaults take about 10½ minutes; `--quick` about 2½ (most of it starting and stopping Ray).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { createHttpSender, preciseClock, runOpenLoop } from '../src/loadgen/runner.ts';
import { generatedSchedule } from '../src/loadgen/schedule.ts';
import { MODEL_SERVER_PEERS, peerEnv, type ModelServerPeer } from './peers/model-server-peers.ts';
import { installedVersion } from './peers/python-env.ts';
import { processTree, treeCpuSeconds, treePssMiB } from './peers/proc-tree.ts';
import { CLI, NODE, REPO } from './support.ts';


const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    only: { type: 'string' },
    threads: { type: 'string' },
    'min-requests': { type: 'string' },
  },
});
const QUICK = flags.quick;
const ROUNDS = Number(flags.rounds ?? (QUICK ? 1 : 3));
const SECONDS = Number(flags.seconds ?? (QUICK ? 2 : 3));
const WARMUP_SECONDS = 1;
/**
 * Requests per open-loop measurement at least: a low rate runs longer than SECONDS, so that the
 * p99 pooled over the rounds is a p99 (at 10 req/s for 3 s it would be the slowest of ~90 requests).
 */
const MIN_OPEN_LOOP_REQUESTS = Number(flags['min-requests'] ?? (QUICK ? 60 : 200));
const THREADS = Number(flags.threads ?? os.availableParallelism());
const CONCURRENCY = 64;
const ONLY = flags.only === undefined ? undefined : new Set(flags.only.split(','));

interface ModelCase {
  key: 'fraud' | 'wide';
  name: string;
  file: string;
  input: string;
  width: number;
  /**
   * Open-loop rates, requests/s: requests that arrive alone (10/s), a rate every server keeps up
   * with on two cores, and one near KServe's capacity there (Ray Serve falls behind at it).
   */
  rates: number[];
}
const MODELS: ModelCase[] = [
  { key: 'fraud', name: 'fraud-v1', file: path.join(REPO, 'models/fraud-v1.onnx'), input: 'features', width: 8, rates: [10, 100, 1000] },
  { key: 'wide', name: 'wide-mlp', file: path.join(REPO, 'models/wide-mlp.onnx'), input: 'x', width: 256, rates: [10, 100, 300] },
];

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Deterministic, distinct one-row requests (the fraud row is examples/fraud-request.json's first). */
function bodies(model: ModelCase, count: number): string[] {
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    const data =
      model.key === 'fraud' && k === 0
        ? [23.5, 13, 0.1, 3.2, 0, 0, 1, 1460]
        : Array.from({ length: model.width }, (_, i) => Math.round(Math.sin(k * 7.31 + i * 0.377) * 2000) / 1000);
    out.push(JSON.stringify({ inputs: [{ name: model.input, shape: [1, model.width], datatype: 'FP32', data }] }));
  }
  return out;
}
const JSON_HEADERS = { 'content-type': 'application/json' };

// --- servers ----------------------------------------------------------------

interface Server {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts a child and waits for the line that says it listens; `port` reads the port from a line. */
async function startChild(name: string, command: string, args: string[], port: (line: string) => number | undefined, timeoutMs: number): Promise<Server> {
  const child: ChildProcess = spawn(command, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  const tail: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const listening = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not listen within ${timeoutMs / 1000} s: ${tail.slice(-5).join(' | ')}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const p = port(line);
      if (p !== undefined) {
        clearTimeout(timer);
        resolve(p);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited ${code} before listening: ${tail.slice(-5).join(' | ')}`));
    });
  }).catch(async (err: unknown) => {
    killTree(child.pid!);
    await exited;
    throw err;
  });
  return {
    name,
    url: `http://127.0.0.1:${listening}`,
    pid: child.pid!,
    async stop() {
      // Everything it started, listed before it goes (Ray's processes outlive a killed driver).
      const tree = processTree(child.pid!);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      await sleep(500);
      for (const pid of tree) killPid(pid);
    },
  };
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
function killTree(pid: number): void {
  for (const p of processTree(pid)) killPid(p);
}

function startKarb(model: ModelCase): Promise<Server> {
  return startChild(
    'karb serve',
    NODE,
    [CLI, 'serve', '--model', model.file, '--port', '0', '--intra-op-threads', String(THREADS)],
    (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        return entry.msg === 'listening' && typeof entry.port === 'number' ? entry.port : undefined;
      } catch {
        return undefined;
      }
    },
    30_000,
  );
}

async function startPeer(peer: ModelServerPeer, python: string, model: ModelCase): Promise<Server> {
  const port = await freePort();
  return startChild(
    peer.name,
    python,
    [peer.script, '--model', model.file, '--name', model.name, '--port', String(port), '--threads', String(THREADS)],
    (line) => (/^listening (\d+)$/.exec(line.trim()) ? port : undefined),
    180_000,
  );
}

// --- load ---------------------------------------------------------------------

interface Saturation {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU seconds per second of the server's whole process tree. */
  serverCores: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Closed loop: CONCURRENCY callers on keep-alive connections, each sending its next request when the last is answered. */
async function saturation(server: Server, model: ModelCase, reqs: readonly string[]): Promise<Saturation> {
  const pool = new Pool(server.url, { connections: CONCURRENCY, pipelining: 1, keepAliveTimeout: 60_000 });
  const route = `/v2/models/${model.name}/infer`;
  let measuring = false;
  let stop = false;
  let done = 0;
  let errors = 0;
  const latencies: number[] = [];
  const caller = async (id: number) => {
    let i = id;
    while (!stop) {
      const t0 = performance.now();
      let ok = false;
      try {
        const res = await pool.request({ path: route, method: 'POST', body: reqs[i++ % reqs.length]!, headers: JSON_HEADERS });
        await res.body.arrayBuffer();
        ok = res.statusCode === 200;
      } catch {
        ok = false;
      }
      if (!ok && !stop) await sleep(5); // a refusing server must not turn the loop into a spin
      if (measuring) {
        if (ok) {
          done++;
          latencies.push(performance.now() - t0);
        } else errors++;
      }
    }
  };
  const callers = Array.from({ length: CONCURRENCY }, (_, id) => caller(id));
  await sleep(WARMUP_SECONDS * 1000);
  const cpu0 = treeCpuSeconds(server.pid);
  measuring = true;
  const start = performance.now();
  await sleep(SECONDS * 1000);
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  const cpu1 = treeCpuSeconds(server.pid);
  const counted = done;
  stop = true;
  await Promise.all(callers);
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { requestsPerSecond: counted / elapsed, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), errors, serverCores: (cpu1 - cpu0) / elapsed };
}

interface OpenLoopRun {
  latenciesMs: number[];
  errors: number;
  dropped: number;
}

/** Open loop at `rate` requests/s for SECONDS, or for MIN_OPEN_LOOP_REQUESTS: latency from each request's scheduled time to its last byte. */
async function openLoop(server: Server, model: ModelCase, body: string, rate: number, seed: number): Promise<OpenLoopRun> {
  const sender = createHttpSender({ url: `${server.url}/v2/models/${model.name}/infer`, method: 'POST', headers: JSON_HEADERS, body }, { connections: CONCURRENCY, timeoutMs: 30_000 });
  const latenciesMs: number[] = [];
  const schedule = generatedSchedule({ shape: 'constant', rate }, { durationMs: openLoopMs(rate), seed });
  // One request first, not counted, so that the measured ones travel on an open keep-alive
  // connection: otherwise the connection set-up lands on one of every run's few requests at 10 req/s.
  await sender.send({ atMs: 0 });
  const startedAt = preciseClock.now();
  try {
    const result = await runOpenLoop({
      schedule,
      maxOutstanding: 1000,
      send: async (arrival) => {
        const r = await sender.send(arrival);
        if (r.status === 200) latenciesMs.push(preciseClock.now() - (startedAt + arrival.atMs));
        return r;
      },
    });
    return { latenciesMs, errors: result.totals.errors + result.totals.unfinished, dropped: result.totals.dropped };
  } finally {
    await sender.close();
  }
}

function openLoopMs(rate: number): number {
  return Math.max(SECONDS, MIN_OPEN_LOOP_REQUESTS / rate) * 1000;
}

// --- the run ------------------------------------------------------------------

interface ServerResult {
  server: string;
  saturation: Saturation[];
  rates: Array<{ rate: number; latenciesMs: number[]; errors: number; dropped: number }>;
  idleCores: number;
  memoryMiB: number;
  processes: number;
}

interface Summary {
  server: string;
  requestsPerSecond: number;
  saturationP50Ms: number;
  saturationP99Ms: number;
  serverCores: number;
  cpuMsPerRequest: number;
  idleCores: number;
  memoryMiB: number;
  processes: number;
  errors: number;
  rates: Array<{ rate: number; p50Ms: number; p99Ms: number; samples: number; errors: number; dropped: number }>;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function summarize(r: ServerResult): Summary {
  const mid = [...r.saturation].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(r.saturation.length / 2)]!;
  const rps = median(r.saturation.map((s) => s.requestsPerSecond));
  const cores = median(r.saturation.map((s) => s.serverCores));
  return {
    server: r.server,
    requestsPerSecond: rps,
    saturationP50Ms: mid.p50Ms,
    saturationP99Ms: mid.p99Ms,
    serverCores: cores,
    cpuMsPerRequest: (cores * 1000) / rps,
    idleCores: r.idleCores,
    memoryMiB: r.memoryMiB,
    processes: r.processes,
    errors: r.saturation.reduce((n, s) => n + s.errors, 0),
    rates: r.rates.map((x) => {
      const sorted = [...x.latenciesMs].sort((a, b) => a - b);
      return { rate: x.rate, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), samples: sorted.length, errors: x.errors, dropped: x.dropped };
    }),
  };
}

/** The first output's numbers, to check that every server computes the same thing. */
async function firstOutput(server: Server, model: ModelCase, body: string): Promise<number[]> {
  const res = await fetch(`${server.url}/v2/models/${model.name}/infer`, { method: 'POST', body, headers: JSON_HEADERS });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${server.name} answered ${res.status}: ${text.slice(0, 200)}`);
  const parsed = JSON.parse(text) as { outputs?: Array<{ data?: number[] }> };
  const data = parsed.outputs?.[0]?.data;
  if (!Array.isArray(data)) throw new Error(`${server.name} answered without outputs[0].data: ${text.slice(0, 200)}`);
  return data;
}

async function measureModel(model: ModelCase, peers: Array<{ peer: ModelServerPeer; python: string }>, unavailable: Map<string, string>): Promise<Summary[]> {
  const reqs = bodies(model, 64);
  const servers: Server[] = [];
  try {
    log(`${model.name}: starting karb serve…`);
    servers.push(await startKarb(model));
    const reference = await firstOutput(servers[0]!, model, reqs[0]!);
    for (const { peer, python } of peers) {
      log(`${model.name}: starting ${peer.name}…`);
      try {
        const s = await startPeer(peer, python, model);
        const out = await firstOutput(s, model, reqs[0]!);
        const same = out.length === reference.length && out.every((v, i) => Math.abs(v - reference[i]!) <= 1e-4 * Math.max(1, Math.abs(reference[i]!)));
        if (!same) {
          await s.stop();
          throw new Error(`answers ${JSON.stringify(out.slice(0, 4))}… where karb serve answers ${JSON.stringify(reference.slice(0, 4))}…`);
        }
        servers.push(s);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        log(`${model.name}: ${peer.name} cannot run here: ${why}`);
        unavailable.set(`${peer.name} (${model.name})`, why);
      }
    }

    // What each server costs the machine while idle (Ray's helpers keep running): it is noise for the others.
    const idle0 = servers.map((s) => treeCpuSeconds(s.pid));
    await sleep(2000);
    const idleCores = servers.map((s, i) => (treeCpuSeconds(s.pid) - idle0[i]!) / 2);

    const results: ServerResult[] = servers.map((s, i) => ({ server: s.name, saturation: [], rates: model.rates.map((rate) => ({ rate, latenciesMs: [], errors: 0, dropped: 0 })), idleCores: idleCores[i]!, memoryMiB: 0, processes: 0 }));
    for (let round = 0; round < ROUNDS; round++) {
      const order = servers.map((_, i) => (i + round) % servers.length);
      log(`${model.name}: round ${round + 1}/${ROUNDS}, saturation (closed loop, ${CONCURRENCY} callers): ${order.map((i) => servers[i]!.name).join(', ')}`);
      for (const i of order) {
        results[i]!.saturation.push(await saturation(servers[i]!, model, reqs));
        const mem = treePssMiB(servers[i]!.pid);
        results[i]!.memoryMiB = Math.max(results[i]!.memoryMiB, mem.mib);
        results[i]!.processes = mem.processes;
      }
      for (const [k, rate] of model.rates.entries()) {
        log(`${model.name}: round ${round + 1}/${ROUNDS}, open loop at ${rate} req/s`);
        for (const i of order) {
          const run = await openLoop(servers[i]!, model, reqs[0]!, rate, 1 + round);
          const slot = results[i]!.rates[k]!;
          slot.latenciesMs.push(...run.latenciesMs);
          slot.errors += run.errors;
          slot.dropped += run.dropped;
        }
      }
    }
    return results.map(summarize);
  } finally {
    for (const s of servers) await s.stop();
  }
}

function gitDescribe(): { commit: string; servingChanged: boolean } {
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src/serving'], { cwd: REPO, encoding: 'utf8' }).stdout.trim();
  return { commit, servingChanged: dirty !== '' };
}

async function main(): Promise<void> {
  const made = spawnSync(NODE, [path.join(REPO, 'scripts/make-models.ts'), '--if-missing'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  if (made.status !== 0) throw new Error('scripts/make-models.ts failed');

  const unavailable = new Map<string, string>();
  const peers: Array<{ peer: ModelServerPeer; python: string }> = [];
  const versions: Record<string, Record<string, string | undefined>> = {};
  for (const peer of MODEL_SERVER_PEERS) {
    if (ONLY !== undefined && !ONLY.has(peer.name)) continue;
    log(`${peer.name}: preparing its venv (pip, cached after the first run)…`);
    const env = peerEnv(peer);
    if (!env.ok) {
      log(`${peer.name} cannot be installed here: ${env.why}`);
      unavailable.set(peer.name, `cannot be installed: ${env.why}`);
      continue;
    }
    const python = spawnSync(env.python, ['--version'], { encoding: 'utf8' }).stdout.trim();
    versions[peer.name] = { python, ...Object.fromEntries(peer.versionOf.map((p) => [p, installedVersion(env, p)])) };
    peers.push({ peer, python: env.python });
  }
  const karbVersion = gitDescribe();
  const onnxruntimeNode = (JSON.parse(readFileSync(path.join(REPO, 'node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;
  versions['karb serve'] = { commit: karbVersion.commit + (karbVersion.servingChanged ? ' (with uncommitted changes in src/serving)' : ''), node: process.version, 'onnxruntime-node': onnxruntimeNode };

  const byModel: Record<string, Summary[]> = {};
  for (const model of MODELS) byModel[model.key] = await measureModel(model, peers, unavailable);

  // Ratios: karb's throughput over each peer's; each peer's p99 over karb's (> 1: karb ahead).
  const ratios: Record<string, Record<string, { throughput: number; p99: Record<string, number> }>> = {};
  for (const model of MODELS) {
    const all = byModel[model.key]!;
    const karb = all.find((s) => s.server === 'karb serve');
    if (karb === undefined) continue;
    ratios[model.key] = {};
    for (const peer of all.filter((s) => s !== karb)) {
      ratios[model.key]![peer.server] = {
        throughput: karb.requestsPerSecond / peer.requestsPerSecond,
        p99: Object.fromEntries(karb.rates.map((r, k) => [`${r.rate} req/s`, peer.rates[k]!.p99Ms / r.p99Ms])),
      };
    }
  }
  const kserveFraud = ratios.fraud?.kserve?.throughput;
  const p99Ahead = Object.values(ratios).flatMap((m) => Object.values(m).flatMap((r) => Object.values(r.p99)));
  const goals = {
    fraudThroughputVsKserve: { target: 3, ratio: kserveFraud ?? null, met: kserveFraud === undefined ? null : kserveFraud >= 3 },
    p99AheadOfBoth: { met: p99Ahead.length === 0 ? null : p99Ahead.every((r) => r > 1), worstPeerOverKarb: p99Ahead.length === 0 ? null : Math.min(...p99Ahead) },
  };

  const result = {
    machine: { cpus: os.availableParallelism(), cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    settings: { rounds: ROUNDS, secondsPerMeasurement: SECONDS, minOpenLoopRequests: MIN_OPEN_LOOP_REQUESTS, warmupSeconds: WARMUP_SECONDS, concurrency: CONCURRENCY, intraOpThreads: THREADS, requests: 'one row per JSON request' },
    versions,
    unavailable: Object.fromEntries(unavailable),
    models: Object.fromEntries(MODELS.map((m) => [m.key, { model: path.basename(m.file), rates: m.rates, servers: byModel[m.key] }])),
    ratios,
    goals,
  };
  // With --json the table still goes to stderr, so one run gives both.
  if (flags.json) {
    process.stderr.write(report(result, byModel) + '\n');
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return;
  }
  process.stdout.write(report(result, byModel) + '\n');
}

function report(result: { machine: { cpus: number; cpuModel: string }; versions: Record<string, Record<string, string | undefined>>; unavailable: Record<string, string>; ratios: Record<string, Record<string, { throughput: number; p99: Record<string, number> }>> }, byModel: Record<string, Summary[]>): string {
  const n = (v: number) => (!Number.isFinite(v) ? 'n/a' : v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));
  const lines = [
    `Model server vs KServe and Ray Serve: ${result.machine.cpus} CPUs (${result.machine.cpuModel}), ${ROUNDS} round(s), ${SECONDS} s per measurement (an open loop at least ${MIN_OPEN_LOOP_REQUESTS} requests), closed loop at ${CONCURRENCY} callers, ${THREADS} intra-op threads, one row per JSON request`,
    '',
    ...Object.entries(result.versions).map(([k, v]) => `- ${k}: ${Object.entries(v).map(([p, ver]) => `${p} ${ver ?? '?'}`).join(', ')}`),
  ];
  for (const model of MODELS) {
    const rows = byModel[model.key] ?? [];
    lines.push('', `### ${model.name}`, '');
    lines.push(`| server | req/s at saturation | p50 / p99 ms at saturation | server CPU (cores) | CPU ms/request | memory (Pss, MiB; processes) | idle CPU (cores) | ${model.rates.map((r) => `p50 / p99 ms at ${r} req/s`).join(' | ')} | errors + dropped |`);
    lines.push(`|---|---:|---:|---:|---:|---:|---:|${model.rates.map(() => '---:|').join('')}---:|`);
    for (const s of rows) {
      const errors = s.errors + s.rates.reduce((k, r) => k + r.errors + r.dropped, 0);
      lines.push(
        `| ${s.server} | ${n(s.requestsPerSecond)} | ${n(s.saturationP50Ms)} / ${n(s.saturationP99Ms)} | ${s.serverCores.toFixed(2)} | ${s.cpuMsPerRequest.toFixed(3)} | ${n(s.memoryMiB)} (${s.processes}) | ${s.idleCores.toFixed(2)} | ${s.rates.map((r) => `${n(r.p50Ms)} / ${n(r.p99Ms)}`).join(' | ')} | ${errors} |`,
      );
    }
    for (const [peer, r] of Object.entries(result.ratios[model.key] ?? {})) {
      lines.push('', `karb serve vs ${peer}: throughput ×${r.throughput.toFixed(2)}; ${peer}'s p99 ÷ karb's: ${Object.entries(r.p99).map(([rate, v]) => `${rate} ×${v.toFixed(2)}`).join(', ')}`);
    }
  }
  if (Object.keys(result.unavailable).length > 0) {
    lines.push('', 'Not measured:');
    for (const [what, why] of Object.entries(result.unavailable)) lines.push(`- ${what}: ${why}`);
  }
  return lines.join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/peers-model-server: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
