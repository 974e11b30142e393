/**
 * Gateway overhead benchmark: the same closed-loop client (closed-loop-client.ts) at fixed concurrency
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
import { startGateway } from '../src/gateway/server/gateway.ts';
import { InMemoryRoutingTable } from '../src/gateway/discovery/routing-table.ts';
import { closedLoop, closedLoopJobFromFlags, runClosedLoopClient, type ClosedLoopJob, type TargetResult } from './closed-loop-client.ts';

/** The client's targets, in its order: the upstream itself, then the gateway in front of it. */
const TARGETS = ['direct', 'gateway'] as const;
const GATEWAY = TARGETS.indexOf('gateway');

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

const role = process.argv[2];
if (role === 'upstream') runUpstream();
else if (role === 'client') runClosedLoopClient();
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

// ---------------------------------------------------------------- orchestrator
async function runOrchestrator(): Promise<void> {
  const job = closedLoopJobFromFlags({ path: INFER_PATH, body: REQUEST_BODY }, { concurrency: 32, seconds: 4, rounds: 2, warmup: 8 });

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
    const results = await closedLoop(client, { ...job, origins: [origin, gateway.url] /* TARGETS' order */ }, (m) => {
      if (m.target !== GATEWAY) return;
      if (m.phase === 'start') cpuAtStart = process.cpuUsage();
      else {
        const used = process.cpuUsage(cpuAtStart);
        gatewayCpuMicros += used.user + used.system;
      }
    });
    printReport(job, results, gatewayCpuMicros);
  } finally {
    await gateway?.close();
    for (const c of children) c.kill();
  }
}

function printReport(job: Omit<ClosedLoopJob, 'origins'>, results: TargetResult[], gatewayCpuMicros: number): void {
  const direct = { name: TARGETS[0], ...results[0]! };
  const through = { name: TARGETS[1], ...results[GATEWAY]! };
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
