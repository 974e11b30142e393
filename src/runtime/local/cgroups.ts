/**
 * Replica limits through cgroups: each replica gets a group under a karb-owned parent,
 * `<mount>/karb/<replica>` (v2) or `<memory mount>/karb/<replica>` and `<cpu mount>/karb/<replica>`
 * (v1), its limits are written before the process starts, and the process is started through
 * `/bin/sh`, which moves itself into the group and then execs the replica: the replica runs in
 * its group from its first instruction, and keeps the pid and argv karb records (adoption
 * compares `/proc/<pid>/cmdline` with the real command, which it is after the exec).
 *
 * Mount points are parameters, so the writers run against a directory of plain files in tests.
 * v1 is what karb's own test machine has; the v2 writer follows the kernel's cgroup-v2 document
 * (controllers enabled top-down through `cgroup.subtree_control`, `memory.events` oom_kill).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Placement, ReplicaLimiter, ReplicaLimits } from './resource-limits.ts';

/** The karb-owned group under each mount that holds one group per replica. */
export const KARB_GROUP = 'karb';
export const CPU_PERIOD_US = 100_000;
/** The kernel's smallest CFS quota. */
const MIN_QUOTA_US = 1000;
/** Moves the shell into each `cgroup.procs` file given before `--`, then execs the rest. */
const ENTER_GROUPS = 'for f do shift; [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; done; exec "$@"';
const RMDIR_RETRY_MS = 100;

export type CgroupLayout = { version: 2; mount: string } | { version: 1; memory: string; cpu: string };

/** The layout karb would use, and why the other versions are not usable. */
export interface CgroupDetection {
  layout?: CgroupLayout;
  notUsable: string[];
}

/**
 * Reads where memory and CPU are controlled from `/proc/self/cgroup` (`0::/path` for the
 * unified hierarchy, `N:memory:/path` for a v1 one) and where those hierarchies are mounted
 * from `/proc/self/mountinfo`. Pure: whether karb may write there is tried afterwards.
 */
export function detectCgroupLayout(procSelfCgroup: string, mountinfo: string): CgroupDetection {
  const v1 = new Set<string>();
  let unified = false;
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m === null) continue;
    if (m[1] === '0' && m[2] === '') unified = true;
    else for (const c of m[2]!.split(',')) if (c !== '') v1.add(c);
  }
  if (!unified && v1.size === 0) return { notUsable: ['cgroups: /proc/self/cgroup names no hierarchy (not Linux, or /proc is not mounted)'] };

  const mounts = parseCgroupMounts(mountinfo);
  const v2Mount = mounts.find((m) => m.fsType === 'cgroup2')?.point;
  const v1Mount = (controller: string) => mounts.find((m) => m.fsType === 'cgroup' && m.options.includes(controller))?.point;
  const onV1 = (['memory', 'cpu'] as const).filter((c) => v1.has(c));

  if (onV1.length === 0) {
    const notUsable = ['cgroup v1: memory and cpu are not on a v1 hierarchy'];
    if (!unified || v2Mount === undefined) return { notUsable: [...notUsable, `cgroup v2: ${unified ? 'the unified hierarchy is not mounted' : 'this process is in no unified hierarchy'}`] };
    return { layout: { version: 2, mount: v2Mount }, notUsable };
  }
  const v2Reason = v2Mount === undefined ? 'cgroup v2: not mounted' : `cgroup v2 at ${v2Mount}: memory and cpu are on cgroup v1 here`;
  if (onV1.length === 1) return { notUsable: [v2Reason, `cgroup v1: only ${onV1[0]} is on a v1 hierarchy; karb limits both or neither`] };
  const memory = v1Mount('memory');
  const cpu = v1Mount('cpu');
  if (memory === undefined || cpu === undefined) {
    return { notUsable: [v2Reason, `cgroup v1: the ${memory === undefined ? 'memory' : 'cpu'} controller is not mounted`] };
  }
  return { layout: { version: 1, memory, cpu }, notUsable: [v2Reason] };
}

interface CgroupMount {
  point: string;
  fsType: string;
  /** Super options, e.g. `rw`, `memory` (v1 controllers are named here). */
  options: string[];
}

/** The cgroup and cgroup2 mounts of a mountinfo text (`… mountpoint … - fstype source superoptions`). */
function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const point = left.split(' ')[4];
    const [fsType, , superOptions] = right.split(' ');
    if (point === undefined || (fsType !== 'cgroup' && fsType !== 'cgroup2')) continue;
    out.push({ point: point.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), fsType, options: (superOptions ?? '').split(',') });
  }
  return out;
}

