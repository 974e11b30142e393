/**
 * karb's gateway against LiteLLM's proxy — the OpenAI-compatible gateway users
 * would otherwise put in front of their models — in one run, on one machine,
 * with the same load tool and the same upstream:
 *
 *   direct    the upstream (bench/peers/openai-upstream.ts in its own process:
 *             /v1/chat/completions answered at once, JSON or SSE), the floor
 *   karb      the gateway wired as `karb up` wires it: an API key from a
 *             KeyStore checked on every request, the key's and the service's
 *             token buckets (far above any reachable rate: counted, never
 *             refusing), the OpenAI model read from the body, revision split,
 *             endpoint choice, metrics, autoscaler signals
 *   LiteLLM   `litellm --config` from PyPI (bench/peers/litellm.ts): the master
 *             key checked, the deployment's rpm/tpm limit with pre-call checks
 *
 * Measured, rounds alternating between the targets so a slow moment of the
 * shared machine is shared out, each figure the median over rounds:
 *
 *   throughput per core   closed loop (N connections back to back) requests/s
 *                         ÷ the proxy's CPU cores used (user + system CPU of its
 *                         process tree, from /proc, ÷ wall time): requests per
 *                         CPU-second, independent of what else ran on the cores
 *   added latency         open loop (src/loadgen, Poisson arrivals, latency from
 *                         the scheduled time to the last byte) at fixed rates,
 *                         p50 and p99 minus direct's in the same round order
 *   time to first token   streamed requests (SSE) at a fixed rate: scheduled
 *                         time → the first `data:` event, p50/p99 minus direct's
 *   memory                RSS of the proxy's process tree after start and after load
 *
 * Each target is warmed up first (closed loop): V8 optimizes karb's code over its
 * first tens of thousands of requests, and LiteLLM fills its caches.
 *
 *   node bench/peers-gateway.ts [--json] [--quick] [--rounds 3] [--seconds 3] [--open-seconds 3]
 *                               [--rates 25,100,500] [--stream-rate 20] [--warmup 6] [--concurrency 32]
 *
 * --quick: one round of 2 s, 3 s warm-up, rates 25 and 100 (about a minute once installed); the
 * default run takes about five minutes on two shared cores, most of it LiteLLM answering the
 * queue it builds at 500 req/s.
 *
 * First run: installs LiteLLM's proxy into ~/.cache/karb-peers (pip, from PyPI; a
 * few minutes). If it cannot be installed or started, the script says why and
 * measures karb against the upstream alone.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, machineBusySeconds, median, otherWorkShare, percentile, stopChild } from './support.ts';
import { Pool } from 'undici';
import { startGateway, type Gateway } from '../src/gateway/server/gateway.ts';
import { ObservableRoutingTable } from '../src/gateway/discovery/observable-routing-table.ts';
import { SignalHub } from '../src/observability/hub.ts';
import { KeyStore } from '../src/control/key-store.ts';
import { edgeOptions } from '../src/gateway/edge/options.ts';
import { StoreKeyResolver } from '../src/gateway/edge/key-resolver.ts';
import { systemClock } from '../src/util/clock.ts';
import { preciseClock } from '../src/loadgen/runner.ts';
import { OPEN_CONNECTIONS, runLoadClient, type ClosableSender, type ClosedJob, type ClosedResult, type OpenJob, type OpenRound } from './load-client.ts';
import { startOpenAIUpstream, STREAM_EVENTS, UPSTREAM_MODEL } from './peers/openai-upstream.ts';
import { startLiteLLM, type LiteLLMProxy } from './peers/litellm.ts';
import { treeCpuSeconds, treeRssMiB } from './peers/proc-tree.ts';

const NAMESPACE = 'default';
const PATH = '/v1/chat/completions';
const BODY = JSON.stringify({ model: UPSTREAM_MODEL, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16 });
const STREAM_BODY = JSON.stringify({ model: UPSTREAM_MODEL, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16, stream: true });
/** Far above any rate two cores reach: the limits are checked on every request but never refuse. */
const UNBINDING_RPS = 1_000_000;
const OPEN_WARMUP_MS = 500;
/**
 * A target over its maximum (LiteLLM at the higher rates) queues the open loop's arrivals and
 * answers them late: they are waited for, so its latency there is the queueing it really causes.
 */
