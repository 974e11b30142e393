/**
 * Lone-request latency of the model server's batcher:
 *   node bench/lone-request.ts [--json] [--quick] [--rounds N] [--seconds N] [--rate N]
 *
 * Does batching cost a request that has no company? Two `karb serve` processes serve
 * models/fraud-v1.onnx side by side: one with batching on (the defaults: max batch 32,
 * max delay 4 ms) and one with batching off (`--max-batch-size 1`). Open-loop Poisson
 * load at `--rate` requests/s (default 10) from karb's own load generator
 * (src/loadgen/runner.ts), one one-row JSON request (the README's example row) at a time,
 * goes to one server and then the other, in alternating rounds (A B, B A, ...), so both see
 * the same machine. Reported: p50 / p99 of each, pooled over the rounds, and the p50
 * difference (target: batching on within 0.3 ms of batching off), also per round.
 *
 * Latency is from the moment the runner fires a request to its last byte, kept raw (not
 * bucketed) so that the rounds can be pooled.
 * Defaults: 8 rounds of 15 s per server (~4 min); `--quick`: 4 rounds of 6 s (~1 min).
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createHttpSender, runOpenLoop, type Sender } from '../src/loadgen/runner.ts';
import { generatedSchedule } from '../src/loadgen/schedule.ts';
import { CLI, ensureModels, REPO, startChild, type Child } from './support.ts';

const MODEL = path.join(REPO, 'models/fraud-v1.onnx');
const TARGET_MS = 0.3;

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    rate: { type: 'string', default: '10' },
  },
});
const ROUNDS = Number(flags.rounds ?? (flags.quick ? 4 : 8));
const SECONDS = Number(flags.seconds ?? (flags.quick ? 6 : 15));
const RATE = Number(flags.rate);
const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];
const BODY = JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 8], data: ROW }] });

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

interface System {
  name: string;
  flags: string[];
  server?: Child;
  /** Every successful request's latency (ms), pooled over the rounds. */
  latencies: number[];
  roundP50s: number[];
  errors: number;
}

/** One open-loop round against `system`; its latencies are added to the pool and the round's p50 returned. */
async function round(system: System, seed: number, seconds: number, record: boolean): Promise<number> {
  const url = `${system.server!.url}/v2/models/fraud-v1/infer`;
  const http = createHttpSender({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY }, { connections: 8, timeoutMs: 10_000 });
  const own: number[] = [];
  // From the moment the runner fires the request to its last byte.
  const send: Sender = async (arrival) => {
    const t0 = performance.now();
    const result = await http.send(arrival);
    if (result.status === 200) own.push(performance.now() - t0);
    else if (record) system.errors++;
    return result;
  };
  try {
    await runOpenLoop({ schedule: generatedSchedule({ shape: 'constant', rate: RATE }, { durationMs: seconds * 1000, seed }), send });
  } finally {
    await http.close();
  }
  if (record) system.latencies.push(...own);
  return percentile(own, 0.5);
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function main(): Promise<void> {
  await ensureModels();
  const systems: System[] = [
    { name: 'batching on (max batch 32, max delay 4 ms)', flags: ['--max-batch-size', '32', '--max-delay-ms', '4'], latencies: [], roundP50s: [], errors: 0 },
    { name: 'batching off (--max-batch-size 1)', flags: ['--max-batch-size', '1'], latencies: [], roundP50s: [], errors: 0 },
  ];
  try {
    for (const s of systems) s.server = await startChild([CLI, 'serve', '--model', MODEL, '--port', '0', ...s.flags]);
    // Warm-up: JIT, the worker thread, keep-alive connections.
    for (const s of systems) await round(s, 999, Math.min(3, SECONDS), false);
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? systems : [...systems].reverse();
      for (const s of order) {
        log(`round ${r + 1}/${ROUNDS}: ${s.name}, ${RATE} req/s for ${SECONDS} s…`);
        s.roundP50s.push(await round(s, 100 + r, SECONDS, true));
      }
    }
  } finally {
    for (const s of systems) await s.server?.stop();
  }

  const [on, off] = systems as [System, System];
  const p50On = percentile(on.latencies, 0.5);
  const p50Off = percentile(off.latencies, 0.5);
  const deltaMs = p50On - p50Off;
  const roundDeltas = on.roundP50s.map((v, i) => v - off.roundP50s[i]!);
  const result = {
    machine: { cpus: os.availableParallelism(), cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version },
    settings: { model: 'fraud-v1', ratePerSecond: RATE, rounds: ROUNDS, secondsPerRound: SECONDS, arrivals: 'poisson, open loop (src/loadgen/runner.ts)' },
    systems: systems.map((s) => ({ name: s.name, requests: s.latencies.length, errors: s.errors, p50Ms: percentile(s.latencies, 0.5), p99Ms: percentile(s.latencies, 0.99), roundP50sMs: s.roundP50s })),
    p50DeltaMs: deltaMs,
    roundP50DeltasMs: roundDeltas,
    target: { p50DeltaMsAtMost: TARGET_MS, pass: deltaMs <= TARGET_MS },
  };
  if (flags.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return;
  }
  const ms = (v: number) => v.toFixed(3);
  const lines = [
    `Lone-request latency: ${result.machine.cpus} CPUs (${result.machine.cpuModel}), Node ${process.version}; fraud-v1, one row per JSON request, ${RATE} req/s Poisson open loop, ${ROUNDS} alternating rounds of ${SECONDS} s per server`,
    '',
    '| karb serve | requests | p50 ms | p99 ms | errors |',
    '|---|---|---|---|---|',
    ...result.systems.map((s) => `| ${s.name} | ${s.requests} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${s.errors} |`),
    `| **p50 on − off** (target ≤ ${TARGET_MS} ms) | | **${ms(deltaMs)}** ${result.target.pass ? '✓' : '✗'} | | |`,
    '',
    `per-round p50 on − off (ms): ${roundDeltas.map(ms).join(', ')}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/lone-request: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
