/**
 * The gateway's full L1/L2 path against nginx, in one run, on one machine,
 * with the same load tool and the same upstream:
 *
 *   direct       the upstream (a small node:http server in its own process)
 *   nginx ×1     nginx-light, worker_processes 1, keep-alive pool to the upstream
 *   nginx auto   the same with worker_processes auto (one worker per core)
 *   bare Node    node:http in, undici out, nothing else: the floor any Node gateway
 *                stands on, so karb's own cost reads as the gap above it
 *   karb 1/1     the gateway wired as `karb up` wires it (API key from a KeyStore,
 *                token buckets, revision split, endpoint choice, metrics,
 *                autoscaler signals, hold-while-cold) with 1 key and 1 service
 *   karb 10k/1k  the same gateway with 10,000 keys and 1,000 services configured
 *
 * Two measurements per target: closed loop (32 connections back to back: the
 * most it serves) and open loop at a fixed 2,000 requests/s (src/loadgen's
 * runner, latency from each request's scheduled time). Each gateway runs in
 * its own process, so its memory (RSS, heap used after GC) is its own.
 *
 * Every target is warmed up first (8 s closed loop by default): V8 keeps
 * optimizing a Node proxy's code over its first tens of thousands of requests
 * (karb's CPU per request falls by ~40% over that time), and a gateway runs for
 * days. Rounds alternate between targets, and each figure is the median over
 * rounds, so one slow moment of the shared machine moves it less.
 *
 * nginx ×1 is the fair baseline: the gateway is one Node process with one
 * event loop, so both proxies get one core's worth of event loop.
 *
 *   node bench/gateway-nginx.ts [--json] [--seconds 2] [--rounds 2] [--open-seconds 2.5] [--rate 2000]
 *                               [--warmup 8] [--keys 10000] [--services 1000] [--pin]
 *
 * --pin (8 cores or more): client, upstream and proxy on cores of their own (cpuPins).
 *
 * Needs the Debian nginx-light package; run as root, the script installs it
 * with apt-get when it is missing.
 */
import { execFileSync, fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, machineBusySeconds, median, otherWorkShare, percentile, stopChild } from './support.ts';
import { Pool, type Dispatcher } from 'undici';
import { startGateway, type Gateway } from '../src/gateway/server/gateway.ts';
import { ObservableRoutingTable } from '../src/gateway/discovery/observable-routing-table.ts';
import type { Route } from '../src/gateway/discovery/routing-table.ts';
import { SignalHub } from '../src/observability/hub.ts';
import { KeyStore } from '../src/control/key-store.ts';
import { edgeOptions } from '../src/gateway/edge/options.ts';
import { StoreKeyResolver } from '../src/gateway/edge/key-resolver.ts';
import { systemClock } from '../src/util/clock.ts';
import { readProcessCpuSeconds, readProcStat } from '../src/runtime/local/proc-stat.ts';
import { OPEN_CONNECTIONS, runLoadClient, type ClosedJob, type ClosedResult, type OpenJob, type OpenRound } from './load-client.ts';

const NAMESPACE = 'default';
const REQUEST_BODY = JSON.stringify({
  inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] }],
});
const RESPONSE_BODY = Buffer.from(
  JSON.stringify({ model_name: 'bench', model_version: '1', outputs: [{ name: 'probability', shape: [1, 1], datatype: 'FP32', data: [0.0123] }] }),
);
/** Far above any rate two cores can reach: the buckets are checked on every request but never refuse. */
const UNBINDING_RPS = 1_000_000;
const CLOSED_CONCURRENCY = 32;
/** Each open-loop round starts with this much load on fresh connections, not measured. */
const OPEN_WARMUP_MS = 500;

// ---------------------------------------------------------------- messages between processes
interface GatewayJob {
  stateDir: string;
  upstream: string;
  services: number;
}
interface GatewayReady {
  url: string;
  memory: Memory;
}
interface Memory {
  rssMiB: number;
  heapUsedMiB: number;
}
interface OpenResult {
  ok: number;
  errors: number;
  dropped: number;
  /** Medians over rounds of each round's percentile. */
  p50: number;
  p99: number;
  p50Rounds: number[];
  p99Rounds: number[];
}

