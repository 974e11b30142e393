/**
 * Helpers the benchmarks share: where karb is, the example models, free ports, stopping child processes, medians
 * and percentiles, and how busy the machine was with work that is not the
 * benchmark's own (so a result can say it shared the cores).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLOCK_TICKS_PER_SECOND } from '../src/runtime/local/proc-stat.ts';
import { treeCpuSeconds } from './peers/proc-tree.ts';
import { freePort } from '../src/util/free-port.ts';
export { freePort };

/** The repository, the pinned Node that runs karb, and karb's CLI entry. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const NODE = path.join(REPO, 'node_modules/.bin/node');
export const CLI = path.join(REPO, 'src/cli/main.ts');

/** Generates the example models when they are missing (scripts/make-models.ts --if-missing). */
export async function ensureModels(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(NODE, [path.join(REPO, 'scripts/make-models.ts'), '--if-missing'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`make-models exited ${code}`))));
  });
}

/** A server the benchmark started: where it listens, and how to stop it. */
export interface Child {
  process: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** Runs the pinned Node with `args` and waits for its `listening` log line (karb serve's, and the bare server's). */
export async function startChild(args: string[]): Promise<Child> {
  const child = spawn(NODE, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'listening' && typeof entry.port === 'number') resolve(entry.port);
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code} before listening`)));
  });
  return {
    process: child,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Asks a child to stop (disconnect if it has an IPC channel, else SIGTERM); SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.disconnect();
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The `q` quantile (0..1) of `values`, nearest rank; NaN for none. */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** CPU seconds the whole machine has spent busy (user, nice, system) since boot. */
export function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (fields[0]! + fields[1]! + fields[2]!) / CLOCK_TICKS_PER_SECOND;
}

/**
 * The share of the machine's cores that other work used over `seconds` since
 * `busyBefore` (a `machineBusySeconds()` reading): busy time minus this
 * process's and its `children`'s (with their descendants).
 */
export function otherWorkShare(busyBefore: number, seconds: number, children: ChildProcess[]): number {
  const busy = machineBusySeconds() - busyBefore;
  const self = process.cpuUsage();
  let ours = (self.user + self.system) / 1e6;
  for (const c of children) if (c.pid !== undefined) ours += treeCpuSeconds(c.pid);
  return Math.max(0, busy - ours) / (seconds * availableParallelism());
}
