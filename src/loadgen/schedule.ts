/**
 * Arrival schedules: when each request of a load test (or a simulation) arrives.
 * Pure and seeded — the same spec and seed give the same arrivals every time a
 * schedule is iterated; nothing here reads a clock or Math.random.
 *
 * Generated shapes are a rate over time r(t); arrivals come from inverting the
 * expected count Λ(t) = ∫ r: `uniform` puts the k-th arrival where Λ(t) = k + ½,
 * `poisson` where Λ(t) reaches a running sum of unit exponential draws (a
 * non-homogeneous Poisson process, exact at step and burst edges). Replayed
 * schedules take their arrival times, and per-request fields, from a trace.
 */
import { InvalidRequestError } from '../errors.ts';
import { seededRandom } from '../util/prng.ts';
import type { ArrivalTrace, FieldValue } from './trace.ts';

export type ShapeName = 'constant' | 'step' | 'burst' | 'ramp' | 'sine' | 'replay';
export const SHAPES: readonly ShapeName[] = ['constant', 'step', 'burst', 'ramp', 'sine', 'replay'];

/** How inter-arrival times are drawn for generated shapes. */
export type ArrivalProcess = 'poisson' | 'uniform';

/** One request's arrival. */
export interface Arrival {
  /** Milliseconds from the start of the schedule. */
  atMs: number;
  /** Per-request fields carried from a replayed trace (e.g. tokens_in, tokens_out). */
  fields?: Readonly<Record<string, FieldValue>>;
}

/**
 * An ordered, re-iterable sequence of arrivals (each iteration starts over with
 * the same seed), plus the nominal rate it was drawn from.
 */
export interface Schedule extends Iterable<Arrival> {
  readonly shape: ShapeName;
  /** Arrivals lie in [0, durationMs). */
  readonly durationMs: number;
  /** Nominal offered rate (requests per second) at `tMs`; for replay, the trace's count in that second. */
  rateAt(tMs: number): number;
  /** Expected arrivals in [0, tMs); for replay, the exact count. */
  expectedBy(tMs: number): number;
  /** One line for people, e.g. "step 10→50 req/s at 30s for 60s (poisson, seed 1)". */
  readonly description: string;
}

/** Rates are requests per second; times are milliseconds from the start. */
export type ShapeSpec =
  | { shape: 'constant'; rate: number }
  /** `rate` until `atMs`, then `toRate`. */
  | { shape: 'step'; rate: number; toRate: number; atMs: number }
  /** `rate`, and `factor`× `rate` from `startMs` for `forMs`. */
  | { shape: 'burst'; rate: number; factor: number; startMs: number; forMs: number }
  /** Linear from `rate` to `toRate` over `overMs` (default: the whole duration), then `toRate`. */
  | { shape: 'ramp'; rate: number; toRate: number; overMs?: number }
  /** Diurnal: rate + amplitude·sin(2π(t + phaseMs)/periodMs); amplitude ≤ rate so the rate never goes negative. */
  | { shape: 'sine'; rate: number; amplitude: number; periodMs: number; phaseMs?: number };

export interface GeneratedScheduleOptions {
  durationMs: number;
  /** Default 1. */
  seed?: number;
  /** Default poisson. */
  arrivals?: ArrivalProcess;
}

/** A schedule spec that cannot work (negative rate, amplitude above the mean, ...). */
export class ScheduleError extends InvalidRequestError {
  constructor(message: string) {
    super(message, { code: 'INVALID_SCHEDULE' });
  }
}

/** Builds a generated schedule; throws ScheduleError naming the field that is wrong. */
export function generatedSchedule(spec: ShapeSpec, options: GeneratedScheduleOptions): Schedule {
  const { durationMs } = options;
  const seed = options.seed ?? 1;
  const process = options.arrivals ?? 'poisson';
  positive('durationMs', durationMs);
  if (!Number.isInteger(seed)) throw new ScheduleError(`seed must be a whole number, got ${seed}`);
  if (process !== 'poisson' && process !== 'uniform') throw new ScheduleError(`arrivals must be poisson or uniform, got "${String(process)}"`);
  const profile = profileOf(spec, durationMs);

  return {
    shape: spec.shape,
    durationMs,
    rateAt: (t) => profile.rateAt(t),
    expectedBy: (t) => profile.expectedBy(Math.min(t, durationMs)),
    description: `${describeShape(spec)} for ${formatMs(durationMs)} (${process}, seed ${seed})`,
    *[Symbol.iterator](): Iterator<Arrival> {
      const rng = seededRandom(seed);
      // A unit exponential draw; 1 - next() keeps the logarithm's argument in (0, 1].
      const step = process === 'uniform' ? () => 1 : () => -Math.log(1 - rng.next());
      // Uniform arrivals sit in the middle of each unit of expected count: Λ = ½, 1½, 2½, ...
      let target = process === 'uniform' ? 0.5 : step();
      let from = 0;
      for (;;) {
        const t = profile.timeOf(target, from);
        if (!(t < durationMs)) return;
        yield { atMs: t };
        from = t;
        target += step();
      }
    },
  };
}