const role = process.argv[2];
if (role === 'upstream') runUpstream();
else if (role === 'client') runLoadClient();
else if (role === 'gateway') runGatewayProcess();
else if (role === 'bare') runBareProxy();
else
  await runOrchestrator().catch((err: unknown) => {
    process.stderr.write(`bench/gateway-nginx: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });

// ---------------------------------------------------------------- upstream
function runUpstream(): void {
  const server = createServer((req, res) => {
    req.on('data', noop);
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': RESPONSE_BODY.length });
      res.end(RESPONSE_BODY);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------- bare Node proxy (the floor)
/** The least a Node proxy does: read the body, dispatch it on a keep-alive pool, pass the answer through. */
function runBareProxy(): void {
  let pool: Pool | undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const handler: Dispatcher.DispatchHandler = {
        // undici reads a handler with onRequestStart as one of the controller API's.
        onRequestStart: noop,
        onResponseStart: (_controller, status, headers) => void res.writeHead(status, headers),
        onResponseData: (_controller, chunk) => void res.write(chunk),
        onResponseEnd: () => void res.end(),
        onResponseError: (_controller, err) => {
          res.statusCode = 502;
          res.end(err.message);
        },
      };
      pool!.dispatch({ path: req.url!, method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) }, handler);
    });
  });
  server.keepAliveTimeout = 60_000;
  process.on('message', (m: { upstream: string } | 'cpu') => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!(u.user + u.system);
      return;
    }
    pool = new Pool(m.upstream, { connections: OPEN_CONNECTIONS });
    server.listen(0, '127.0.0.1', () => process.send!({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------- gateway (one process per configuration)
function runGatewayProcess(): void {
  let gateway: Gateway | undefined;
  let keys: KeyStore | undefined;
  process.on('message', (m: GatewayJob | 'memory' | 'cpu') => {
    if (m === 'memory') process.send!(memoryNow());
    else if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!(u.user + u.system);
    } else
      startConfigured(m).then(
        (started) => {
          gateway = started.gateway;
          keys = started.keys;
          process.send!({ url: started.gateway.url, memory: memoryNow() } satisfies GatewayReady);
        },
        (err: unknown) => {
          process.stderr.write(`bench gateway: ${String(err)}\n`);
          process.exit(1);
        },
      );
  });
  process.on('disconnect', () => {
    void gateway?.close().finally(() => {
      keys?.close();
      process.exit(0);
    });
  });
}

/** The gateway as src/control/platform.ts builds it, on a routing table of `services` routes. */
async function startConfigured(job: GatewayJob): Promise<{ gateway: Gateway; keys: KeyStore }> {
  const keys = new KeyStore(join(job.stateDir, 'karb.db'));
  const routingTable = new ObservableRoutingTable();
  routingTable.replace(Array.from({ length: job.services }, (_, i) => benchRoute(serviceName(i), job.upstream)));
  const hub = new SignalHub({ clock: systemClock });
  const gateway = await startGateway({
    routingTable,
    port: 0,
    host: '127.0.0.1',
    edge: edgeOptions({ auth: 'required' }, new StoreKeyResolver(keys)),
    signals: hub,
    hold: {
      onTableChange: (listener) => routingTable.onReplace(listener),
      onColdRequest: noop,
      timeoutMs: () => undefined,
    },
  });
  hub.countGatewayQueue((service) => gateway.queueDepth(service));
  return { gateway, keys };
}

/** Two revisions split 90/10, two endpoints each (all on the one upstream), a service rate limit that never binds. */
function benchRoute(service: string, upstream: string): Route {
  const revision = (n: string, weight: number) => ({
    revision: `${service}-${n}`,
    weight,
    endpoints: ['a', 'b'].map((r) => ({ replica: `${service}-${n}-${r}`, url: upstream })),
  });
  return {
    model: service,
    namespace: NAMESPACE,
    service,
    format: 'oip',
    revisions: [revision('00001', 90), revision('00002', 10)],
    rateLimit: { requestsPerSecond: UNBINDING_RPS },
  };
}

function serviceName(i: number): string {
  return `svc-${String(i).padStart(4, '0')}`;
}

function memoryNow(): Memory {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rssMiB: m.rss / 2 ** 20, heapUsedMiB: m.heapUsed / 2 ** 20 };
}

// ---------------------------------------------------------------- nginx
function nginxBinary(): string {
  const candidates = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'];
  const found = () => candidates.find((c) => existsSync(c));
  const have = found();
  if (have !== undefined) return have;
  if (process.getuid?.() !== 0) {
    throw new Error('nginx is not installed. Install the baseline with `sudo apt-get install -y nginx-light` (or run this script as root, which installs it), then run it again.');
  }
  process.stderr.write('nginx not found: installing Debian nginx-light with apt-get ...\n');
  try {
    execFileSync('apt-get', ['install', '-y', 'nginx-light'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('apt-get', ['install', '-y', 'nginx-light'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  const installed = found();
  if (installed === undefined) throw new Error('apt-get install nginx-light finished but no nginx binary was found in /usr/sbin');
  return installed;
}

interface Nginx {
  url: string;
  process: ChildProcess;
  /** CPU seconds of the worker processes so far. */
  workerCpuSeconds(): number;
  version: string;
}

async function startNginx(binary: string, dir: string, upstream: string, workers: '1' | 'auto', cpus?: string): Promise<Nginx> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const upstreamHost = new URL(upstream).host;
  const config = `
daemon off;
master_process on;
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream bench_upstream {
    server ${upstreamHost};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, config);
  const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', file];
  // Pinned, its workers inherit the cores (and `worker_processes auto` counts only those).
  const child = cpus === undefined ? spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn('taskset', ['-c', cpus, binary, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr.trim()}`);
    if (await answers(url)) break;
    if (Date.now() > deadline) throw new Error(`nginx did not answer on ${url} within 10 s: ${stderr.trim()}`);
    await sleep(50);
  }
  // `nginx -v` writes to stderr.
  const version = spawnSync(binary, ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '') || 'nginx';
  return { url, process: child, workerCpuSeconds: () => childrenCpuSeconds(child.pid!), version };
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    // A process gone meanwhile reads as undefined.
    if (/^\d+$/.test(entry) && readProcStat(Number(entry))?.ppid === pid) out.push(Number(entry));
  }
  return out;
}


/** User + system CPU seconds of one process, from /proc; 0 when it is gone. */
function processCpuSeconds(pid: number): number {
  return readProcessCpuSeconds(pid) ?? 0;
}


/** User + system CPU of the direct children of `pid` (nginx's workers), from /proc. */
function childrenCpuSeconds(pid: number): number {
  return childPids(pid).reduce((total, child) => total + processCpuSeconds(child), 0);
}

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { method: 'POST', body: REQUEST_BODY });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}


// ---------------------------------------------------------------- orchestrator
interface TargetRow {
  name: string;
  closed?: ClosedResult | undefined;
  /** Closed-loop requests per second, one per round. */
  closedRounds?: number[] | undefined;
  open?: OpenResult | undefined;
  /** Proxy CPU µs per request in the closed loop (not for direct). */
  cpuMicrosPerRequest?: number | undefined;
}

/**
 * `--pin` on a machine with cores to spare: the load client, the upstream and the proxy under test
 * each on cores of their own (taskset), so a proxy is measured without the client or the upstream
 * taking its core. Proxies are measured one at a time, so they share theirs: one core for each
 * one-event-loop proxy (karb, bare Node, nginx ×1), up to four for nginx auto.
 */
function cpuPins(cores: number): { client: string; upstream: string; proxy: string; proxies: string } {
  if (cores < 8) throw new Error(`--pin needs at least 8 cores (4 for the client, 2 for the upstream, 2 for the proxies); this machine has ${cores}`);
  return { client: '0-3', upstream: '4-5', proxy: '6', proxies: `6-${Math.min(cores - 1, 9)}` };
}

async function runOrchestrator(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '5' },
      'open-seconds': { type: 'string', default: '3' },
      warmup: { type: 'string', default: '8' },
      rate: { type: 'string', default: '2000' },
      keys: { type: 'string', default: '10000' },
      services: { type: 'string', default: '1000' },
      pin: { type: 'boolean', default: false },
    },
  });
  const pins = values.pin ? cpuPins(availableParallelism()) : undefined;
  const measureMs = Number(values.seconds) * 1000;
  const rounds = Number(values.rounds);
  const openMs = Number(values['open-seconds']) * 1000;
  const warmupMs = Number(values.warmup) * 1000;
  const rate = Number(values.rate);
  const manyKeys = Number(values.keys);
  const manyServices = Number(values.services);
  const binary = nginxBinary();
  const startedAt = performance.now();
  // Other work on the machine moves every figure: the CPU it used during the run is reported.
  const busyBefore = machineBusySeconds();

  const self = fileURLToPath(import.meta.url);
  // tmpfs when there is one: 10,000 key inserts, each its own committed transaction, take ~1 s there and ~14 s on disk.
  const scratch = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'karb-bench-'));
  const children: ChildProcess[] = [];
  const fork_ = (r: string, execArgv: string[] = []): ChildProcess => {
    // With --pin, taskset runs node on the role's cores; it execs node, so the IPC channel is node's.
    const cpus = pins?.[r === 'client' ? 'client' : r === 'upstream' ? 'upstream' : 'proxy'];
    const child = fork(self, [r], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      ...(cpus === undefined ? { execArgv } : { execPath: 'taskset', execArgv: ['-c', cpus, process.execPath, ...execArgv] }),
    });
    children.push(child);
    return child;
  };
  const ask = <T>(child: ChildProcess, message: unknown): Promise<T> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`bench child exited with ${code} before answering`));
      child.once('exit', onExit);
      child.once('message', (m) => {
        child.off('exit', onExit);
        resolve(m as T);
      });
      if (message !== undefined) child.send(message as object);
    });

  try {
    const upstream = fork_('upstream');
    const { origin } = await ask<{ origin: string }>(upstream, undefined);

    // Keys: one (small) and `manyKeys` (large), each store on its own state directory.
    const smallDir = join(scratch, 'small');
    const largeDir = join(scratch, 'large');
    const smallKey = createKeys(smallDir, 1, 1, 0);
    const keysStarted = performance.now();
    const largeModelIndex = Math.floor(manyServices / 2);
    const largeKey = createKeys(largeDir, manyKeys, manyServices, largeModelIndex);
    const keySeconds = (performance.now() - keysStarted) / 1000;

    const gatewaySmall = fork_('gateway', ['--expose-gc']);
    const gatewayLarge = fork_('gateway', ['--expose-gc']);
    const small = await ask<GatewayReady>(gatewaySmall, { stateDir: smallDir, upstream: origin, services: 1} satisfies GatewayJob);
    const large = await ask<GatewayReady>(gatewayLarge, {
      stateDir: largeDir,
      upstream: origin,
      services: manyServices,
    } satisfies GatewayJob);

    const bareProcess = fork_('bare');
    const bare = await ask<{ url: string }>(bareProcess, { upstream: origin });
    const nginx1 = await startNginx(binary, join(scratch, 'nginx-1'), origin, '1', pins?.proxy);
    children.push(nginx1.process);
    const nginxAuto = await startNginx(binary, join(scratch, 'nginx-auto'), origin, 'auto', pins?.proxies);
    children.push(nginxAuto.process);

    const smallPath = `/v2/models/${serviceName(0)}/infer`;
    const largePath = `/v2/models/${serviceName(largeModelIndex)}/infer`;
    // Every target gets the same headers (the key too), so the bytes on the wire match.
    const headersFor = (key: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${key}` });
    const targets: (TargetRow & { url: string; headers: Record<string, string>; cpu?: () => Promise<number> })[] = [
      { name: 'direct', url: origin + smallPath, headers: headersFor(smallKey) },
      { name: 'nginx, 1 worker', url: nginx1.url + smallPath, headers: headersFor(smallKey), cpu: async () => nginx1.workerCpuSeconds() * 1e6 },
      { name: 'nginx, auto workers', url: nginxAuto.url + smallPath, headers: headersFor(smallKey), cpu: async () => nginxAuto.workerCpuSeconds() * 1e6 },
      { name: 'bare Node proxy (floor)', url: bare.url + smallPath, headers: headersFor(smallKey), cpu: () => ask<number>(bareProcess, 'cpu') },
      { name: 'karb, 1 key / 1 service', url: small.url + smallPath, headers: headersFor(smallKey), cpu: () => ask<number>(gatewaySmall, 'cpu') },
      {
        name: `karb, ${manyKeys.toLocaleString('en-US')} keys / ${manyServices.toLocaleString('en-US')} services`,
        url: large.url + largePath,
        headers: headersFor(largeKey),
        cpu: () => ask<number>(gatewayLarge, 'cpu'),
      },
    ];

    const client = fork_('client');
    const closedJob = (t: (typeof targets)[number], ms: number): ClosedJob => ({
      kind: 'closed',
      url: t.url,
      headers: t.headers,
      body: REQUEST_BODY,
      concurrency: CLOSED_CONCURRENCY,
      measureMs: ms,
    });
    const cpuMicros = targets.map(() => 0);
    for (const t of targets) await ask<ClosedResult>(client, closedJob(t, warmupMs));
    // Rounds alternate between targets, so a slow moment of the machine is shared out.
    for (let round = 0; round < rounds; round++) {
      for (const [i, t] of targets.entries()) {
        const before = await t.cpu?.();
        const r = await ask<ClosedResult>(client, closedJob(t, measureMs));
        if (t.cpu !== undefined && before !== undefined) cpuMicros[i]! += (await t.cpu()) - before;
        const sum = t.closed;
        t.closed = sum === undefined ? r : { requests: sum.requests + r.requests, errors: sum.errors + r.errors, seconds: sum.seconds + r.seconds };
        (t.closedRounds ??= []).push(r.requests / r.seconds);
      }
    }
    for (const [i, t] of targets.entries()) if (t.cpu !== undefined) t.cpuMicrosPerRequest = cpuMicros[i]! / t.closed!.requests;
    const openRounds = targets.map((): OpenRound[] => []);
    for (let round = 0; round < rounds; round++) {
      for (const [i, t] of targets.entries()) {
        const job: OpenJob = { kind: 'open', url: t.url, headers: t.headers, body: REQUEST_BODY, rate, warmupMs: OPEN_WARMUP_MS, measureMs: openMs, seed: round + 1, timeoutMs: 10_000 };
        openRounds[i]!.push(await ask<OpenRound>(client, job));
      }
    }
    for (const [i, t] of targets.entries()) t.open = medianOfRounds(openRounds[i]!);
    const memory = {
      small: { atStart: small.memory, afterLoad: await ask<Memory>(gatewaySmall, 'memory') },
      large: { atStart: large.memory, afterLoad: await ask<Memory>(gatewayLarge, 'memory') },
    };
    const report = {
      machine: `${availableParallelism()} × ${cpus()[0]?.model.trim() ?? 'unknown cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${nginx1.version}`,
      settings: { closedConcurrency: CLOSED_CONCURRENCY, closedSeconds: measureMs / 1000, closedRounds: rounds, openRate: rate, openSeconds: openMs / 1000, warmupSeconds: warmupMs / 1000, openConnections: OPEN_CONNECTIONS },
      scale: { keys: manyKeys, services: manyServices, keyCreationSeconds: keySeconds },
      targets: targets.map(({ name, closed, closedRounds, open, cpuMicrosPerRequest }) => ({ name, closed, closedRounds, open, cpuMicrosPerRequest })),
      memory,
      wallSeconds: (performance.now() - startedAt) / 1000,
      otherCpuShare: otherWorkShare(busyBefore, (performance.now() - startedAt) / 1000, children),
    };
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else printReport(report);
  } finally {
    // Node children leave on disconnect (closing their servers); nginx on SIGTERM.
    await Promise.all(children.map((c) => stopChild(c)));
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Each round's p50 and p99, and their medians: one round hit by a stall of the shared machine does not set the figure. */
function medianOfRounds(rounds: OpenRound[]): OpenResult {
  const p50Rounds = rounds.map((r) => percentile(Float64Array.from(r.latencies).sort(), 0.5));
  const p99Rounds = rounds.map((r) => percentile(Float64Array.from(r.latencies).sort(), 0.99));
  const sum = (k: 'ok' | 'errors' | 'dropped') => rounds.reduce((n, r) => n + r[k], 0);
  return { ok: sum('ok'), errors: sum('errors'), dropped: sum('dropped'), p50: median(p50Rounds), p99: median(p99Rounds), p50Rounds, p99Rounds };
}



/** Creates `count` keys in a fresh store; returns the key of the one scoped to service `useIndex`. */
function createKeys(stateDir: string, count: number, services: number, useIndex: number): string {
  const store = new KeyStore(join(stateDir, 'karb.db'));
  let used = '';
  try {
    for (let i = 0; i < count; i++) {
      const service = i === 0 ? useIndex : i % services;
      const { key } = store.create({ namespace: NAMESPACE, name: `bench-${i}`, services: [serviceName(service)], rps: UNBINDING_RPS });
      if (i === 0) used = key;
    }
  } finally {
    store.close();
  }
  return used;
}

type Report = {
  machine: string;
  settings: { closedConcurrency: number; closedSeconds: number; closedRounds: number; openRate: number; openSeconds: number; warmupSeconds: number };
  scale: { keys: number; services: number; keyCreationSeconds: number };
  targets: TargetRow[];
  memory: { small: { atStart: Memory; afterLoad: Memory }; large: { atStart: Memory; afterLoad: Memory } };
  wallSeconds: number;
  /** Share of all cores' time used by processes outside this benchmark during the run. */
  otherCpuShare: number;
};

function printReport(report: Report): void {
  const f = (n: number | undefined, d = 2): string => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(d));
  const signed = (n: number, d = 3): string => (n >= 0 ? '+' : '−') + f(Math.abs(n), d);
  const direct = report.targets[0]!;
  const byName = (prefix: string) => report.targets.find((t) => t.name.startsWith(prefix))!;
  const nginx1 = byName('nginx, 1');
  const nginxAuto = byName('nginx, auto');
  const bare = byName('bare');
  const karbSmall = byName('karb, 1 key');
  const karbLarge = report.targets[report.targets.length - 1]!;
  const rps = (t: TargetRow) => (t.closedRounds ? median(t.closedRounds) : NaN);
  /** The lowest and highest of the per-round ratios (round i of `t` against round i of `base`). */
  const ratioRange = (t: TargetRow, base: TargetRow): string => {
    const ratios = (t.closedRounds ?? []).map((r, i) => r / (base.closedRounds?.[i] ?? NaN));
    return `×${f(Math.min(...ratios))}–×${f(Math.max(...ratios))}`;
  };
  const p99Range = (t: TargetRow): string => `${f(Math.min(...t.open!.p99Rounds), 1)}–${f(Math.max(...t.open!.p99Rounds), 1)}`;
  const s = report.settings;
  const lines: string[] = [
    `Gateway vs nginx — ${report.machine}`,
    `closed loop: ${s.closedConcurrency} connections, ${s.closedRounds} × ${s.closedSeconds} s per target (alternating) after ${s.warmupSeconds} s warm-up; ` +
      `open loop: ${s.openRate} req/s Poisson, ${s.closedRounds} × ${s.openSeconds} s per target (alternating, each after 0.5 s unmeasured; latency from the scheduled time); ` +
      `each figure the median over rounds`,
    '',
    '| path | max req/s | × nginx 1w | per round | proxy CPU µs/req | p50 ms @' + s.openRate + ' | p99 ms @' + s.openRate + ' | p99 per round | added p50 | added p99 | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const t of report.targets) {
    const o = t.open!;
    const isDirect = t === direct;
    const errors = (t.closed?.errors ?? 0) + o.errors + o.dropped;
    lines.push(
      `| ${t.name} | ${f(rps(t), 0)} | ${isDirect ? '' : '×' + f(rps(t) / rps(nginx1))} | ${isDirect ? '' : ratioRange(t, nginx1)} | ${isDirect ? '' : f(t.cpuMicrosPerRequest, 0)} | ` +
        `${f(o.p50, 3)} | ${f(o.p99, 3)} | ${p99Range(t)} | ` +
        `${isDirect ? '' : signed(o.p50 - direct.open!.p50)} | ${isDirect ? '' : signed(o.p99 - direct.open!.p99)} | ${errors} |`,
    );
  }
  const added = (t: TargetRow, q: 'p50' | 'p99') => t.open![q] - direct.open![q];
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const ratioSmall = rps(karbSmall) / rps(nginx1);
  lines.push(
    '',
    `Targets (karb 1 key / 1 service against nginx, 1 worker):`,
    `  max throughput ×${f(ratioSmall)} of nginx (≥ ×0.40): ${verdict(ratioSmall >= 0.4)}` + ` (×${f(rps(karbSmall) / rps(nginxAuto))} of nginx auto)`,
    `  added p50 at ${s.openRate} req/s ${signed(added(karbSmall, 'p50'))} ms (≤ 0.5 ms): ${verdict(added(karbSmall, 'p50') <= 0.5)}; nginx ${signed(added(nginx1, 'p50'))} ms`,
    `  added p99 at ${s.openRate} req/s ${signed(added(karbSmall, 'p99'))} ms (≤ 2 ms): ${verdict(added(karbSmall, 'p99') <= 2)}; nginx ${signed(added(nginx1, 'p99'))} ms`,
    ...(added(bare, 'p99') > 2
      ? [`  (the bare Node proxy itself adds ${signed(added(bare, 'p99'))} ms at p99: this machine cannot tell whether karb meets the p99 budget)`]
      : []),
    `  above the bare Node proxy: CPU/req ×${f((karbSmall.cpuMicrosPerRequest ?? NaN) / (bare.cpuMicrosPerRequest ?? NaN))} (+${f((karbSmall.cpuMicrosPerRequest ?? NaN) - (bare.cpuMicrosPerRequest ?? NaN), 0)} µs), ` +
      `throughput ×${f(rps(karbSmall) / rps(bare))}; the floor itself: ×${f(rps(bare) / rps(nginx1))} of nginx, ${signed(added(bare, 'p50'))} ms p50, ${signed(added(bare, 'p99'))} ms p99`,
    '',
    `At scale (${report.scale.keys} keys, ${report.scale.services} services) / (1 key, 1 service):`,
    `  max throughput ×${f(rps(karbLarge) / rps(karbSmall))}, added p50 ${signed(added(karbLarge, 'p50'))} vs ${signed(added(karbSmall, 'p50'))} ms, ` +
      `added p99 ${signed(added(karbLarge, 'p99'))} vs ${signed(added(karbSmall, 'p99'))} ms, CPU/req ×${f((karbLarge.cpuMicrosPerRequest ?? NaN) / (karbSmall.cpuMicrosPerRequest ?? NaN))}`,
    '',
    '| gateway process | RSS at start | heap used at start | RSS after load | heap used after load |',
    '|---|---:|---:|---:|---:|',
    ...(['small', 'large'] as const).map((k) => {
      const m = report.memory[k];
      const name = k === 'small' ? '1 key / 1 service' : `${report.scale.keys} keys / ${report.scale.services} services`;
      return `| ${name} | ${f(m.atStart.rssMiB, 1)} MiB | ${f(m.atStart.heapUsedMiB, 1)} MiB | ${f(m.afterLoad.rssMiB, 1)} MiB | ${f(m.afterLoad.heapUsedMiB, 1)} MiB |`;
    }),
    '',
    `(${report.scale.keys} keys created in ${f(report.scale.keyCreationSeconds, 1)} s; whole run ${f(report.wallSeconds, 0)} s; ` +
      `other processes used ${f(report.otherCpuShare * 100, 0)}% of the machine's CPU time during the run` +
      `${report.otherCpuShare > 0.05 ? ' — not a quiet machine: tail latencies are not comparable across runs' : ''}.)`,
    '',
  );
  process.stdout.write(lines.join('\n'));
}


function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function noop(): void {}
