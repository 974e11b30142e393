/**
 * A replica's CPU and memory limits (`spec.resources.limits`) on this machine.
 * One mechanism is chosen when the runtime starts (`detectReplicaLimiter`) and logged:
 *
 * - cgroup v2: `memory.max` and `cpu.max` of `<mount>/karb/<replica>` (`cgroups.ts`);
 * - cgroup v1: `memory.limit_in_bytes` and `cpu.cfs_quota_us` of `<controller mount>/karb/<replica>`;
 * - otherwise a watchdog SIGKILLs a replica whose RSS passes its memory limit, and CPU is not
 *   limited (`memory-watchdog.ts`); without `/proc` nothing is enforced.
 *
 * For each process of a replica the limiter prepares a `Placement` before it starts; once the
 * process has exited, the placement says whether it was killed for memory, then is cleaned up.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseCpu, parseMemory } from '../../api/quantity.ts';
import { InvalidRequestError } from '../../errors.ts';
import { CgroupV1Limiter, CgroupV2Limiter, detectCgroupLayout } from './cgroups.ts';
import { MemoryWatchdogLimiter, WATCHDOG_INTERVAL_MS } from './memory-watchdog.ts';

/** What one replica may use; a missing (or zero) figure is not limited. */
export interface ReplicaLimits {
  /** CPU cores: 0.5 is half of one core's time. */
  cpuCores?: number;
  memoryBytes?: number;
  /** The memory limit as the spec spells it (`64Mi`), for messages. */
  memory?: string;
}

export type LimitMechanism = 'cgroup-v2' | 'cgroup-v1' | 'rss-watchdog' | 'none';

/** One process of a replica, as its limiter sees it. */
export interface Placement {
  /** The argv that runs `argv` under the limits (inside its group from its first instruction), or `argv` itself. */
  command(argv: string[]): string[];
  /** The process runs (or was adopted) with this pid. */
  started(pid: number): void;
  /** Whether the process was killed for passing its memory limit; asked after it exited. */
  wasOomKilled(): boolean;
  /** Stops watching and leaves the group for a later karb (the process keeps running). */
  release(): void;
  /** Stops watching and removes what `prepare` made; once the process is gone. */
  cleanup(): void;
}

export interface ReplicaLimiter {
  readonly mechanism: LimitMechanism;
  /** What is enforced and where, for the log line at start. */
  readonly summary: string;
  /** Sets up the limits of the next process of `replica` (again for an adopted one); throws when it cannot. */
  prepare(replica: string, limits: ReplicaLimits): Placement;
  /** Removes what is left of a replica whose process is gone (found on recovery). */
  forget(replica: string): void;
}

type LimitsSpec = { cpu?: string | number; memory?: string | number } | undefined;

/** The limits of `spec.resources.limits`; throws RUNTIME_INVALID_LIMITS naming the field when one is no quantity. */
export function replicaLimits(where: string, limits: LimitsSpec): ReplicaLimits {
  const out: ReplicaLimits = {};
  if (limits?.cpu !== undefined) {
    const cores = parseCpu(limits.cpu);
    if (cores === undefined) {
      throw new InvalidRequestError(`${where}: resources.limits.cpu '${limits.cpu}' is not a CPU quantity; write e.g. "2" or "500m"`, { code: 'RUNTIME_INVALID_LIMITS' });
    }
    if (cores > 0) out.cpuCores = cores;
  }
  if (limits?.memory !== undefined) {
    const bytes = parseMemory(limits.memory);
    if (bytes === undefined) {
      throw new InvalidRequestError(`${where}: resources.limits.memory '${limits.memory}' is not a memory quantity; write e.g. "512Mi" or "2Gi"`, { code: 'RUNTIME_INVALID_LIMITS' });
    }
    if (bytes > 0) Object.assign(out, { memoryBytes: Math.floor(bytes), memory: String(limits.memory) });
  }
  return out;
}

/** The crash message of a replica killed for memory; the service's Ready condition and ReplicaCrashed event quote it. */
export function oomKilledMessage(limits: ReplicaLimits): string {
  return `OOMKilled: used more than its memory limit of ${limits.memory ?? `${limits.memoryBytes} bytes`}`;
}

export interface DetectOptions {
  /** Texts of `/proc/self/cgroup` and `/proc/self/mountinfo`; read from `/proc` when not given. */
  procSelfCgroup?: string;
  mountinfo?: string;
  watchdogIntervalMs?: number;
  log?: (record: Record<string, unknown>) => void;
}

/** Picks the mechanism this machine lets karb use (v2, then v1, then the watchdog), trying each, and logs it. */
export function detectReplicaLimiter(options: DetectOptions = {}): ReplicaLimiter {
  const log = options.log ?? (() => {});
  const detection = detectCgroupLayout(options.procSelfCgroup ?? readOr('/proc/self/cgroup'), options.mountinfo ?? readOr('/proc/self/mountinfo'));
  const notUsable = [...detection.notUsable];
  let limiter: ReplicaLimiter | undefined;
  const layout = detection.layout;
  if (layout !== undefined) {
    try {
      limiter = layout.version === 2 ? CgroupV2Limiter.open(layout.mount, log) : CgroupV1Limiter.open(layout, log);
    } catch (err) {
      notUsable.push(`cgroup v${layout.version}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (limiter === undefined) {
    limiter = existsSync('/proc/self/status') ? new MemoryWatchdogLimiter({ intervalMs: options.watchdogIntervalMs ?? WATCHDOG_INTERVAL_MS, log }) : noLimiter;
  }
  const cgroups = limiter.mechanism === 'cgroup-v1' || limiter.mechanism === 'cgroup-v2';
  log({ level: cgroups ? 'info' : 'warn', msg: `replica limits: ${limiter.summary}`, mechanism: limiter.mechanism, ...(notUsable.length > 0 ? { notUsable } : {}) });
  return limiter;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const noPlacement: Placement = { command: (argv) => argv, started() {}, wasOomKilled: () => false, release() {}, cleanup() {} };

/** Where neither cgroups nor `/proc` are there (not Linux): limits are accepted and not enforced. */
const noLimiter: ReplicaLimiter = {
  mechanism: 'none',
  summary: 'none: neither cgroups nor /proc are usable here, so CPU and memory limits are not enforced',
  prepare: () => noPlacement,
  forget() {},
};
