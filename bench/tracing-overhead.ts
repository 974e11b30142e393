/**
 * What tracing costs the gateway: the same closed-loop client (closed-loop-client.ts) at fixed concurrency calls three
 * gateways over one upstream, alternating rounds — tracing off (no OTEL endpoint), sampled at 1%
 * (`traceidratio` 0.01) and at 100% (`always_on`) — and prints each one's process CPU per request
 * (from /proc, read as each of its rounds starts and ends), req/s and p50/p99, with the ratios to
 * tracing off. The traced gateways export every sampled span over OTLP/HTTP to a sink that
 * answers at once, so serializing and sending spans counts, and the sink's own work does not.
 *
 * Six processes, none sharing an event loop: this one orchestrates, children run the upstream,
 * the span sink, the client and each gateway.
 *
 *   node bench/tracing-overhead.ts [--concurrency 16] [--seconds 3] [--rounds 3] [--warmup 6]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startGateway } from '../src/gateway/server/gateway.ts';
import { InMemoryRoutingTable } from '../src/gateway/discovery/routing-table.ts';
import { startTracing } from '../src/observability/tracing/start.ts';
import { treeCpuSeconds } from './peers/proc-tree.ts';
import { machineBusySeconds, otherWorkShare, stopChild } from './support.ts';
import { closedLoop, closedLoopJobFromFlags, runClosedLoopClient, type ClosedLoopJob, type TargetResult } from './closed-loop-client.ts';

const MODEL = 'bench';
const INFER_PATH = `/v2/models/${MODEL}/infer`;
const REQUEST_BODY = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] }] });
const RESPONSE_BODY = Buffer.from(JSON.stringify({ model_name: MODEL, model_version: '1', outputs: [{ name: 'probability', shape: [1, 1], datatype: 'FP32', data: [0.0123] }] }));

/** The three gateways: name, and the OTEL_* variables each runs with (the sink's URL added for the traced ones). */
const SETTINGS: ReadonlyArray<{ name: string; env: Record<string, string> }> = [
  { name: 'tracing off', env: {} },
  { name: 'sampled 1%', env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' } },
  { name: 'sampled 100%', env: { OTEL_TRACES_SAMPLER: 'always_on' } },
];

const role = process.argv[2];
if (role === 'upstream' || role === 'sink') runServer(role);
else if (role === 'gateway') await runGateway();
else if (role === 'client') runClosedLoopClient();
else await runOrchestrator();

// ---------------------------------------------------------------- upstream and span sink
function runServer(kind: 'upstream' | 'sink'): void {
  const answer = kind === 'upstream' ? RESPONSE_BODY : Buffer.from('{}');
  const server = createServer((req, res) => {
    req.on('data', noop);
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length }).end(answer));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------- a gateway (OTEL_* from its environment)
async function runGateway(): Promise<void> {
  const upstream = process.argv[3]!;
  const tracing = await startTracing({ serviceName: 'karb-gateway', warn: (m) => process.stderr.write(`bench gateway: ${m}\n`) });
  const table = new InMemoryRoutingTable();
  table.replace([{ model: MODEL, namespace: 'default', service: MODEL, format: 'oip', revisions: [{ revision: `${MODEL}-00001`, weight: 100, endpoints: [{ replica: `${MODEL}-00001-a`, url: upstream }] }] }]);
  const gateway = await startGateway({ routingTable: table, port: 0, ...(tracing ? { tracing } : {}) });
  process.send!({ origin: gateway.url, tracing: tracing === undefined ? 'off' : `${tracing.config.sampler} ${tracing.config.ratio}` });
  process.on('disconnect', () => void gateway.close().then(() => tracing?.shutdown()).then(() => process.exit(0)));
}

// ---------------------------------------------------------------- orchestrator
async function runOrchestrator(): Promise<void> {
  const job = closedLoopJobFromFlags({ path: INFER_PATH, body: REQUEST_BODY }, { concurrency: 16, seconds: 3, rounds: 3, warmup: 6 });
  const self = fileURLToPath(import.meta.url);
  const children: ChildProcess[] = [];
  const start = async (args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; origin: string; tracing?: string }> => {
    // Only the settings' own OTEL_* reach a gateway: none of the caller's.
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
    const child = fork(self, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...base, ...env } });
    children.push(child);
    const first = await new Promise<{ origin: string; tracing?: string }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { origin: string }));
      child.once('exit', (code) => reject(new Error(`bench child ${args[0]} exited with ${code} before answering`)));
    });
    return { child, ...first };
  };
  try {
    const upstream = await start(['upstream']);
    const sink = await start(['sink']);
    const gateways: Array<{ child: ChildProcess; origin: string; tracing?: string }> = [];
    for (const s of SETTINGS) {
      const env = s.name === 'tracing off' ? {} : { ...s.env, OTEL_EXPORTER_OTLP_ENDPOINT: sink.origin };
      gateways.push(await start(['gateway', upstream.origin], env));
    }
    const client = fork(self, ['client'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(client);
    const cpuAt = new Array<number>(gateways.length).fill(0);
    const cpuSeconds = new Array<number>(gateways.length).fill(0);
    const busyBefore = machineBusySeconds();
    const began = performance.now();
    const results = await closedLoop(client, { ...job, origins: gateways.map((g) => g.origin) }, (m) => {
      const cpu = treeCpuSeconds(gateways[m.target]!.child.pid!);
      if (m.phase === 'start') cpuAt[m.target] = cpu;
      else cpuSeconds[m.target]! += cpu - cpuAt[m.target]!;
    });
    const others = otherWorkShare(busyBefore, (performance.now() - began) / 1000, children);
    report(job, results, cpuSeconds, gateways.map((g) => g.tracing ?? ''), others);
  } finally {
    for (const c of children) await stopChild(c);
  }
}

function report(job: Omit<ClosedLoopJob, 'origins'>, results: TargetResult[], cpuSeconds: number[], tracing: string[], others: number): void {
  const f = (n: number, d = 2): string => n.toFixed(d);
  const perRequest = results.map((r, i) => (cpuSeconds[i]! * 1e6) / r.requests);
  const rps = results.map((r) => r.requests / r.seconds);
  const lines = [
    `Tracing overhead — ${availableParallelism()} × ${cpus()[0]?.model ?? 'unknown cpu'}, Node ${process.version}, concurrency ${job.concurrency}, ` +
      `${job.rounds} × ${job.measureMs / 1000} s per gateway (alternating), ${job.warmupMs / 1000} s warm-up each, POST ${INFER_PATH}; ` +
      `other work on the machine: ${f(others * 100, 0)}% of its cores`,
    '',
    '| gateway | sampler | requests | errors | req/s | p50 ms | p99 ms | CPU µs/request | CPU vs off |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r, i) =>
        `| ${SETTINGS[i]!.name} | ${tracing[i]} | ${r.requests} | ${r.errors} | ${f(rps[i]!, 0)} | ${f(r.p50, 3)} | ${f(r.p99, 3)} | ${f(perRequest[i]!, 1)} | ×${f(perRequest[i]! / perRequest[0]!)} |`,
    ),
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

function noop(): void {}
