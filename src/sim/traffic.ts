/**
 * Arrivals for a simulation, built from the load generator's schedules
 * (src/loadgen/schedule.ts) so `karb load` and `karb simulate` draw the same
 * traffic from the same spec. Multi-level shapes (steps up and down, repeated
 * bursts) are sums of independent Poisson pieces, each active on its own
 * interval; a sum of Poisson processes is the Poisson process of the summed rate.
 * Rate noise and day-to-day variation cut a piece where its rate changes and
 * scale each part, so the result is still a Poisson process of the modulated
 * rate. Generated tokens give each request its work, drawn in arrival order
 * from a stream of its own, so the arrivals do not depend on them.
 */
import { generatedSchedule, type Arrival, type ShapeSpec } from '../loadgen/schedule.ts';
import type { ArrivalCursor } from './engine.ts';
import { seededRandom, type Random } from './random.ts';
import type { GeneratedTokens, TokenDistribution, TrafficConfig, TrafficShape } from './scenario-schema.ts';
import { ms } from './scenario-schema.ts';

/** The arrival stream the cluster consumes: time and relative work of each request, in order. */
export interface Arrivals extends ArrivalCursor {
  /** 0-based index of the current arrival (the same request under every treatment). */
  readonly index: number;
  /** Work of the current arrival relative to an average request (1 for generated traffic without tokens). */
  readonly work: number;
  /** The current arrival's tokens, where the traffic generates them. */
  readonly tokensIn?: number;
  readonly tokensOut?: number;
}

/** Arrivals relative to the piece's start, and how many to expect. */
interface PieceSchedule extends Iterable<Arrival> {
  readonly durationMs: number;
  expectedBy(tMs: number): number;
}

interface Piece {
  schedule: PieceSchedule;
  offsetMs: number;
}

/** The rate specs a shape is made of (steps and bursts become constants). */
type SegmentSpec = Extract<ShapeSpec, { shape: 'constant' | 'ramp' | 'sine' }>;

/** One rate piece of a shape, before it is drawn: `spec` in time from `offsetMs`, with seed number `n`. */
interface Segment {
  offsetMs: number;
  lengthMs: number;
  spec: SegmentSpec;
  n: number;
}

/** A rate noise: the rate times a lognormal factor of mean 1, a new one every `everyMs`, from the first step at or after `fromMs`. */
export interface RateNoise {
  everyMs: number;
  sigma: number;
  fromMs: number;
}

/** Each piece draws from its own seed, derived from the scenario's. */
function pieceSeed(seed: number, n: number): number {
  return (seed * 7919 + n * 104_729) >>> 0;
}

/** The rate pieces of a shape: each a schedule, shifted to start at `offsetMs`. */
export function shapePieces(shape: TrafficShape, durationMs: number, seed: number, rateNoise?: RateNoise): Piece[] {
  const segments = shapeSegments(shape, durationMs, seed);
  if (!rateNoise || rateNoise.sigma === 0) {
    return segments.map((g) => ({ offsetMs: g.offsetMs, schedule: generatedSchedule(g.spec, { durationMs: g.lengthMs, seed: pieceSeed(seed, g.n) }) }));
  }
  const factors = noiseFactors(rateNoise, durationMs, seed);
  const every = rateNoise.everyMs;
  return segments.map((g) => {
    // The segment cut at the noise's steps, each part scaled by its factor, one after another.
    const parts: Piece[] = [];
    const end = g.offsetMs + g.lengthMs;
    for (let k = Math.floor(g.offsetMs / every); k * every < end; k++) {
      const from = Math.max(g.offsetMs, k * every);
      const to = Math.min(end, (k + 1) * every);
      if (to <= from) continue;
      const spec = scaledSpec(shiftedSpec(g.spec, from - g.offsetMs), factors[k]!);
      parts.push({ offsetMs: from - g.offsetMs, schedule: generatedSchedule(spec, { durationMs: to - from, seed: pieceSeed(pieceSeed(seed, g.n), k + 1) }) });
    }
    return { offsetMs: g.offsetMs, schedule: sequence(parts, g.lengthMs) };
  });
}

