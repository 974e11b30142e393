/**
 * Arrivals for a simulation, built from the load generator's schedules
 * (src/loadgen/schedule.ts) so `karb load` and `karb simulate` draw the same
 * traffic from the same spec. Multi-level shapes (steps up and down, repeated
 * bursts) are sums of independent Poisson pieces, each active on its own
 * interval; a sum of Poisson processes is the Poisson process of the summed rate.
 */
import { generatedSchedule, type Arrival, type Schedule } from '../loadgen/schedule.ts';
import type { ArrivalCursor } from './engine.ts';
import type { TrafficConfig, TrafficShape } from './scenario-schema.ts';
import { ms } from './scenario-schema.ts';

/** The arrival stream the cluster consumes: time and relative work of each request, in order. */
export interface Arrivals extends ArrivalCursor {
  /** 0-based index of the current arrival (the same request under every treatment). */
  readonly index: number;
  /** Work of the current arrival relative to an average request (1 for generated traffic). */
  readonly work: number;
}

interface Piece {
  schedule: Schedule;
  offsetMs: number;
}

/** The rate pieces of a shape: each a schedule, shifted to start at `offsetMs`. */
export function shapePieces(shape: TrafficShape, durationMs: number, seed: number): Piece[] {
  const pieces: Piece[] = [];
  let n = 0;
  // Each piece draws from its own seed, derived from the scenario's.
  const add = (offsetMs: number, lengthMs: number, spec: Parameters<typeof generatedSchedule>[0]): void => {
    const length = Math.min(lengthMs, durationMs - offsetMs);
    n++;
    if (length <= 0) return;
    pieces.push({ offsetMs, schedule: generatedSchedule(spec, { durationMs: length, seed: (seed * 7919 + n * 104_729) >>> 0 }) });
  };
  switch (shape.kind) {
    case 'constant':
      add(0, durationMs, { shape: 'constant', rate: shape.rps });
      break;
    case 'steps': {
      const steps = shape.steps.map((s) => ({ at: ms(s.at), rps: s.rps })).sort((a, b) => a.at - b.at);
      for (let i = 0; i < steps.length; i++) {
        const start = steps[i]!.at;
        const end = i + 1 < steps.length ? steps[i + 1]!.at : durationMs;
        if (steps[i]!.rps > 0) add(start, end - start, { shape: 'constant', rate: steps[i]!.rps });
      }
      break;
    }
    case 'bursts': {
      add(0, durationMs, { shape: 'constant', rate: shape.baseRps });
      const extra = shape.baseRps * (shape.factor - 1);
      if (extra > 0) for (const at of shape.at) add(ms(at), ms(shape.duration), { shape: 'constant', rate: extra });
      break;
    }
    case 'ramp':
      add(0, durationMs, { shape: 'ramp', rate: shape.fromRps, toRate: shape.toRps, overMs: shape.over === undefined ? durationMs : ms(shape.over) });
      break;
    case 'diurnal': {
      const periodMs = ms(shape.period);
      // Start at the trough: sin(2π(t + 3P/4)/P) = -1 at t = 0. With peakAt T: sin = 1 at t = T, so the phase is P/4 − T (mod P).
      const phaseMs = shape.peakAt === undefined ? (3 * periodMs) / 4 : (((periodMs / 4 - ms(shape.peakAt)) % periodMs) + periodMs) % periodMs;
      add(0, durationMs, {
        shape: 'sine',
        rate: (shape.minRps + shape.maxRps) / 2,
        amplitude: Math.abs(shape.maxRps - shape.minRps) / 2,
        periodMs,
        phaseMs,
      });
      break;
    }
  }
  return pieces;
}

/** A k-way merge of shifted schedules (k is small: a few pieces). Ties go to the earlier piece. */
class MergedArrivals implements Arrivals {
  time = Infinity;
  index = -1;
  readonly work = 1;
  #iterators: Iterator<Arrival>[];
  #offsets: number[];
  #heads: number[];
  #endMs: number;

  constructor(pieces: Piece[], endMs: number) {
    this.#iterators = pieces.map((p) => p.schedule[Symbol.iterator]());
    this.#offsets = pieces.map((p) => p.offsetMs);
    this.#heads = pieces.map((_, i) => this.#pull(i));
    this.#endMs = endMs;
    this.advance();
  }

