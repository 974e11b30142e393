/**
 * The closed-loop client of the gateway benchmarks (gateway.ts, tracing-overhead.ts): a child
 * process of the benchmark, so no server shares its event loop. It warms every target up, then
 * measures them in alternating rounds, `concurrency` loops each sending the next request as soon
 * as the last one is read, and tells the parent as each measured round starts and ends (so the
 * parent can read a server's CPU time over exactly that round).
 *
 *   child:  if (role === 'client') runClosedLoopClient();
 *   parent: const results = await closedLoop(fork(self, ['client'], …), job, (mark) => …);
 */
import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { percentile } from './support.ts';

export interface ClosedLoopJob {
  /** The targets, measured in this order in every round. */
  origins: string[];
  /** POSTed with `content-type: application/json`. */
  path: string;
  body: string;
  concurrency: number;
  warmupMs: number;
  measureMs: number;
  rounds: number;
}

/**
 * The job of a gateway benchmark from its command line (`--concurrency`, `--seconds`, `--rounds`,
 * `--warmup`, seconds), each benchmark with its own defaults; the targets come later.
 */
export function closedLoopJobFromFlags(
  request: Pick<ClosedLoopJob, 'path' | 'body'>,
  defaults: { concurrency: number; seconds: number; rounds: number; warmup: number },
): Omit<ClosedLoopJob, 'origins'> {
  const flag = (d: number) => ({ type: 'string', default: String(d) }) as const;
  const { values } = parseArgs({
    options: { concurrency: flag(defaults.concurrency), seconds: flag(defaults.seconds), rounds: flag(defaults.rounds), warmup: flag(defaults.warmup) },
  });
  return {
    ...request,
    concurrency: Number(values.concurrency),
    measureMs: Number(values.seconds) * 1000,
    rounds: Number(values.rounds),
    warmupMs: Number(values.warmup) * 1000,
  };
}

/** A measured round of `origins[target]` starts or ends. */
export interface PhaseMark {
  phase: 'start' | 'end';
  target: number;
}

/** One target's rounds together; latencies in ms. */
export interface TargetResult {
  requests: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
}

/** In the child: takes one job from the parent, runs it, sends the results back and exits. */
export function runClosedLoopClient(): void {
  process.once('message', (job: ClosedLoopJob) => {
    measure(job, mark).then(
      (results) => process.send!(results, () => process.exit(0)),
      (err: unknown) => {
        process.stderr.write(`bench client: ${String(err)}\n`);
        process.exit(1);
      },
    );
  });
}

/** In the parent: gives `client` (a forked child running `runClosedLoopClient`) the job; `onMark` hears each round start and end. */
export function closedLoop(client: ChildProcess, job: ClosedLoopJob, onMark: (mark: PhaseMark) => void): Promise<TargetResult[]> {
  return new Promise((resolve, reject) => {
    client.on('message', (m: PhaseMark | TargetResult[]) => {
      if (Array.isArray(m)) resolve(m);
      else onMark(m);
    });
    client.once('exit', (code) => reject(new Error(`bench client exited with ${code} before answering`)));
    client.send(job);
  });
}

async function measure(job: ClosedLoopJob, onMark: (m: PhaseMark) => Promise<void>): Promise<TargetResult[]> {
  const pools = job.origins.map((o) => new Pool(o, { connections: job.concurrency, pipelining: 1 }));
  const latencies = job.origins.map((): number[] => []);
  const totals = job.origins.map(() => ({ requests: 0, errors: 0, seconds: 0 }));
  for (const pool of pools) await load(pool, job, job.warmupMs, null, null);
  for (let round = 0; round < job.rounds; round++) {
    for (let i = 0; i < pools.length; i++) {
      const stats = { requests: 0, errors: 0 };
      await onMark({ phase: 'start', target: i });
      const started = performance.now();
      await load(pools[i]!, job, job.measureMs, latencies[i]!, stats);
      totals[i]!.seconds += (performance.now() - started) / 1000;
      await onMark({ phase: 'end', target: i });
      totals[i]!.requests += stats.requests;
      totals[i]!.errors += stats.errors;
    }
  }
  await Promise.all(pools.map((p) => p.close()));
  return totals.map((t, i) => ({ ...t, p50: percentile(latencies[i]!, 0.5), p99: percentile(latencies[i]!, 0.99) }));
}

/** Tells the parent a measured round starts or ends; resolves once the message is sent. */
function mark(m: PhaseMark): Promise<void> {
  return new Promise((resolve) => process.send!(m, () => resolve()));
}

/** `concurrency` loops, each sending the next request as soon as the last one is read. */
async function load(pool: Pool, job: ClosedLoopJob, durationMs: number, latencies: number[] | null, stats: { requests: number; errors: number } | null): Promise<void> {
  const stopAt = performance.now() + durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const t0 = performance.now();
      const r = await pool.request({ path: job.path, method: 'POST', headers: { 'content-type': 'application/json' }, body: job.body });
      await r.body.dump();
      latencies?.push(performance.now() - t0);
      if (stats !== null) {
        stats.requests++;
        if (r.statusCode !== 200) stats.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, loop));
}