type Log = (record: Record<string, unknown>) => void;

/** cgroup v1: one group in the memory hierarchy and one in the cpu hierarchy per replica. */
export class CgroupV1Limiter implements ReplicaLimiter {
  readonly mechanism = 'cgroup-v1';
  readonly #memory: string;
  readonly #cpu: string;
  readonly #log: Log;

  /** `mounts`: where the memory and cpu controllers are mounted; karb's groups go under `karb/` in each. */
  constructor(mounts: { memory: string; cpu: string }, log: Log = () => {}) {
    this.#memory = join(mounts.memory, KARB_GROUP);
    this.#cpu = join(mounts.cpu, KARB_GROUP);
    this.#log = log;
  }

  /** A limiter whose groups karb has just been able to make, limit and remove; throws saying why not. */
  static open(mounts: { memory: string; cpu: string }, log?: Log): CgroupV1Limiter {
    const limiter = new CgroupV1Limiter(mounts, log);
    tryProbe(limiter);
    return limiter;
  }

  get summary(): string {
    return `cgroup v1: memory.limit_in_bytes under ${this.#memory}, cpu.cfs_quota_us under ${this.#cpu}`;
  }

  prepare(replica: string, limits: ReplicaLimits): Placement {
    const memory = join(this.#memory, replica);
    const cpu = join(this.#cpu, replica);
    return withGroups([memory, cpu], () => {
      // Swap is limited with memory (where the kernel accounts it), so the limit holds: unlimited first, as memsw may never be below the limit.
      const memsw = join(memory, 'memory.memsw.limit_in_bytes');
      const swapAccounted = existsSync(memsw);
      if (swapAccounted) write(memsw, '-1');
      write(join(memory, 'memory.limit_in_bytes'), limits.memoryBytes === undefined ? '-1' : String(limits.memoryBytes));
      if (swapAccounted && limits.memoryBytes !== undefined) write(memsw, String(limits.memoryBytes));
      write(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      write(join(cpu, 'cpu.cfs_quota_us'), limits.cpuCores === undefined ? '-1' : String(cpuQuotaUs(limits.cpuCores)));
      const oomKills = () => counter(join(memory, 'memory.oom_control'), 'oom_kill');
      return new GroupPlacement([join(memory, 'cgroup.procs'), join(cpu, 'cgroup.procs')], oomKills, [memory, cpu], this.#log);
    });
  }

  forget(replica: string): void {
    removeGroups([join(this.#memory, replica), join(this.#cpu, replica)], this.#log, false);
  }
}

/** cgroup v2: one group per replica in the unified hierarchy, with memory and cpu enabled for karb's groups. */
export class CgroupV2Limiter implements ReplicaLimiter {
  readonly mechanism = 'cgroup-v2';
  readonly #mount: string;
  readonly #parent: string;
  readonly #log: Log;

  constructor(mount: string, log: Log = () => {}) {
    this.#mount = mount;
    this.#parent = join(mount, KARB_GROUP);
    this.#log = log;
  }

  static open(mount: string, log?: Log): CgroupV2Limiter {
    const limiter = new CgroupV2Limiter(mount, log);
    const offered = readFileSync(join(mount, 'cgroup.controllers'), 'utf8').split(/\s+/);
    const missing = ['memory', 'cpu'].filter((c) => !offered.includes(c));
    if (missing.length > 0) throw new Error(`${mount}/cgroup.controllers offers no ${missing.join(' or ')} controller`);
    tryProbe(limiter);
    return limiter;
  }

  get summary(): string {
    return `cgroup v2: memory.max and cpu.max under ${this.#parent}`;
  }

  prepare(replica: string, limits: ReplicaLimits): Placement {
    this.#enableControllers();
    const dir = join(this.#parent, replica);
    return withGroups([dir], () => {
      write(join(dir, 'memory.max'), limits.memoryBytes === undefined ? 'max' : String(limits.memoryBytes));
      if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), limits.memoryBytes === undefined ? 'max' : '0');
      // The whole group goes at once, as a replica's helper processes serve nothing without it.
      if (existsSync(join(dir, 'memory.oom.group'))) write(join(dir, 'memory.oom.group'), '1');
      write(join(dir, 'cpu.max'), `${limits.cpuCores === undefined ? 'max' : cpuQuotaUs(limits.cpuCores)} ${CPU_PERIOD_US}`);
      return new GroupPlacement([join(dir, 'cgroup.procs')], () => counter(join(dir, 'memory.events'), 'oom_kill'), [dir], this.#log);
    });
  }

  forget(replica: string): void {
    removeGroups([join(this.#parent, replica)], this.#log, false);
  }

  /**
   * Controllers reach a group only when its parent enables them (`cgroup.subtree_control`), top
   * down: the mount's root (where karb's parent sits) and `karb/`. v2 refuses this in a group
   * that has processes of its own, so karb's parent holds none: replicas sit one level below it.
   */
  #enableControllers(): void {
    mkdirSync(this.#parent, { recursive: true });
    for (const dir of [this.#mount, this.#parent]) {
      const file = join(dir, 'cgroup.subtree_control');
      const enabled = readFileSync(file, 'utf8').split(/\s+/);
      const missing = ['memory', 'cpu'].filter((c) => !enabled.includes(c));
      if (missing.length === 0) continue;
      try {
        writeFileSync(file, missing.map((c) => `+${c}`).join(' '));
      } catch (err) {
        throw new Error(`could not enable ${missing.join(' and ')} in ${file}: ${errnoText(err)}`, { cause: err });
      }
    }
  }
}

/** CFS quota per `CPU_PERIOD_US` for `cores` (at least the kernel's minimum). */
export function cpuQuotaUs(cores: number): number {
  return Math.max(MIN_QUOTA_US, Math.round(cores * CPU_PERIOD_US));
}

/** One process of a replica in its group(s). */
class GroupPlacement implements Placement {
  readonly #procs: string[];
  readonly #oomKills: () => number | undefined;
  readonly #before: number;
  readonly #dirs: string[];
  readonly #log: Log;

  constructor(procs: string[], oomKills: () => number | undefined, dirs: string[], log: Log) {
    this.#procs = procs;
    this.#oomKills = oomKills;
    // A group left by an earlier process of the replica keeps counting; only kills after now are this process's.
    this.#before = oomKills() ?? 0;
    this.#dirs = dirs;
    this.#log = log;
  }

  command(argv: string[]): string[] {
    return ['/bin/sh', '-c', ENTER_GROUPS, 'karb-limits', ...this.#procs, '--', ...argv];
  }

  started(): void {}

  wasOomKilled(): boolean {
    return (this.#oomKills() ?? 0) > this.#before;
  }

  release(): void {}

  cleanup(): void {
    removeGroups(this.#dirs, this.#log, true);
  }
}

/** Makes `dirs` (and karb's parent), then runs `fill`; removes them again if it throws. */
function withGroups(dirs: string[], fill: () => Placement): Placement {
  try {
    for (const dir of dirs) mkdirSync(dir, { recursive: true });
    return fill();
  } catch (err) {
    for (const dir of dirs) rmdirQuietly(dir);
    throw err;
  }
}

/** Makes, limits and removes a group, so a limiter that cannot is never chosen. */
function tryProbe(limiter: ReplicaLimiter): void {
  const probe = `probe-${process.pid}`;
  limiter.prepare(probe, { cpuCores: 1, memoryBytes: 64 * 1024 * 1024, memory: '64Mi' });
  limiter.forget(probe);
}

/**
 * rmdir each group; one still busy (a process in it has not been reaped yet) is tried once more
 * a moment later when `retry`, then left with a warning.
 */
function removeGroups(dirs: string[], log: Log, retry: boolean): void {
  for (const dir of dirs) {
    const code = rmdirQuietly(dir);
    if (code !== 'EBUSY') continue;
    if (!retry) {
      log({ level: 'warn', msg: 'could not remove a replica cgroup: processes are still in it', cgroup: dir });
      continue;
    }
    setTimeout(() => {
      if (rmdirQuietly(dir) === 'EBUSY') log({ level: 'warn', msg: 'could not remove a replica cgroup: processes are still in it', cgroup: dir });
    }, RMDIR_RETRY_MS).unref();
  }
}

/** Removes an empty directory; returns the error code when it could not (a gone one is no error). */
function rmdirQuietly(dir: string): string | undefined {
  try {
    rmdirSync(dir);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? undefined : (code ?? 'EUNKNOWN');
  }
}

function write(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (err) {
    throw new Error(`could not write ${value} to ${file}: ${errnoText(err)}`, { cause: err });
  }
}

/** A `name N` line of a cgroup key-value file (`memory.oom_control`, `memory.events`); undefined when unreadable. */
function counter(file: string, name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? (err instanceof Error ? err.message : String(err));
}
