/**
 * Gateway overhead benchmark: the same closed-loop client at fixed concurrency
 * calls one upstream `node:http` server (a) directly and (b) through the
 * gateway, alternating rounds, and prints req/s, p50 and p99 for both with
 * the ratio and the latency the gateway adds.
 *
 * Three processes, so no two of them share an event loop: this one runs the
 * gateway, a child runs the upstream, another child runs the load client.
 *
 *   node bench/gateway.ts [--concurrency 32] [--seconds 4] [--rounds 2] [--warmup 8]
 *
 * The warm-up is long because V8 keeps optimizing the gateway's code over its
 * first tens of thousands of requests; a gateway runs for days.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { startGateway } from '../src/gateway/server/gateway.ts';
import { InMemoryRoutingTable } from '../src/gateway/discovery/routing-table.ts';

const MODEL = 'bench';
const INFER_PATH = `/v2/models/${MODEL}/infer`;
const REQUEST_BODY = JSON.stringify({
  inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] }],
});
const RESPONSE_BODY = Buffer.from(
  JSON.stringify({
    model_name: MODEL,
    model_version: '1',
    outputs: [{ name: 'probability', shape: [1, 1], datatype: 'FP32', data: [0.0123] }],
  }),
);

interface Target {
  name: string;
  origin: string;
}

interface ClientJob {
  targets: Target[];
  concurrency: number;
  warmupMs: number;
  measureMs: number;
  rounds: number;
}

interface PhaseMark {
  phase: 'start' | 'end';
  target: string;
}

interface TargetResult {
  name: string;
  requests: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
}

const role = process.argv[2];
if (role === 'upstream') runUpstream();
else if (role === 'client') runClient();
else await runOrchestrator();

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
  server.listen(0, '127.0.0.1', () => {
    process.send!({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------- client
function runClient(): void {
  process.once('message', (job: ClientJob) => {
    measure(job).then(
      (results) => process.send!(results, () => process.exit(0)),
      (err: unknown) => {
        process.stderr.write(`bench client: ${String(err)}\n`);
        process.exit(1);
      },
    );
  });
}

async function measure(job: ClientJob): Promise<TargetResult[]> {
  const pools = job.targets.map((t) => new Pool(t.origin, { connections: job.concurrency, pipelining: 1 }));
  const latencies = job.targets.map((): number[] => []);
  const requests = job.targets.map(() => 0);
  const errors = job.targets.map(() => 0);
  const seconds = job.targets.map(() => 0);

  for (let i = 0; i < job.targets.length; i++) await load(pools[i]!, job.concurrency, job.warmupMs, null, null);
  for (let round = 0; round < job.rounds; round++) {
    for (let i = 0; i < job.targets.length; i++) {
      const stats = { requests: 0, errors: 0 };
      await mark({ phase: 'start', target: job.targets[i]!.name });
      const started = performance.now();
      await load(pools[i]!, job.concurrency, job.measureMs, latencies[i]!, stats);
      seconds[i]! += (performance.now() - started) / 1000;
      await mark({ phase: 'end', target: job.targets[i]!.name });
      requests[i]! += stats.requests;
      errors[i]! += stats.errors;
    }
  }
  await Promise.all(pools.map((p) => p.close()));
  return job.targets.map((t, i) => {
    const sorted = Float64Array.from(latencies[i]!).sort();
    return {
      name: t.name,
      requests: requests[i]!,
      errors: errors[i]!,
      seconds: seconds[i]!,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
    };
  });
}

/** Tells the orchestrator a measured phase starts or ends, so it can read its own CPU time. */
function mark(m: PhaseMark): Promise<void> {
  return new Promise((resolve) => process.send!(m, () => resolve()));
}