export interface ReplayOptions {
  /** Multiplies every arrival time: 0.5 replays twice as fast, 2 half as fast. Default 1. */
  timeScale?: number;
  /** Stop after this long; default: through the trace's last arrival (rounded up to the next whole second). */
  durationMs?: number;
}

/** Replays a trace's arrival times (scaled) with each row's fields. */
export function replaySchedule(trace: ArrivalTrace, options: ReplayOptions = {}): Schedule {
  const scale = options.timeScale ?? 1;
  positive('timeScale', scale);
  const times = new Float64Array(trace.arrivals.length);
  for (let i = 0; i < times.length; i++) times[i] = trace.arrivals[i]!.t * 1000 * scale;
  const last = times.length > 0 ? times[times.length - 1]! : 0;
  const durationMs = options.durationMs ?? (Math.floor(last / 1000) + 1) * 1000;
  positive('durationMs', durationMs);

  // Arrivals per whole second, for the nominal rate.
  const perSecond = new Uint32Array(Math.ceil(durationMs / 1000));
  for (const t of times) if (t < durationMs) perSecond[Math.floor(t / 1000)]!++;
  const countBefore = (t: number): number => {
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (times[mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  return {
    shape: 'replay',
    durationMs,
    rateAt: (t) => (t >= 0 && t < durationMs ? perSecond[Math.floor(t / 1000)]! : 0),
    expectedBy: (t) => countBefore(Math.min(t, durationMs)),
    description: `replay of ${trace.arrivals.length} arrivals${scale === 1 ? '' : ` at time scale ${scale}`} for ${formatMs(durationMs)}`,
    *[Symbol.iterator](): Iterator<Arrival> {
      for (let i = 0; i < times.length; i++) {
        const atMs = times[i]!;
        if (!(atMs < durationMs)) return;
        const fields = trace.arrivals[i]!.fields;
        yield fields ? { atMs, fields } : { atMs };
      }
    },
  };
}

/** A rate over time with its integral and the integral's inverse. */
interface RateProfile {
  rateAt(tMs: number): number;
  /** Expected arrivals in [0, tMs). */
  expectedBy(tMs: number): number;
  /** Smallest t ≥ fromMs with expectedBy(t) ≥ target (Infinity if never); expectedBy(fromMs) ≤ target. */
  timeOf(target: number, fromMs: number): number;
}

function profileOf(spec: ShapeSpec, durationMs: number): RateProfile {
  switch (spec.shape) {
    case 'constant':
      nonNegative('rate', spec.rate);
      return piecewiseLinear([[0, spec.rate]]);
    case 'step':
      nonNegative('rate', spec.rate);
      nonNegative('toRate', spec.toRate);
      nonNegative('atMs', spec.atMs);
      return piecewiseLinear([[0, spec.rate], [spec.atMs, spec.rate], [spec.atMs, spec.toRate]]);
    case 'burst': {
      nonNegative('rate', spec.rate);
      nonNegative('factor', spec.factor);
      nonNegative('startMs', spec.startMs);
      nonNegative('forMs', spec.forMs);
      const high = spec.rate * spec.factor;
      const end = spec.startMs + spec.forMs;
      return piecewiseLinear([[0, spec.rate], [spec.startMs, spec.rate], [spec.startMs, high], [end, high], [end, spec.rate]]);
    }
    case 'ramp': {
      nonNegative('rate', spec.rate);
      nonNegative('toRate', spec.toRate);
      const over = spec.overMs ?? durationMs;
      positive('overMs', over);
      return piecewiseLinear([[0, spec.rate], [over, spec.toRate]]);
    }
    case 'sine':
      nonNegative('rate', spec.rate);
      nonNegative('amplitude', spec.amplitude);
      positive('periodMs', spec.periodMs);
      if (spec.amplitude > spec.rate) {
        throw new ScheduleError(`amplitude (${spec.amplitude}) must not exceed the mean rate (${spec.rate}), or the rate would go below zero`);
      }
      return sine(spec.rate, spec.amplitude, spec.periodMs, spec.phaseMs ?? 0);
    default:
      throw new ScheduleError(`unknown shape "${(spec as { shape: unknown }).shape}"; use one of ${SHAPES.filter((s) => s !== 'replay').join(', ')}`);
  }
}

/**
 * A rate that is linear between knots [tMs, rate] (two knots at the same time make
 * a jump) and constant after the last one. Exact integral and inverse.
 */
function piecewiseLinear(knots: Array<[number, number]>): RateProfile {
  const n = knots.length;
  const t = knots.map((k) => k[0]);
  const r = knots.map((k) => k[1]);
  // Expected arrivals before each knot.
  const before = new Array<number>(n).fill(0);
  for (let i = 1; i < n; i++) before[i] = before[i - 1]! + ((r[i - 1]! + r[i]!) / 2) * (t[i]! - t[i - 1]!) / 1000;

  const segmentOf = (tMs: number): number => {
    let k = 0;
    while (k + 1 < n && t[k + 1]! <= tMs) k++;
    return k;
  };
  const slope = (k: number): number => (k + 1 < n && t[k + 1]! > t[k]! ? (r[k + 1]! - r[k]!) / (t[k + 1]! - t[k]!) : 0);

  return {
    rateAt(tMs) {
      const k = segmentOf(tMs);
      return r[k]! + slope(k) * (tMs - t[k]!);
    },
    expectedBy(tMs) {
      if (tMs <= 0) return 0;
      const k = segmentOf(tMs);
      const dt = tMs - t[k]!;
      return before[k]! + (r[k]! * dt + (slope(k) * dt * dt) / 2) / 1000;
    },
    timeOf(target, fromMs) {
      let k = segmentOf(fromMs);
      // Move to the segment in which the expected count reaches the target.
      while (k + 1 < n && before[k + 1]! < target) k++;
      const need = (target - before[k]!) * 1000; // in rate·ms
      if (need <= 0) return Math.max(fromMs, t[k]!);
      const s = slope(k);
      const rk = r[k]!;
      // Solve rk·dt + s·dt²/2 = need; this form stays exact as s → 0.
      const denominator = rk + Math.sqrt(Math.max(0, rk * rk + 2 * s * need));
      if (denominator <= 0) return Infinity;
      let dt = (2 * need) / denominator;
      if (k + 1 < n) dt = Math.min(dt, t[k + 1]! - t[k]!);
      return Math.max(fromMs, t[k]! + dt);
    },
  };
}

function sine(mean: number, amplitude: number, periodMs: number, phaseMs: number): RateProfile {
  const w = (2 * Math.PI) / periodMs;
  const c0 = Math.cos(w * phaseMs);
  const rateAt = (tMs: number): number => mean + amplitude * Math.sin(w * (tMs + phaseMs));
  const expectedBy = (tMs: number): number =>
    tMs <= 0 ? 0 : (mean * tMs - (amplitude / w) * (Math.cos(w * (tMs + phaseMs)) - c0)) / 1000;
  return {
    rateAt,
    expectedBy,
    timeOf(target, fromMs) {
      const have = expectedBy(fromMs);
      if (target <= have) return fromMs;
      if (mean <= 0) return Infinity;
      // Any interval of length L + period holds at least mean·L of rate·ms.
      let lo = fromMs;
      let hi = fromMs + ((target - have) * 1000) / mean + periodMs;
      let tMs = fromMs + ((target - have) * 1000) / Math.max(rateAt(fromMs), mean / 2);
      if (!(tMs > lo && tMs < hi)) tMs = (lo + hi) / 2;
      const tolerance = 1e-9 * Math.max(1, target);
      // Newton's method, falling back to bisection whenever a step leaves the bracket.
      for (let i = 0; i < 200; i++) {
        const f = expectedBy(tMs) - target;
        if (Math.abs(f) <= tolerance || hi - lo < 1e-6) break;
        if (f > 0) hi = tMs;
        else lo = tMs;
        const rate = rateAt(tMs);
        const next = rate > 0 ? tMs - (f * 1000) / rate : NaN;
        tMs = next > lo && next < hi ? next : (lo + hi) / 2;
      }
      return tMs;
    },
  };
}

function nonNegative(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ScheduleError(`${name} must be a number ≥ 0, got ${String(value)}`);
}

function positive(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ScheduleError(`${name} must be a number > 0, got ${String(value)}`);
}

function describeShape(spec: ShapeSpec): string {
  switch (spec.shape) {
    case 'constant':
      return `constant ${spec.rate} req/s`;
    case 'step':
      return `step ${spec.rate}→${spec.toRate} req/s at ${formatMs(spec.atMs)}`;
    case 'burst':
      return `burst ${spec.rate} req/s ×${spec.factor} at ${formatMs(spec.startMs)}–${formatMs(spec.startMs + spec.forMs)}`;
    case 'ramp':
      return `ramp ${spec.rate}→${spec.toRate} req/s${spec.overMs === undefined ? '' : ` over ${formatMs(spec.overMs)}`}`;
    case 'sine':
      return `sine ${spec.rate}±${spec.amplitude} req/s, period ${formatMs(spec.periodMs)}`;
  }
}

/** 1500 → "1.5s", 90000 → "90s", 250 → "250ms". */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${+ms.toFixed(1)}ms`;
  return `${+(ms / 1000).toFixed(3)}s`;
}