/** The noise's factors, one per `everyMs` of the run: exp(σZ − σ²/2), mean 1; 1 for steps that start before `fromMs`. */
export function noiseFactors(noise: RateNoise, durationMs: number, seed: number): Float64Array {
  const rng = seededRandom((seed ^ 0x5bd1e995) >>> 0);
  const out = new Float64Array(Math.ceil(durationMs / noise.everyMs));
  for (let k = 0; k < out.length; k++) {
    // Drawn for every step, so `fromMs` changes no later factor.
    const f = Math.exp(noise.sigma * rng.normal() - (noise.sigma * noise.sigma) / 2);
    out[k] = k * noise.everyMs < noise.fromMs ? 1 : f;
  }
  return out;
}

/** The same rate seen from `dMs` later: time 0 of the result is time `dMs` of `spec`. */
function shiftedSpec(spec: SegmentSpec, dMs: number): SegmentSpec {
  switch (spec.shape) {
    case 'constant':
      return spec;
    case 'ramp': {
      const over = spec.overMs!;
      if (dMs >= over) return { shape: 'constant', rate: spec.toRate };
      return { shape: 'ramp', rate: spec.rate + ((spec.toRate - spec.rate) * dMs) / over, toRate: spec.toRate, overMs: over - dMs };
    }
    case 'sine':
      return { ...spec, phaseMs: (spec.phaseMs ?? 0) + dMs };
  }
}

function scaledSpec(spec: SegmentSpec, f: number): SegmentSpec {
  switch (spec.shape) {
    case 'constant':
      return { shape: 'constant', rate: spec.rate * f };
    case 'ramp':
      return { ...spec, rate: spec.rate * f, toRate: spec.toRate * f };
    case 'sine':
      return { ...spec, rate: spec.rate * f, amplitude: spec.amplitude * f };
  }
}

/** Time-disjoint parts (offsets ascending) played one after another as one piece. */
function sequence(parts: Piece[], durationMs: number): PieceSchedule {
  return {
    durationMs,
    expectedBy: (tMs) => parts.reduce((n, p) => n + (tMs > p.offsetMs ? p.schedule.expectedBy(Math.min(tMs - p.offsetMs, p.schedule.durationMs)) : 0), 0),
    *[Symbol.iterator](): Iterator<Arrival> {
      for (const p of parts) for (const a of p.schedule) yield { atMs: a.atMs + p.offsetMs };
    },
  };
}

/** The rate segments of a shape, each with its place in time and its seed number. */
function shapeSegments(shape: TrafficShape, durationMs: number, seed: number): Segment[] {
  const segments: Segment[] = [];
  let n = 0;
  const add = (offsetMs: number, lengthMs: number, spec: SegmentSpec): void => {
    const length = Math.min(lengthMs, durationMs - offsetMs);
    n++;
    if (length <= 0) return;
    segments.push({ offsetMs, lengthMs: length, spec, n });
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
      const sine = (maxRps: number, phase: number): SegmentSpec => ({
        shape: 'sine',
        rate: (shape.minRps + maxRps) / 2,
        amplitude: Math.abs(maxRps - shape.minRps) / 2,
        periodMs,
        phaseMs: ((phase % periodMs) + periodMs) % periodMs,
      });
      const v = shape.variation;
      if (v === undefined || (v.peak === 0 && ms(v.shift) === 0)) {
        add(0, durationMs, sine(shape.maxRps, phaseMs));
        break;
      }
      // Days differ: each period's peak scaled within ±peak and its curve shifted (later for s > 0) within ±shift.
      const rng = seededRandom((seed ^ 0x27d4eb2f) >>> 0);
      const shiftMs = ms(v.shift);
      for (let k = 0; k * periodMs < durationMs; k++) {
        const peak = shape.maxRps * rng.uniform(1 - v.peak, 1 + v.peak);
        const s = Math.round(rng.uniform(-shiftMs, shiftMs));
        add(k * periodMs, periodMs, sine(peak, phaseMs - s));
      }
      break;
    }
  }
  return segments;
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