/** `concurrency` loops, each sending the next request as soon as the last one is read. */
async function load(
  pool: Pool,
  concurrency: number,
  durationMs: number,
  latencies: number[] | null,
  stats: { requests: number; errors: number } | null,
): Promise<void> {
  const stopAt = performance.now() + durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const t0 = performance.now();
      const r = await pool.request({
        path: INFER_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: REQUEST_BODY,
      });
      await r.body.dump();
      const ms = performance.now() - t0;
      if (stats !== null) {
        stats.requests++;
        if (r.statusCode !== 200) stats.errors++;
      }
      latencies?.push(ms);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

// ---------------------------------------------------------------- orchestrator
async function runOrchestrator(): Promise<void> {
  const { values } = parseArgs({
    options: {
      concurrency: { type: 'string', default: '32' },
      seconds: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '8' },
    },
  });
  const job: Omit<ClientJob, 'targets'> = {
    concurrency: Number(values.concurrency),
    measureMs: Number(values.seconds) * 1000,
    rounds: Number(values.rounds),
    warmupMs: Number(values.warmup) * 1000,
  };

  const self = fileURLToPath(import.meta.url);
  const children: ChildProcess[] = [];
  const spawn = (r: string): ChildProcess => {
    const child = fork(self, [r], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    return child;
  };
  const firstMessage = <T>(child: ChildProcess): Promise<T> =>
    new Promise((resolve, reject) => {
      child.once('message', (m) => resolve(m as T));
      child.once('exit', (code) => reject(new Error(`bench child exited with ${code} before answering`)));
    });

  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  try {
    const upstream = spawn('upstream');
    const { origin } = await firstMessage<{ origin: string }>(upstream);

    const table = new InMemoryRoutingTable();
    table.replace([
      {
        model: MODEL,
        namespace: 'default',
        service: MODEL,
        format: 'oip',
        revisions: [{ revision: `${MODEL}-00001`, weight: 100, endpoints: [{ replica: `${MODEL}-00001-a`, url: origin }] }],
      },
    ]);
    gateway = await startGateway({ routingTable: table, port: 0 });

    const client = spawn('client');
    // CPU time of this process (the gateway) while the gateway target is measured.
    let cpuAtStart = process.cpuUsage();
    let gatewayCpuMicros = 0;
    const done = new Promise<TargetResult[]>((resolve, reject) => {
      client.on('message', (m: PhaseMark | TargetResult[]) => {
        if (Array.isArray(m)) return resolve(m);
        if (m.target !== 'gateway') return;
        if (m.phase === 'start') cpuAtStart = process.cpuUsage();
        else {
          const used = process.cpuUsage(cpuAtStart);
          gatewayCpuMicros += used.user + used.system;
        }
      });
      client.once('exit', (code) => reject(new Error(`bench client exited with ${code} before answering`)));
    });
    client.send({
      ...job,
      targets: [
        { name: 'direct', origin },
        { name: 'gateway', origin: gateway.url },
      ],
    } satisfies ClientJob);
    const results = await done;
    printReport(job, results, gatewayCpuMicros);
  } finally {
    await gateway?.close();
    for (const c of children) c.kill();
  }
}

function printReport(job: Omit<ClientJob, 'targets'>, results: TargetResult[], gatewayCpuMicros: number): void {
  const direct = results.find((r) => r.name === 'direct')!;
  const through = results.find((r) => r.name === 'gateway')!;
  const rps = (r: TargetResult): number => r.requests / r.seconds;
  const f = (n: number, d = 2): string => n.toFixed(d);
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  const lines = [
    `Gateway overhead — ${availableParallelism()} × ${cpu}, Node ${process.version}, concurrency ${job.concurrency}, ` +
      `${job.rounds} × ${job.measureMs / 1000} s per target (alternating), POST ${INFER_PATH}`,
    '',
    '| path | requests | errors | req/s | p50 ms | p99 ms |',
    '|---|---:|---:|---:|---:|---:|',
    ...[direct, through].map(
      (r) => `| ${r.name} | ${r.requests} | ${r.errors} | ${f(rps(r), 0)} | ${f(r.p50, 3)} | ${f(r.p99, 3)} |`,
    ),
    `| gateway vs direct | | | ×${f(rps(through) / rps(direct))} | +${f(through.p50 - direct.p50, 3)} | +${f(through.p99 - direct.p99, 3)} |`,
    '',
    `Gateway process CPU: ${f(gatewayCpuMicros / through.requests, 1)} µs per request ` +
      `(${f(gatewayCpuMicros / 1e6 / through.seconds)} cores busy while measured).`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

function noop(): void {}
