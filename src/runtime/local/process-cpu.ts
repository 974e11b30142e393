/**
 * CPU use of replica processes: the change in user + system time
 * (`/proc/<pid>/stat`, through proc-stat.ts) between two samples over the
 * wall time between them, in cores (1.0 = one core busy all the time). Where
 * `/proc` is missing (not Linux) the signal is missing, never zero.
 */
import { readProcessCpuSeconds } from './proc-stat.ts';

export class ProcessCpuSampler {
  /** Where CPU seconds come from: `/proc` in karb up, a fixed reading in tests. */
  readonly #read: (pid: number) => number | undefined;
  readonly #last = new Map<number, { cpuSeconds: number; at: number }>();

  constructor(read: (pid: number) => number | undefined = readProcessCpuSeconds) {
    this.#read = read;
  }

  /**
   * Cores `pid` used on average since its previous sample (`now` in
   * milliseconds); undefined on the first sample or if the process cannot be read.
   */
  sample(pid: number, now: number): number | undefined {
    const cpuSeconds = this.#read(pid);
    if (cpuSeconds === undefined) {
      this.#last.delete(pid);
      return undefined;
    }
    const before = this.#last.get(pid);
    this.#last.set(pid, { cpuSeconds, at: now });
    if (before === undefined || now <= before.at || cpuSeconds < before.cpuSeconds) return undefined;
    return (cpuSeconds - before.cpuSeconds) / ((now - before.at) / 1000);
  }

  /** Forgets processes not in `live`. */
  retain(live: ReadonlySet<number>): void {
    for (const pid of this.#last.keys()) if (!live.has(pid)) this.#last.delete(pid);
  }
}