const REQUEST_TIMEOUT_MS = 90_000;
/** The events a streamed answer must hold to count as whole: the upstream's content and the end marker. */
const STREAM_DONE = 'data: [DONE]';
const STREAM_MIN_EVENTS = STREAM_EVENTS.length - 1;

const role = process.argv[2];
if (role === 'upstream') runUpstream();
else if (role === 'client') runLoadClient({ stream: (job) => streamSender(job.url, job.headers) });
else if (role === 'gateway') runGatewayProcess();
else
  await runOrchestrator().catch((err: unknown) => {
    process.stderr.write(`bench/peers-gateway: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });

// ---------------------------------------------------------------- upstream and gateway processes
function runUpstream(): void {
  void startOpenAIUpstream().then(({ origin }) => process.send!({ origin }));
  process.on('disconnect', () => process.exit(0));
}

function runGatewayProcess(): void {
  let gateway: Gateway | undefined;
  let keys: KeyStore | undefined;
  process.once('message', (m: { stateDir: string; upstream: string }) => {
    keys = new KeyStore(join(m.stateDir, 'karb.db'));
    const routingTable = new ObservableRoutingTable();
    routingTable.replace([
      {
        model: UPSTREAM_MODEL,
        namespace: NAMESPACE,
        service: UPSTREAM_MODEL,
        format: 'openai',
        revisions: [{ revision: `${UPSTREAM_MODEL}-00001`, weight: 100, endpoints: [{ replica: `${UPSTREAM_MODEL}-00001-a`, url: m.upstream }] }],
        rateLimit: { requestsPerSecond: UNBINDING_RPS },
      },
    ]);
    const hub = new SignalHub({ clock: systemClock });
    startGateway({
      routingTable,
      port: 0,
      host: '127.0.0.1',
      edge: edgeOptions({ auth: 'required' }, new StoreKeyResolver(keys)),
      signals: hub,
      hold: { onTableChange: (listener) => routingTable.onReplace(listener), onColdRequest: noop, timeoutMs: () => undefined },
    }).then(
      (started) => {
        gateway = started;
        hub.countGatewayQueue((service) => started.queueDepth(service));
        process.send!({ url: started.url });
      },
      (err: unknown) => {
        process.stderr.write(`bench gateway: ${String(err)}\n`);
        process.exit(1);
      },
    );
  });
  process.on('disconnect', () => {
    void (gateway?.close() ?? Promise.resolve()).finally(() => {
      keys?.close();
      process.exit(0);
    });
  });
}

// ---------------------------------------------------------------- streams for the load client
type StreamResult = { status?: number; errorCode?: string; sentAt?: number; firstAt?: number };

/** Sends a streamed chat completion and reads the SSE answer; a stream without its end marker is an error. */
function streamSender(target: string, headers: Record<string, string>): ClosableSender {
  const url = new URL(target);
  const pool = new Pool(url.origin, { connections: OPEN_CONNECTIONS, pipelining: 1, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
  const send = async (): Promise<StreamResult> => {
    const sentAt = preciseClock.now();
    try {
      const r = await pool.request({ path: url.pathname, method: 'POST', headers, body: STREAM_BODY });
      let firstAt: number | undefined;
      let text = '';
      for await (const c of r.body) {
        const s = (c as Buffer).toString();
        if (firstAt === undefined && s.includes('data:')) firstAt = preciseClock.now();
        text += s;
      }
      if (r.statusCode !== 200) return { status: r.statusCode, sentAt };
      const events = text.split('\n\n').filter((e) => e.startsWith('data:')).length;
      if (!text.includes(STREAM_DONE) || events < STREAM_MIN_EVENTS || firstAt === undefined) return { errorCode: 'incomplete-stream', sentAt };
      return { status: 200, sentAt, firstAt };
    } catch {
      return { errorCode: 'transport', sentAt };
    }
  };
  return { send, close: () => pool.close() };
}

// ---------------------------------------------------------------- orchestrator
interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
  /** CPU seconds of the proxy's process tree so far; absent for direct. */
  cpu?: () => number;
  rss?: () => number;
  closedRounds: ClosedResult[];
  cpuSeconds: number;
  open: Map<number, OpenRound[]>;
  stream: OpenRound[];
  rssAtStartMiB?: number;
  rssAfterLoadMiB?: number;
}

async function runOrchestrator(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      'open-seconds': { type: 'string' },
      rates: { type: 'string' },
      'stream-rate': { type: 'string', default: '20' },
      warmup: { type: 'string' },
      concurrency: { type: 'string', default: '32' },
    },
  });
  const quick = values.quick;
  const rounds = Number(values.rounds ?? (quick ? 1 : 3));
  const closedMs = Number(values.seconds ?? (quick ? 2 : 3)) * 1000;
  const openMs = Number(values['open-seconds'] ?? (quick ? 2 : 3)) * 1000;
  const warmupMs = Number(values.warmup ?? (quick ? 3 : 6)) * 1000;
  const rates = (values.rates ?? (quick ? '25,100' : '25,100,500')).split(',').map(Number);
  const streamRate = Number(values['stream-rate']);
  const concurrency = Number(values.concurrency);
  const startedAt = performance.now();
  const busyBefore = machineBusySeconds();

  const self = fileURLToPath(import.meta.url);
  const scratch = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'karb-peers-gw-'));
  const children: ChildProcess[] = [];
  const fork_ = (r: string): ChildProcess => {
    const child = fork(self, [r], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
  let litellm: LiteLLMProxy | undefined;

  try {
    const upstream = fork_('upstream');
    const { origin } = await ask<{ origin: string }>(upstream, undefined);

    const stateDir = join(scratch, 'karb');
    const store = new KeyStore(join(stateDir, 'karb.db'));
    const { key: karbKey } = store.create({ namespace: NAMESPACE, name: 'bench', services: [UPSTREAM_MODEL], rps: UNBINDING_RPS });
    store.close();
    const gatewayChild = fork_('gateway');
    const karb = await ask<{ url: string }>(gatewayChild, { stateDir, upstream: origin });

    const masterKey = `sk-bench-${Math.random().toString(36).slice(2, 12)}`;
    const started = await startLiteLLM({ upstream: origin, model: UPSTREAM_MODEL, masterKey, rpm: UNBINDING_RPS * 60, port: await freePort(), dir: join(scratch, 'litellm') });
    let liteLLMWhy: string | undefined;
    if (started.ok) {
      litellm = started.proxy;
      children.push(litellm.process);
    } else {
      liteLLMWhy = started.why;
      process.stderr.write(`LiteLLM's proxy could not be installed or started, so it is not measured: ${started.why}\n`);
    }

    const headers = (key: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${key}` });
    const target = (name: string, url: string, key: string, pid?: number): Target => ({
      name,
      url: url + PATH,
      headers: headers(key),
      ...(pid !== undefined ? { cpu: () => treeCpuSeconds(pid), rss: () => treeRssMiB(pid) } : {}),
      closedRounds: [],
      cpuSeconds: 0,
      open: new Map(),
      stream: [],
    });
    const targets: Target[] = [target('direct', origin, karbKey), target('karb gateway', karb.url, karbKey, gatewayChild.pid!)];
    if (litellm !== undefined) targets.push(target(`LiteLLM proxy ${litellm.version}`, litellm.url, masterKey, litellm.pid));
    for (const t of targets) t.rssAtStartMiB = t.rss?.();

    const client = fork_('client');
    const closed = (t: Target, ms: number) => ask<ClosedResult>(client, { kind: 'closed', url: t.url, headers: t.headers, body: BODY, concurrency, measureMs: ms } satisfies ClosedJob);
    const openJob = (t: Target, round: number) => ({
      url: t.url,
      headers: t.headers,
      body: BODY,
      warmupMs: OPEN_WARMUP_MS,
      measureMs: openMs,
      seed: round + 1,
      timeoutMs: REQUEST_TIMEOUT_MS,
      drainTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    const log = (s: string) => {
      if (!values.json) process.stderr.write(s);
    };
    log(`warming up ${targets.length} targets (${warmupMs / 1000} s each) ...\n`);
    for (const t of targets) await closed(t, warmupMs);
    for (let round = 0; round < rounds; round++) {
      log(`round ${round + 1}/${rounds}: closed loop`);
      for (const t of targets) {
        const before = t.cpu?.() ?? 0;
        t.closedRounds.push(await closed(t, closedMs));
        t.cpuSeconds += (t.cpu?.() ?? 0) - before;
      }
      for (const rate of rates) {
        log(`, ${rate} req/s`);
        for (const t of targets) {
          const job: OpenJob = { kind: 'open', ...openJob(t, round), rate };
          const list = t.open.get(rate) ?? [];
          list.push(await ask<OpenRound>(client, job));
          t.open.set(rate, list);
        }
      }
      log(`, streams at ${streamRate} req/s\n`);
      for (const t of targets) {
        const job: OpenJob = { kind: 'stream', ...openJob(t, round), rate: streamRate };
        t.stream.push(await ask<OpenRound>(client, job));
      }
    }
    for (const t of targets) t.rssAfterLoadMiB = t.rss?.();
    const wallSeconds = (performance.now() - startedAt) / 1000;
    const report = buildReport(targets, {
      machine: `${availableParallelism()} × ${cpus()[0]?.model.trim() ?? 'unknown cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
      settings: { rounds, closedSeconds: closedMs / 1000, openSeconds: openMs / 1000, warmupSeconds: warmupMs / 1000, concurrency, rates, streamRate, openConnections: OPEN_CONNECTIONS },
      liteLLMWhy,
      wallSeconds,
      otherCpuShare: otherWorkShare(busyBefore, wallSeconds, children),
    });
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(printReport(report));
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
    rmSync(scratch, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- figures
interface TargetFigures {
  name: string;
  /** Median over rounds of closed-loop requests/s. */
  rps: number;
  rpsRounds: number[];
  /** Requests per CPU-second of the proxy's process tree (closed loop, all rounds): throughput per core. */
  rpsPerCore?: number | undefined;
  /** Cores the proxy used during the closed loop. */
  coresUsed?: number | undefined;
  errors: number;
  /** Per open-loop rate: medians over rounds of p50 and p99, ms. */
  open: { rate: number; p50: number; p99: number; p99Rounds: number[]; ok: number; errors: number; dropped: number }[];
  stream: { rate: number; ttftP50: number; ttftP99: number; p50: number; p99: number; ok: number; errors: number; dropped: number };
  rssAtStartMiB?: number | undefined;
  rssAfterLoadMiB?: number | undefined;
}

interface Report {
  machine: string;
  settings: { rounds: number; closedSeconds: number; openSeconds: number; warmupSeconds: number; concurrency: number; rates: number[]; streamRate: number; openConnections: number };
  targets: TargetFigures[];
  /** Why LiteLLM is missing from the targets, if it is. */
  liteLLMWhy?: string | undefined;
  /** karb ÷ LiteLLM (throughput) and LiteLLM − karb (added latency, ms); absent without LiteLLM. */
  ratios?: {
    throughputPerCore: number;
    throughput: number;
    addedP50Ms: Record<string, { karb: number; litellm: number }>;
    addedP99Ms: Record<string, { karb: number; litellm: number }>;
    addedTtftP50Ms: { karb: number; litellm: number };
    addedTtftP99Ms: { karb: number; litellm: number };
    rssAfterLoad: number;
    targets: { throughputPerCoreAtLeast10x: boolean; lessAddedP50: boolean; lessAddedP99: boolean };
  };
  wallSeconds: number;
  /** Share of all cores' time used by processes outside this benchmark during the run. */
  otherCpuShare: number;
}

function buildReport(targets: Target[], meta: Omit<Report, 'targets' | 'ratios'>): Report {
  const figures: TargetFigures[] = targets.map((t) => {
    const rpsRounds = t.closedRounds.map((r) => r.requests / r.seconds);
    const requests = t.closedRounds.reduce((n, r) => n + r.requests, 0);
    const seconds = t.closedRounds.reduce((n, r) => n + r.seconds, 0);
    const sum = (list: OpenRound[], k: 'ok' | 'errors' | 'dropped') => list.reduce((n, r) => n + r[k], 0);
    const perRound = (list: OpenRound[], k: 'latencies' | 'firstToken', q: number) => list.map((r) => percentile(r[k], q));
    return {
      name: t.name,
      rps: median(rpsRounds),
      rpsRounds,
      rpsPerCore: t.cpu ? requests / t.cpuSeconds : undefined,
      coresUsed: t.cpu ? t.cpuSeconds / seconds : undefined,
      errors: t.closedRounds.reduce((n, r) => n + r.errors, 0),
      open: [...t.open.entries()].map(([rate, list]) => ({
        rate,
        p50: median(perRound(list, 'latencies', 0.5)),
        p99: median(perRound(list, 'latencies', 0.99)),
        p99Rounds: perRound(list, 'latencies', 0.99),
        ok: sum(list, 'ok'),
        errors: sum(list, 'errors'),
        dropped: sum(list, 'dropped'),
      })),
      stream: {
        rate: meta.settings.streamRate,
        ttftP50: median(perRound(t.stream, 'firstToken', 0.5)),
        ttftP99: median(perRound(t.stream, 'firstToken', 0.99)),
        p50: median(perRound(t.stream, 'latencies', 0.5)),
        p99: median(perRound(t.stream, 'latencies', 0.99)),
        ok: sum(t.stream, 'ok'),
        errors: sum(t.stream, 'errors'),
        dropped: sum(t.stream, 'dropped'),
      },
      rssAtStartMiB: t.rssAtStartMiB,
      rssAfterLoadMiB: t.rssAfterLoadMiB,
    };
  });
  const report: Report = { ...meta, targets: figures };
  const [direct, karb, lite] = figures;
  if (direct !== undefined && karb !== undefined && lite !== undefined) {
    const added = (t: TargetFigures, rate: number, q: 'p50' | 'p99') => t.open.find((o) => o.rate === rate)![q] - direct.open.find((o) => o.rate === rate)![q];
    const byRate = (q: 'p50' | 'p99') => Object.fromEntries(meta.settings.rates.map((r) => [String(r), { karb: added(karb, r, q), litellm: added(lite, r, q) }]));
    const addedP50Ms = byRate('p50');
    const addedP99Ms = byRate('p99');
    const perCore = karb.rpsPerCore! / lite.rpsPerCore!;
    report.ratios = {
      throughputPerCore: perCore,
      throughput: karb.rps / lite.rps,
      addedP50Ms,
      addedP99Ms,
      addedTtftP50Ms: { karb: karb.stream.ttftP50 - direct.stream.ttftP50, litellm: lite.stream.ttftP50 - direct.stream.ttftP50 },
      addedTtftP99Ms: { karb: karb.stream.ttftP99 - direct.stream.ttftP99, litellm: lite.stream.ttftP99 - direct.stream.ttftP99 },
      rssAfterLoad: (karb.rssAfterLoadMiB ?? NaN) / (lite.rssAfterLoadMiB ?? NaN),
      targets: {
        throughputPerCoreAtLeast10x: perCore >= 10,
        lessAddedP50: Object.values(addedP50Ms).every((a) => a.karb < a.litellm),
        lessAddedP99: Object.values(addedP99Ms).every((a) => a.karb < a.litellm),
      },
    };
  }
  return report;
}

function printReport(report: Report): string {
  const f = (n: number | undefined, d = 2): string => (n === undefined || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
  const signed = (n: number, d = 2): string => (n >= 0 ? '+' : '−') + f(Math.abs(n), d);
  const s = report.settings;
  const [direct] = report.targets;
  const lines: string[] = [
    `Gateway vs LiteLLM's proxy — ${report.machine}`,
    `closed loop: ${s.concurrency} connections, ${s.rounds} × ${s.closedSeconds} s per target after ${s.warmupSeconds} s warm-up; ` +
      `open loop: ${s.rates.join(' and ')} req/s Poisson, streams at ${s.streamRate} req/s, ${s.rounds} × ${s.openSeconds} s per target per rate ` +
      `(each after 0.5 s unmeasured; latency from the scheduled time); rounds alternate between targets; each figure the median over rounds`,
    '',
  ];
  if (report.liteLLMWhy !== undefined) lines.push(`LiteLLM's proxy NOT measured — it could not be installed or started here: ${report.liteLLMWhy}`, '');
  lines.push('| path | max req/s | proxy cores used | req/s per core | ' + s.rates.map((r) => `added p50 / p99 ms @${r}`).join(' | ') + ` | added TTFT p50 / p99 ms @${s.streamRate} | RSS start → after load | errors |`);
  lines.push('|---|---:|---:|---:|' + s.rates.map(() => '---:|').join('') + '---:|---:|---:|');
  for (const t of report.targets) {
    const isDirect = t === direct;
    const latency = t.open.map((o) => {
      const d = direct!.open.find((x) => x.rate === o.rate)!;
      const saturated = o.dropped > 0 || t.rps < o.rate ? ' (over its max)' : '';
      return isDirect ? `${f(o.p50, 3)} / ${f(o.p99, 3)} (abs.)` : `${signed(o.p50 - d.p50, 3)} / ${signed(o.p99 - d.p99, 3)}${saturated}`;
    });
    const ttft = isDirect
      ? `${f(t.stream.ttftP50, 3)} / ${f(t.stream.ttftP99, 3)} (abs.)`
      : `${signed(t.stream.ttftP50 - direct!.stream.ttftP50, 3)} / ${signed(t.stream.ttftP99 - direct!.stream.ttftP99, 3)}`;
    const errors = t.errors + t.open.reduce((n, o) => n + o.errors + o.dropped, 0) + t.stream.errors + t.stream.dropped;
    lines.push(
      `| ${t.name} | ${f(t.rps, 0)} | ${isDirect ? '' : f(t.coresUsed)} | ${isDirect ? '' : f(t.rpsPerCore, 0)} | ${latency.join(' | ')} | ${ttft} | ` +
        `${isDirect ? '' : `${f(t.rssAtStartMiB, 0)} → ${f(t.rssAfterLoadMiB, 0)} MiB`} | ${errors} |`,
    );
  }
  const r = report.ratios;
  if (r !== undefined) {
    const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
    lines.push(
      '',
      'Targets (karb against LiteLLM):',
      `  throughput per core ×${f(r.throughputPerCore, 1)} (≥ ×10): ${verdict(r.targets.throughputPerCoreAtLeast10x)}; max throughput ×${f(r.throughput, 1)}`,
      `  added p50 ${Object.entries(r.addedP50Ms).map(([rate, a]) => `@${rate}: ${signed(a.karb, 3)} vs ${signed(a.litellm, 3)} ms`).join(', ')}: ${verdict(r.targets.lessAddedP50)}`,
      `  added p99 ${Object.entries(r.addedP99Ms).map(([rate, a]) => `@${rate}: ${signed(a.karb, 3)} vs ${signed(a.litellm, 3)} ms`).join(', ')}: ${verdict(r.targets.lessAddedP99)}`,
      `  added time to first token @${s.streamRate}: p50 ${signed(r.addedTtftP50Ms.karb, 3)} vs ${signed(r.addedTtftP50Ms.litellm, 3)} ms, p99 ${signed(r.addedTtftP99Ms.karb, 3)} vs ${signed(r.addedTtftP99Ms.litellm, 3)} ms`,
      `  memory after load ×${f(r.rssAfterLoad)} of LiteLLM's`,
    );
  }
  lines.push(
    '',
    `(whole run ${f(report.wallSeconds, 0)} s; other processes used ${f(report.otherCpuShare * 100, 0)}% of the machine's CPU time during the run` +
      `${report.otherCpuShare > 0.05 ? ' — not a quiet machine: tail latencies are not comparable across runs' : ''}.)`,
    '',
  );
  return lines.join('\n');
}



// ---------------------------------------------------------------- machine




function noop(): void {}