  #pull(i: number): number {
    const r = this.#iterators[i]!.next();
    return r.done ? Infinity : r.value.atMs + this.#offsets[i]!;
  }

  advance(): void {
    const heads = this.#heads;
    let best = -1;
    let bestTime = Infinity;
    for (let i = 0; i < heads.length; i++) {
      if (heads[i]! < bestTime) {
        bestTime = heads[i]!;
        best = i;
      }
    }
    if (best === -1 || bestTime >= this.#endMs) {
      this.time = Infinity;
      return;
    }
    this.time = bestTime;
    this.index++;
    heads[best] = this.#pull(best);
  }
}

/** Replayed arrivals held in arrays. */
class ArrayArrivals implements Arrivals {
  time = Infinity;
  index = -1;
  work = 1;
  #times: Float64Array;
  #work: Float64Array | undefined;
  #endMs: number;

  constructor(times: Float64Array, work: Float64Array | undefined, endMs: number) {
    this.#times = times;
    this.#work = work;
    this.#endMs = endMs;
    this.advance();
  }

  advance(): void {
    const i = ++this.index;
    if (i >= this.#times.length || this.#times[i]! >= this.#endMs) {
      this.time = Infinity;
      return;
    }
    this.time = this.#times[i]!;
    if (this.#work) this.work = this.#work[i]!;
  }
}

/** A fresh cursor over the scenario's arrivals: every call yields the same sequence. */
export function openArrivals(traffic: TrafficConfig, durationMs: number, seed: number): Arrivals {
  if (traffic.kind === 'replay') return new ArrayArrivals(traffic.times, traffic.work, durationMs);
  return new MergedArrivals(shapePieces(traffic.shape, durationMs, seed), durationMs);
}

/** Arrivals per whole second of the run (what a clairvoyant planner knows). */
export function arrivalsPerSecond(traffic: TrafficConfig, durationMs: number, seed: number): Uint32Array {
  const counts = new Uint32Array(Math.ceil(durationMs / 1000));
  const cursor = openArrivals(traffic, durationMs, seed);
  while (cursor.time < Infinity) {
    counts[Math.floor(cursor.time / 1000)]!++;
    cursor.advance();
  }
  return counts;
}

/** Work per second (sum of per-request work) for replayed traces with uneven requests; equals counts otherwise. */
export function workPerSecond(traffic: TrafficConfig, durationMs: number, seed: number): Float64Array {
  const sums = new Float64Array(Math.ceil(durationMs / 1000));
  const cursor = openArrivals(traffic, durationMs, seed);
  while (cursor.time < Infinity) {
    sums[Math.floor(cursor.time / 1000)]! += cursor.work;
    cursor.advance();
  }
  return sums;
}

/** Expected arrivals over the run (exact for a replay). */
export function expectedArrivals(traffic: TrafficConfig, durationMs: number, seed: number): number {
  if (traffic.kind === 'replay') return traffic.times.length;
  return shapePieces(traffic.shape, durationMs, seed).reduce((n, p) => n + p.schedule.expectedBy(p.schedule.durationMs), 0);
}

/**
 * Generated traffic kept in memory for runs that repeat it, when it fits (at most
 * `maxArrivals`, 8 bytes each). The array lives in shared memory, so worker
 * threads read it without copies.
 */
export function materializeTraffic(traffic: TrafficConfig, durationMs: number, seed: number, maxArrivals = 32_000_000): TrafficConfig {
  if (traffic.kind === 'replay') return traffic;
  const expected = expectedArrivals(traffic, durationMs, seed);
  if (expected > maxArrivals) return traffic;
  // Poisson counts stay within a few standard deviations of the expectation.
  let times = new Float64Array(new SharedArrayBuffer(8 * Math.ceil(expected + 6 * Math.sqrt(expected) + 1024)));
  let n = 0;
  const cursor = openArrivals(traffic, durationMs, seed);
  while (cursor.time < Infinity) {
    if (n === times.length) {
      const grown = new Float64Array(new SharedArrayBuffer(16 * times.length));
      grown.set(times);
      times = grown;
    }
    times[n++] = cursor.time;
    cursor.advance();
  }
  return { kind: 'replay', times: times.subarray(0, n), source: 'generated', timeScale: 1 };
}
