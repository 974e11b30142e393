/**
 * The load client of the proxy benchmarks (gateway-nginx.ts, peers-gateway.ts):
 * a child process of the benchmark, so no proxy shares its event loop, that
 * takes jobs over IPC and answers each with its result.
 *
 *   closed  `concurrency` loops, each sending the next request as soon as the last
 *           one is read: the most the target serves
 *   open    src/loadgen's open loop, Poisson arrivals at `rate` with a given seed
 *           (the same for every target), after a short warm-up; latency is each
 *           request's scheduled time → its last byte (the runner's definition), kept
 *           raw so the rounds of a target can be pooled
 */
import { Pool } from 'undici';
import { createHttpSender, preciseClock, runOpenLoop, type Sender } from '../src/loadgen/runner.ts';
import { generatedSchedule } from '../src/loadgen/schedule.ts';

/** Connections of the open loop's sender. */
export const OPEN_CONNECTIONS = 64;

export interface ClosedJob {
  kind: 'closed';
  url: string;
  headers: Record<string, string>;
  body: string;
  concurrency: number;
  measureMs: number;
}

export interface OpenJob {
  /** Another kind names a sender the benchmark gives `runLoadClient` (e.g. streams). */
  kind: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  rate: number;
  /** The open loop run first, unrecorded, with another seed. */
  warmupMs: number;
  measureMs: number;
  seed: number;
  /** Longest wait for one answer. */
  timeoutMs: number;
  /** Longest wait for the answers still out when the schedule ends; default the runner's. */
  drainTimeoutMs?: number;
}

export interface ClosedResult {
  requests: number;
  errors: number;
  seconds: number;
}

export interface OpenRound {
  ok: number;
  errors: number;
  dropped: number;
  /** Scheduled time → last byte, ms, of each successful request. */
  latencies: number[];
  /** Where the sender reports a `firstAt` (streams): scheduled time → first event, ms. */
  firstToken: number[];
}

/** A sender and how to close it; `firstAt` on a result is the moment its first event arrived. */
export interface ClosableSender {
  send: Sender;
  close(): Promise<void>;
}

/**
 * Serves jobs in this process until the benchmark disconnects. `senders` makes the sender of an
 * open job of another kind than 'open' (which sends `body` with createHttpSender).
 */
export function runLoadClient(senders: Record<string, (job: OpenJob) => ClosableSender> = {}): void {
  process.on('message', (job: ClosedJob | OpenJob) => {
    const run = job.kind === 'closed' ? closedLoop(job as ClosedJob) : openLoop(job as OpenJob, senders[job.kind]?.(job as OpenJob));
    run.then(
      (result) => process.send!(result),
      (err: unknown) => {
        process.stderr.write(`bench client: ${String(err)}\n`);
        process.exit(1);
      },
    );
  });
  process.on('disconnect', () => process.exit(0));
}

async function closedLoop(job: ClosedJob): Promise<ClosedResult> {
  const url = new URL(job.url);
  const pool = new Pool(url.origin, { connections: job.concurrency, pipelining: 1 });
  let requests = 0;
  let errors = 0;
  const stopAt = performance.now() + job.measureMs;
  const started = performance.now();
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      try {
        const r = await pool.request({ path: url.pathname, method: 'POST', headers: job.headers, body: job.body });
        await r.body.dump();
        requests++;
        if (r.statusCode !== 200) errors++;
      } catch {
        requests++;
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return { requests, errors, seconds };
}

async function openLoop(job: OpenJob, given: ClosableSender | undefined): Promise<OpenRound> {
  const sender = given ?? createHttpSender({ url: job.url, method: 'POST', headers: job.headers, body: job.body }, { connections: OPEN_CONNECTIONS, timeoutMs: job.timeoutMs });
  const drain = job.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: job.drainTimeoutMs };
  try {
    const schedule = (durationMs: number, seed: number) => generatedSchedule({ shape: 'constant', rate: job.rate }, { durationMs, seed, arrivals: 'poisson' });
    await runOpenLoop({ schedule: schedule(job.warmupMs, job.seed + 1000), send: sender.send, ...drain });
    const done: { atMs: number; endedAt: number; firstAt: number | undefined }[] = [];
    const send: Sender = (arrival) =>
      sender.send(arrival).then((result) => {
        if (result.status === 200) done.push({ atMs: arrival.atMs, endedAt: preciseClock.now(), firstAt: (result as { firstAt?: number }).firstAt });
        return result;
      });
    const r = await runOpenLoop({ schedule: schedule(job.measureMs, job.seed), send, clock: preciseClock, ...drain });
    return {
      ok: r.totals.ok,
      errors: r.totals.errors,
      dropped: r.totals.dropped,
      latencies: done.map((d) => d.endedAt - (r.startedAt + d.atMs)),
      firstToken: done.flatMap((d) => (d.firstAt === undefined ? [] : [d.firstAt - (r.startedAt + d.atMs)])),
    };
  } finally {
    await sender.close();
  }
}
