/**
 * The guard after promotion: for `rollout.guard.window` after a rollout
 * succeeds, the promoted revision's SLO burn rates stay watched, and a fast
 * burn rolls the service back to the previous revision. Pure: cumulative SLI
 * counts, the spec and `now` in; a verdict and the next samples out.
 *
 * Fast burn is the Google SRE workbook's page condition (burn rate ≥ 14.4 over
 * a long and a short window, both at once) scaled to the guard window:
 * - long window: since the guard began (at most `window`);
 * - short window: the last `window / 12` (5m for 1h, as in the workbook);
 * - each window needs `minRequests` requests, so a handful of failures cannot
 *   fire it, and the short one keeps a blip that has ended from firing it.
 * A burn rate of `burnRate` may be out of reach (budget × burnRate > 1, e.g.
 * errorRate 0.1 with 14.4): then every request bad is the threshold.
 *
 * | guard    | when                                              | next     | rollout                         |
 * |----------|---------------------------------------------------|----------|---------------------------------|
 * | Watching | both windows ≥ minRequests and burn ≥ threshold   | Fired    | RolledBack (GuardFastBurn)      |
 * | Watching | otherwise, before `until`                         | Watching | Succeeded                       |
 * | Watching | `until` reached                                   | Passed   | Succeeded                       |
 * Latency is checked after availability; the first SLI that burns fast fires it.
 */
import { durationMs, type InferenceServiceSpec } from '../api/index.ts';
import { burnRate, sliBetween, sliBudget, type Sli, type SliCounts } from '../observability/sli.ts';
import { rollBack } from './machine.ts';
import { rolloutEvent, type GuardEvaluation, type GuardState, type GuardWindowReading, type RolloutEvent, type RolloutState } from './types.ts';

export type GuardInputSpec = Pick<InferenceServiceSpec, 'rollout' | 'slo'>;

/** A cumulative snapshot of the promoted revision's SLI counts; the tracker keeps these in memory. */
export interface GuardSample {
  at: number;
  counts: SliCounts;
}

export interface GuardDecision {
  evaluation: GuardEvaluation;
  /** The samples to pass next time (bounded: the first, and those the short window still needs). */
  samples: GuardSample[];
}

const SLIS: readonly Sli[] = ['availability', 'latency'];
/** The short window over the long one, as in the workbook (1h and 5m). */
export const SHORT_WINDOW_DIVISOR = 12;
/** Samples kept per short window: enough for its edge to be within 5% of its length. */
const SAMPLES_PER_SHORT_WINDOW = 20;
/** A burn rate read as infinite (a bad request against a zero budget). */
const MAX_BURN_RATE = 1e9;

/** The guard a rollout that succeeds at `now` starts with; undefined when `guard.window` is 0. */
export function startGuard(spec: GuardInputSpec, now: number): GuardState | undefined {
  const windowMs = durationMs(spec.rollout.guard.window);
  if (!(windowMs > 0)) return undefined;
  return { phase: 'Watching', since: now, until: now + windowMs };
}

/** The long and short windows of a guard of `windowMs`. */
export function guardWindows(windowMs: number): { longMs: number; shortMs: number } {
  return { longMs: windowMs, shortMs: windowMs / SHORT_WINDOW_DIVISOR };
}

/** The burn rate that fires: `burnRate`, or every request bad when that is out of reach. */
export function fireThreshold(sli: Sli, spec: GuardInputSpec): number {
  const budget = sliBudget(sli, spec.slo);
  return budget > 0 ? Math.min(spec.rollout.guard.burnRate, 1 / budget) : spec.rollout.guard.burnRate;
}

/**
 * Judges the promoted revision's counts now. `samples` are the earlier
 * snapshots this process took since the guard began (empty at first, and after
 * a restart: the windows then count from the first snapshot on).
 */