/** A request's work relative to an average one from its tokens: (base + tokens × per-token ms) / base, before noise. */
export function tokenWork(cost: { baseMs: number; inMs: number; outMs: number }, tokensIn: number, tokensOut: number): number {
  return (cost.baseMs + tokensIn * cost.inMs + tokensOut * cost.outMs) / cost.baseMs;
}

function drawTokens(d: TokenDistribution, rng: Random): number {
  return Math.min(d.max, Math.max(1, Math.round(Math.exp(d.mu + d.sigma * rng.normal()))));
}

/** Generated arrivals with tokens: one draw of tokens in and out per arrival, in order, from the tokens' own stream. */
class TokenArrivals implements Arrivals {
  work = 1;
  /** The current arrival's tokens. */
  tokensIn = 0;
  tokensOut = 0;
  readonly #inner: Arrivals;
  readonly #tokens: GeneratedTokens;
  readonly #rng: Random;

  constructor(inner: Arrivals, tokens: GeneratedTokens, seed: number) {
    this.#inner = inner;
    this.#tokens = tokens;
    this.#rng = seededRandom((seed ^ 0x68e31da4) >>> 0);
    this.#draw();
  }

  get time(): number {
    return this.#inner.time;
  }
  get index(): number {
    return this.#inner.index;
  }

  advance(): void {
    this.#inner.advance();
    this.#draw();
  }

  #draw(): void {
    if (this.#inner.time === Infinity) return;
    const t = this.#tokens;
    this.tokensIn = t.in ? drawTokens(t.in, this.#rng) : 0;
    this.tokensOut = t.out ? drawTokens(t.out, this.#rng) : 0;
    this.work = tokenWork(t, this.tokensIn, this.tokensOut);
  }
}

/** A fresh cursor over the scenario's arrivals: every call yields the same sequence. */
export function openArrivals(traffic: TrafficConfig, durationMs: number, seed: number): Arrivals {
  if (traffic.kind === 'replay') return new ArrayArrivals(traffic.times, traffic.work, durationMs);
  const arrivals = new MergedArrivals(shapePieces(traffic.shape, durationMs, seed, traffic.rateNoise), durationMs);
  return traffic.tokens ? new TokenArrivals(arrivals, traffic.tokens, seed) : arrivals;
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
  return shapePieces(traffic.shape, durationMs, seed, traffic.rateNoise).reduce((n, p) => n + p.schedule.expectedBy(p.schedule.durationMs), 0);
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
  const capacity = Math.ceil(expected + 6 * Math.sqrt(expected) + 1024);
  let times = new Float64Array(new SharedArrayBuffer(8 * capacity));
  // Work only where requests differ (generated tokens); otherwise every request's is 1.
  let work = traffic.tokens ? new Float64Array(new SharedArrayBuffer(8 * capacity)) : undefined;
  let n = 0;
  const cursor = openArrivals(traffic, durationMs, seed);
  while (cursor.time < Infinity) {
    if (n === times.length) {
      times = grownShared(times);
      if (work) work = grownShared(work);
    }
    if (work) work[n] = cursor.work;
    times[n++] = cursor.time;
    cursor.advance();
  }
  const out: TrafficConfig = { kind: 'replay', times: times.subarray(0, n), source: 'generated', timeScale: 1 };
  if (work) out.work = work.subarray(0, n);
  return out;
}

function grownShared(a: Float64Array<SharedArrayBuffer>): Float64Array<SharedArrayBuffer> {
  const grown = new Float64Array(new SharedArrayBuffer(16 * a.length));
  grown.set(a);
  return grown;
}
