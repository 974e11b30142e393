/**
 * CPU utilization of replica processes from `/proc/<pid>/stat`: the change in
 * user + system time between two samples over the wall time between them,
 * divided by the cores the spec requests (so 1.0 = using exactly its request).
 * Where `/proc` is missing (not Linux) the signal is missing, never zero.
 */
import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second (USER_HZ); 100 on every mainstream Linux build. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used, or undefined if it cannot be read. */
export function readProcessCpuSeconds(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses; the fields after the last ')' are fixed.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

export class ProcessCpuSampler {
  readonly #read: (pid: number) => number | undefined;
  readonly #last = new Map<number, { cpuSeconds: number; at: number }>();

  constructor(read: (pid: number) => number | undefined = readProcessCpuSeconds) {
    this.#read = read;
  }

  /**
   * Utilization of `pid` since its previous sample, relative to `requestCores`;
   * undefined on the first sample or if the process cannot be read.
   */
  sample(pid: number, now: number, requestCores: number): number | undefined {
    const cpuSeconds = this.#read(pid);
    if (cpuSeconds === undefined) {
      this.#last.delete(pid);
      return undefined;
    }
    const before = this.#last.get(pid);
    this.#last.set(pid, { cpuSeconds, at: now });
    if (before === undefined || now <= before.at || cpuSeconds < before.cpuSeconds) return undefined;
    return (cpuSeconds - before.cpuSeconds) / ((now - before.at) / 1000) / requestCores;
  }

  /** Forgets processes not in `live`. */
  retain(live: ReadonlySet<number>): void {
    for (const pid of this.#last.keys()) if (!live.has(pid)) this.#last.delete(pid);
  }
}
