/**
 * The fallback where karb cannot write cgroups: a watchdog reads each replica's resident set
 * (`VmRSS` of `/proc/<pid>/status`) every `intervalMs` and SIGKILLs the replica's process group
 * once it is over the memory limit. It is the nearest thing to the kernel's OOM kill without
 * one: memory allocated between two readings is not seen, so a replica can pass its limit
 * for up to an interval, and the process alone is measured, not its children. CPU is not
 * limited: nothing short of a cgroup throttles a process without stopping it.
 */
import { readFileSync } from 'node:fs';
import { signalReplica } from './process-identity.ts';
import type { Placement, ReplicaLimiter, ReplicaLimits } from './resource-limits.ts';

export const WATCHDOG_INTERVAL_MS = 500;

export type RssDecision = { action: 'gone' } | { action: 'keep' | 'kill'; rssBytes: number };

/**
 * What the watchdog does after one reading of `/proc/<pid>/status` (undefined: it could not
 * be read): stop watching a process that is gone (or a zombie, which has no RSS), kill one over
 * `limitBytes`, keep the rest.
 */
export function rssDecision(status: string | undefined, limitBytes: number): RssDecision {
  if (status === undefined) return { action: 'gone' };
  const state = /^State:\s+(\S)/m.exec(status)?.[1];
  const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (state === 'Z' || state === 'X' || rss === undefined) return { action: 'gone' };
  const rssBytes = Number(rss) * 1024;
  return { action: rssBytes > limitBytes ? 'kill' : 'keep', rssBytes };
}

export interface WatchdogOptions {
  intervalMs: number;
  log?: (record: Record<string, unknown>) => void;
  /** Reads `/proc/<pid>/status`; undefined when it cannot. */
  readStatus?: (pid: number) => string | undefined;
}

export class MemoryWatchdogLimiter implements ReplicaLimiter {
  readonly mechanism = 'rss-watchdog';
  readonly #options: Required<WatchdogOptions>;

  constructor(options: WatchdogOptions) {
    this.#options = { log: () => {}, readStatus: readStatusFile, ...options };
  }

  get summary(): string {
    return `a watchdog SIGKILLs a replica whose RSS passes its memory limit (read every ${this.#options.intervalMs} ms); CPU is not limited (cgroups are not writable here)`;
  }

  prepare(replica: string, limits: ReplicaLimits): Placement {
    return new WatchedProcess(replica, limits, this.#options);
  }

  forget(): void {}
}

class WatchedProcess implements Placement {
  readonly #replica: string;
  readonly #limits: ReplicaLimits;
  readonly #options: Required<WatchdogOptions>;
  #timer: NodeJS.Timeout | undefined;
  #killed = false;

  constructor(replica: string, limits: ReplicaLimits, options: Required<WatchdogOptions>) {
    this.#replica = replica;
    this.#limits = limits;
    this.#options = options;
  }

  command(argv: string[]): string[] {
    return argv;
  }

  started(pid: number): void {
    const limit = this.#limits.memoryBytes;
    if (limit === undefined) return;
    this.#timer = setInterval(() => {
      const decision = rssDecision(this.#options.readStatus(pid), limit);
      if (decision.action === 'keep') return;
      this.#stop();
      if (decision.action === 'gone') return;
      this.#killed = true;
      this.#options.log({ level: 'warn', msg: 'memory watchdog: SIGKILL to a replica over its memory limit', replica: this.#replica, pid, rssBytes: decision.rssBytes, limitBytes: limit });
      signalReplica(pid, 'SIGKILL');
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  wasOomKilled(): boolean {
    return this.#killed;
  }

  release(): void {
    this.#stop();
  }

  cleanup(): void {
    this.#stop();
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function readStatusFile(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
}
