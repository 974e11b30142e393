/**
 * GPU utilization per replica process, from NVML through `nvidia-smi pmon`.
 * Where no GPU (or no nvidia-smi) exists the signal is missing — never zero —
 * so deciders that use it fall back to the others. Sampling runs in the
 * background (nvidia-smi takes tens of milliseconds); the control loop only
 * reads the last sample, so its tick stays synchronous and fast.
 *
 * The local runtime's, beside process-cpu.ts, not the autoscaler's: it runs a
 * process. The deciders see only the utilization fed into the signal windows.
 */
import { execFile } from 'node:child_process';

/**
 * Parses `nvidia-smi pmon -c 1 -s u` output into SM utilization (0..1) per pid.
 * Columns are found by the header line (`# gpu pid type sm mem enc dec [jpg ofa] command`),
 * so driver versions that add columns parse the same; `-` means "no sample".
 * A pid on several GPUs gets the mean of its samples.
 */
export function parsePmon(text: string): Map<number, number> {
  const out = new Map<number, { sum: number; n: number }>();
  let pidCol = -1;
  let smCol = -1;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const cols = line.slice(1).trim().split(/\s+/);
      if (cols.includes('pid') && cols.includes('sm')) {
        pidCol = cols.indexOf('pid');
        smCol = cols.indexOf('sm');
      }
      continue;
    }
    if (pidCol < 0) continue;
    const cells = line.split(/\s+/);
    const pid = Number(cells[pidCol]);
    const sm = Number(cells[smCol]);
    if (!Number.isInteger(pid) || pid <= 0 || !Number.isFinite(sm)) continue;
    const acc = out.get(pid) ?? { sum: 0, n: 0 };
    acc.sum += sm / 100;
    acc.n += 1;
    out.set(pid, acc);
  }
  return new Map([...out].map(([pid, { sum, n }]) => [pid, sum / n]));
}

export type PmonReader = () => Promise<string | undefined>;

/** Runs nvidia-smi; undefined when it is missing or fails (no GPU here). */
export const nvidiaSmiPmon: PmonReader = () =>
  new Promise((resolve) => {
    execFile('nvidia-smi', ['pmon', '-c', '1', '-s', 'u'], { timeout: 5_000 }, (err, stdout) => resolve(err ? undefined : stdout));
  });

export class GpuSampler {
  /** Where the pmon text comes from: `nvidiaSmiPmon` in karb up, a fixed text in tests. */
  readonly #read: PmonReader;
  #latest = new Map<number, number>();
  #available: boolean | undefined;
  #inFlight = false;

  constructor(read: PmonReader) {
    this.#read = read;
  }

  /** False once a read has shown there is no GPU tooling here; the sampler then stops trying. */
  get available(): boolean | undefined {
    return this.#available;
  }

  /** Starts one background read unless one is running or GPUs are known to be absent. */
  refresh(): Promise<void> {
    if (this.#inFlight || this.#available === false) return Promise.resolve();
    this.#inFlight = true;
    return this.#read().then(
      (text) => {
        this.#inFlight = false;
        if (text === undefined) {
          this.#available = false;
          this.#latest = new Map();
          return;
        }
        this.#available = true;
        this.#latest = parsePmon(text);
      },
      () => {
        this.#inFlight = false;
        this.#available = false;
      },
    );
  }

  /** The last sampled utilization of this process, or undefined when there is none. */
  utilization(pid: number): number | undefined {
    return this.#latest.get(pid);
  }
}