export function decideGuard(guard: GuardState, samples: readonly GuardSample[], current: SliCounts, spec: GuardInputSpec, now: number): GuardDecision {
  const g = spec.rollout.guard;
  const { shortMs } = guardWindows(guard.until - guard.since);
  if (now >= guard.until) {
    return { evaluation: { at: now, verdict: 'Ended', message: `no fast burn within ${g.window} of the promotion` }, samples: [] };
  }
  const first = samples[0];
  if (first === undefined) {
    return { evaluation: { at: now, verdict: 'NotEnoughRequests', message: `counting from now: the windows need ${g.minRequests} requests each` }, samples: [{ at: now, counts: current }] };
  }
  // The short window starts at the newest sample at least shortMs old (the first one until there is such).
  let base = 0;
  for (let i = samples.length - 1; i > 0; i--) {
    if (samples[i]!.at <= now - shortMs) {
      base = i;
      break;
    }
  }
  const long = reading(sliBetween(first.counts, current), now - first.at, spec);
  const short = reading(sliBetween(samples[base]!.counts, current), now - samples[base]!.at, spec);
  const last = samples[samples.length - 1]!;
  const next = [first, ...samples.slice(Math.max(1, base))];
  if (now - last.at >= shortMs / SAMPLES_PER_SHORT_WINDOW) next.push({ at: now, counts: current });

  const windows = { long, short };
  if (long.requests < g.minRequests || short.requests < g.minRequests) {
    return {
      evaluation: { at: now, verdict: 'NotEnoughRequests', message: `the windows need ${g.minRequests} requests each (have ${long.requests} over ${seconds(long.ms)}, ${short.requests} over ${seconds(short.ms)})`, ...windows },
      samples: next,
    };
  }
  for (const sli of SLIS) {
    const threshold = fireThreshold(sli, spec);
    const l = long.burnRates[sli]!;
    const s = short.burnRates[sli]!;
    if (l >= threshold && s >= threshold) {
      return {
        evaluation: {
          at: now,
          verdict: 'Fire',
          sli,
          message: `${sli} burn rate ${rate(l)} over ${seconds(long.ms)} (${long.requests} requests) and ${rate(s)} over ${seconds(short.ms)} (${short.requests} requests), at or above ${rate(threshold)} (${budgetText(sli, spec)})`,
          ...windows,
        },
        samples: next,
      };
    }
  }
  return {
    evaluation: {
      at: now,
      verdict: 'Hold',
      message: `burn rates within ${rate(g.burnRate)}: availability ${rate(long.burnRates.availability!)}/${rate(short.burnRates.availability!)}, latency ${rate(long.burnRates.latency!)}/${rate(short.burnRates.latency!)} (over ${seconds(long.ms)}/${seconds(short.ms)})`,
      ...windows,
    },
    samples: next,
  };
}

/**
 * What the guard's evaluation does to a Succeeded rollout: a fast burn rolls it
 * back (the previous revision takes all traffic, started again if it was scaled
 * down), the window's end leaves it watched no more; otherwise only the last
 * evaluation changes.
 */
export function applyGuard(state: RolloutState, evaluation: GuardEvaluation, spec: GuardInputSpec, now: number): { state: RolloutState; events: RolloutEvent[] } {
  const guard = state.guard;
  if (state.phase !== 'Succeeded' || guard === undefined || guard.phase !== 'Watching') return { state, events: [] };
  const verdict = evaluation.verdict;
  switch (verdict) {
    case 'Fire': {
      const message = `rolled back by the guard: ${state.revision}'s ${evaluation.message}; ${state.stable} serves 100% of traffic again`;
      const next: RolloutState = { ...rollBack(state, 'GuardFastBurn', message, spec, now), guard: { ...guard, phase: 'Fired', last: evaluation } };
      return { state: next, events: [rolloutEvent('GuardRolledBack', message)] };
    }
    case 'Ended': {
      const next: RolloutState = { ...state, guard: { ...guard, phase: 'Passed', last: evaluation } };
      return { state: next, events: [rolloutEvent('GuardPassed', `${state.revision} burned its SLO budget no faster than ${rate(spec.rollout.guard.burnRate)} for ${spec.rollout.guard.window} after promotion; the guard stops watching`)] };
    }
    case 'Hold':
    case 'NotEnoughRequests': {
      // Each record is a status write: a hold is recorded again once per short window (its burn
      // rates move), too few requests only when the verdict changes (an idle service writes nothing).
      const before = guard.last;
      if (before !== undefined && before.verdict === verdict && (verdict === 'NotEnoughRequests' || now - before.at < guardWindows(guard.until - guard.since).shortMs)) {
        return { state, events: [] };
      }
      return { state: { ...state, guard: { ...guard, last: evaluation } }, events: [] };
    }
    default: {
      const never: never = verdict;
      throw new RangeError(`unknown guard verdict ${String(never)}`);
    }
  }
}

function reading(c: SliCounts, ms: number, spec: GuardInputSpec): GuardWindowReading {
  const burnRates: GuardWindowReading['burnRates'] = {};
  for (const sli of SLIS) {
    const b = burnRate(sli, c, spec.slo);
    // Stored as JSON: a zero budget's infinite burn is kept as a large finite number.
    if (b !== undefined) burnRates[sli] = round(Math.min(b, MAX_BURN_RATE));
  }
  return { ms: Math.max(0, ms), requests: c.requests, burnRates };
}

function budgetText(sli: Sli, spec: GuardInputSpec): string {
  return sli === 'latency' ? `budget 5% of requests slower than ${spec.slo.latencyP95Ms} ms or unanswered` : `budget ${pct(spec.slo.errorRate)} of requests answered 5xx`;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function rate(x: number): string {
  return x >= MAX_BURN_RATE ? '∞×' : `${x.toFixed(1)}×`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.1 ? 2 : 1)}%`;
}
