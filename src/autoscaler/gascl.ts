/**
 * KARB treatment D: GASCL, karb's own decider. Called on every control-loop tick
 * (any cadence; a second or two is typical) with both signal windows. It scales
 * only on what capacity can fix, projects no further than arrivals and the
 * queue allow, and learns from the service's own history: how hot its replicas
 * may run, its bursts, its season and its climbs.
 *
 * Needs (replicas), the largest wins:
 * - Concurrency: panic-window concurrency ÷ the target concurrency, counting
 *   requests being served (in-flight minus the queue; waiting ones are the queue
 *   needs'). Up to 10% over the current count's target keeps the count.
 * - QueueDrain: the waiting queue ÷ (per-replica throughput × drain horizon).
 *   The horizon is the SLO budget left after service time (p95 SLO − p50), or one
 *   cold start if longer: replicas asked for now cannot help sooner than that.
 * - KvCache: where replicas report their KV cache (vLLM, read from /metrics by the
 *   control plane), ready replicas × its average use ÷ 80%.
 * - LatencySlo: p95 over 80% of the SLO with no queue backlog, when more replicas
 *   would shorten it — requests wait before a replica begins them (p95 wait ≥ 10%
 *   of the SLO), or, where no wait is reported, the KV cache is 80% used or the
 *   replicas serve at least half their target: scale ready replicas by
 *   p95 ÷ (0.8 × SLO), at most 2×. Latency a
 *   request's own size explains (idle replicas, nothing waiting) is no reason.
 *   Only once the latency window has seen nothing but the current ready replicas.
 * - ColdStartLead: the queue grows past what Poisson noise explains (3σ), or
 *   requests are turned away at a full queue, fast enough to breach the SLO
 *   before a new replica could be ready: ask now for what serves the arrivals
 *   (refused ones included) and drains the queue projected one cold start ahead —
 *   never past what the gateway's queue holds (`queueLimit`).
 * Per-replica throughput is `replicaCapacityRps` when known, else what a replica
 * serves at the target concurrency (Little's law on the windows), and never less
 * than what each ready replica completes while there is a backlog.
 *
 * The target concurrency is learned (learnTarget): spec.targetConcurrency is where
 * it starts and its floor; with replicas at their target, p95 within bounds and
 * nothing waiting, it rises 10% per stable window up to 2×; p95 over the headroom
 * with waits to fix, or a backlog all through the stable window, takes it back.
 *
 * Then, in order, each limit may bind (and its reason becomes the result's):
 * | Step                | Rule                                                                     |
 * | Activation          | at zero with any traffic: at least 1 (or what the needs say)            |
 * | ScaleUpStabilized   | upSeconds > 0 and not in panic: the lowest need within upSeconds         |
 * | Panic               | in panic: never below the current count or the highest asked in panic  |
 * | LatencySlo          | below current: not to where per-replica load broke the headroom before  |
 * | ScaleDownStabilized | below current: not below the highest sustained need within downSeconds   |
 * | QueueDrain          | below current with a backlog the ready replicas cannot drain: hold       |
 * | ScaleToZero         | minReplicas 0, no traffic for scaleToZeroAfterMs, not in panic: 0        |
 * | Cooldown            | minReplicas 0, idle but not long enough: at least 1                      |
 * | Forecast            | with a declared period: the most needed one period ago within a lead     |
 * |                     | time (cold start + node provisioning + a slot) from now (seasonal.ts)    |
 * | BurstHeadroom       | the peak need of past bursts, held as their size and spacing say         |
 * |                     | (bursts.ts); not past a scale to zero                                     |
 * | Forecast            | the rate rose five minutes running, close to a line: what it reaches two |
 * |                     | lead times on at that pace, at most 2× (trend.ts); not in panic, and not |
 * |                     | where the seasonal forecast knows the stretch                             |
 * | ScaleDownLimit      | at most half the replicas per step, ≥ 30 s after the last step either way |
 * | MinReplicas/Max…    | the spec's bounds                                                        |
 * | NodeLimit           | more replicas than the pool's nodes allow: capped, desiredNodes = max    |
 * | (node release)      | fewer nodes needed than the pool has, all through the last 60 s:         |
 * |                     | desiredNodes = the most needed then (only empty nodes go)                 |
 *
 * Panic: entered when the largest need reaches 2× the ready replicas (at least
 * 2 when none is ready); left once a whole stable window passes without
 * such demand. Only sustained needs (Concurrency, KvCache, LatencySlo) are remembered for
 * scale-down stabilization, and not during a burst (the burst memory keeps
 * those): the queue needs vanish with the queue, and the replicas they added then
 * leave at the bounded rate.
 *
 * A burst: panic-window in-flight requests at 2× the stable window's, where the
 * stable window saw no backlog, or demand back at 75% of the burst headroom kept
 * (a burst the headroom absorbed: it says bursts recur, not when); it lasts a
 * stable window past its last sign and as long as the panic or backlog it left,
 * or demand near its peak. Nodes take minutes to provision, so a
 * burst shorter than that is served only by capacity already there: the burst
 * memory keeps that capacity when the service's bursts say one is coming.
 */
import type { Decision, DeciderState, ScaleStep, ScalingInput, Signals } from './types.ts';
import type { TimedValue } from './hpa-behavior.ts';
import { expireExtremes, extremeSince, recordExtreme } from './window-extremes.ts';
import { bind, fmt, noData, pct, scaled, secs, step } from './steps.ts';
import { forecastNeed, recordSeason, seasonFor, type SeasonalMemory } from './seasonal.ts';
import { burstHeadroom, recordBurst, type BurstRecord } from './bursts.ts';
import { TREND_SAMPLES, TREND_SAMPLE_MS, projectRate, recordRate, risingTrend } from './trend.ts';

/** p95 is kept under this fraction of the SLO. */
export const GASCL_LATENCY_HEADROOM = 0.8;
/** Latency counts as capacity's to fix when requests' p95 wait reaches this fraction of the SLO… */
export const GASCL_FIXABLE_WAIT = 0.1;
/** …or, where waits are not reported, when ready replicas serve at least this fraction of their target concurrency. */
export const GASCL_BUSY_FRACTION = 0.5;
/**
 * Where replicas report their KV cache (vLLM), its average use is kept at this share: a full cache
 * stops a server admitting sequences and makes it preempt running ones, which no latency window
 * shows until the requests behind them are late.
 */
export const GASCL_KV_CACHE_TARGET = 0.8;
/**
 * Learned target concurrency: while p95 stays under this fraction of the headroom with replicas
 * at their target, the target rises by GASCL_TARGET_STEP once per stable window, up to
 * GASCL_MAX_TARGET_FACTOR × spec.targetConcurrency; p95 over the headroom, with waits capacity
 * can fix, takes it back down by the same step (never below the spec's).
 */
export const GASCL_TARGET_COMFORT = 0.85;
export const GASCL_TARGET_STEP = 0.1;
export const GASCL_MAX_TARGET_FACTOR = 2;
/** …and only over a steady load: this many minutes sampled, each within this fraction of their median… */
export const GASCL_STEADY_MINUTES = 3;
export const GASCL_STEADY_SWING = 0.2;
/** …and only while requests' p95 wait is at most this fraction of their p50. */
export const GASCL_TARGET_WAIT = 0.05;
/** Queue growth counts as a trend only beyond this many standard deviations of Poisson noise. */
export const GASCL_GROWTH_SIGMAS = 3;
/** Panic when panic-window demand reaches this multiple of ready capacity. */
export const GASCL_PANIC_THRESHOLD = 2;
/** Demand back at this share of the burst headroom kept, with no panic, is a burst the headroom absorbed. */
export const GASCL_BURST_RECURS = 0.75;
/** Scale-down removes at most this fraction of the replicas per step… */
export const GASCL_MAX_SCALE_DOWN_FRACTION = 0.5;
/** …and steps are at least this far apart. */
export const GASCL_SCALE_DOWN_STEP_MS = 30_000;
/** Concurrency up to this fraction over the current count's target does not add a replica. */
export const GASCL_SCALE_UP_TOLERANCE = 0.1;
/** The latency rule grows ready replicas by at most this factor per decision. */
export const GASCL_MAX_LATENCY_FACTOR = 2;
/** How long a learned latency limit lasts without being confirmed. */
export const GASCL_LATENCY_MEMORY_MS = 10 * 60_000;
/** Scaling down keeps each replica this far below the per-replica rate that broke the latency headroom. */
export const GASCL_HOT_RATE_MARGIN = 0.05;
/** The panic window's p95 is used once it holds at least this many requests; else the stable window's. */
export const GASCL_MIN_PANIC_SAMPLES = 20;
/**
 * Nodes are given back only once fewer have been needed for this long: a node
 * takes minutes to come back, so a dip shorter than this keeps it.
 */
export const GASCL_NODE_SCALE_DOWN_DELAY_MS = 60_000;
export type GasclState = {
  decider: 'gascl';
  /** When this state began; idle time counts from here when the signals know of no request. */
  since: number;
  /** Sustained needs for scale-down stabilization (monotonic max queue). */
  downWindow: TimedValue[];
  /** Needs for scale-up stabilization (monotonic min queue). */
  upWindow: TimedValue[];
  lastActiveAt?: number;
  lastScaleDownAt?: number;
  lastScaleUpAt?: number;
  panicSince?: number;
  lastPanicDemandAt?: number;
  /** The highest count asked for during this panic. */
  panicHold?: number;
  /** The lowest per-replica request rate at which p95 went over the headroom (see learnHotRate)… */
  hotRpsPerReplica?: number;
  /** …and when that was last confirmed. */
  hotConfirmedAt?: number;
  /** When the last decision saw a backlog the ready replicas could not drain within the SLO. */
  lastBackloggedAt?: number;
  /** The ready count last seen, and since when (undefined: since before this state began). */
  lastReady?: number;
  readySince?: number;
  /** Nodes the decided replicas needed, for the node scale-down delay (monotonic max queue). */
  nodeWindow?: TimedValue[];
  /** The bursts seen: when each began and the most replicas it needed (bursts.ts). */
  bursts?: BurstRecord[];
  /** When a burst was last seen, and whether the last decision was in one. */
  lastBurstAt?: number;
  inBurst?: boolean;
  /** With a declared period: the replicas needed over the last one (seasonal.ts). */
  season?: SeasonalMemory;
  /** The stable window's request rate once a minute, for a steady rise (trend.ts). */
  rates?: TimedValue[];
  /** The target concurrency learned from latency (learnTarget), and when it last moved. */
  target?: number;
  targetMovedAt?: number;
};

function isTimedValues(v: unknown): v is TimedValue[] {
  return Array.isArray(v) && v.every((e) => typeof e === 'object' && e !== null && typeof e.at === 'number' && typeof e.value === 'number');
}

function isBurstHistory(v: unknown): v is BurstRecord[] {
  return Array.isArray(v) && v.every((e) => typeof e === 'object' && e !== null && typeof e.at === 'number' && typeof e.peak === 'number');
}

function readState(state: DeciderState | undefined, current: number, ready: number, now: number): GasclState {
  if (state && state.decider === 'gascl' && typeof state.since === 'number' && isTimedValues(state.downWindow) && isTimedValues(state.upWindow)) {
    return state as GasclState;
  }
  // Like the HPA, remember the current count so a restart does not scale down at once.
  return { decider: 'gascl', since: now, downWindow: [{ at: now, value: current }], upWindow: [], lastReady: ready };
}

interface Observed {
  /** The window p95 was read from, ms. */
  p95WindowMs: number;
  concurrency?: number;
  queue?: number;
  rate?: number;
  /** Requests per second turned away before a replica began them, from the same window as `rate`. */
  refused?: number;
  p95?: number;
  /** p95 of the time requests waited before a replica began them, from the same window as p95. */
  waitP95?: number;
  serviceMs?: number;
  growth?: number;
  throughput?: number;
  /** Average share of the ready replicas' KV cache in use, where they report it. */
  kvCache?: number;
  traffic: boolean;
}

function observe(signals: Signals, spec: ScalingInput, now: number): Observed {
  const { panic, stable } = signals;
  const o: Observed = { traffic: false, p95WindowMs: stable.windowSeconds * 1000 };
  const concurrency = panic.concurrency ?? stable.concurrency;
  const queue = panic.queueDepth ?? stable.queueDepth;
  const rate = panic.requestRate ?? stable.requestRate;
  if (concurrency !== undefined) o.concurrency = concurrency;
  if (queue !== undefined) o.queue = queue;
  if (rate !== undefined) o.rate = rate;
  const refused = panic.requestRate !== undefined ? panic.refusedRate : stable.refusedRate;
  if (refused !== undefined) o.refused = refused;
  const panicSamples = (panic.requestRate ?? 0) * panic.windowSeconds;
  const usePanicLatency = panic.p95Ms !== undefined && panicSamples >= GASCL_MIN_PANIC_SAMPLES;
  const p95 = usePanicLatency ? panic.p95Ms : stable.p95Ms;
  if (p95 !== undefined) o.p95 = p95;
  const waitP95 = usePanicLatency ? panic.waitP95Ms : stable.waitP95Ms;
  if (waitP95 !== undefined) o.waitP95 = waitP95;
  if (usePanicLatency) o.p95WindowMs = panic.windowSeconds * 1000;
  const serviceMs = (panic.p50Ms !== undefined && panicSamples >= GASCL_MIN_PANIC_SAMPLES ? panic.p50Ms : stable.p50Ms) ?? panic.p50Ms;
  if (serviceMs !== undefined) o.serviceMs = serviceMs;
  const kvCache = panic.kvCacheUsage ?? stable.kvCacheUsage;
  if (kvCache !== undefined) o.kvCache = kvCache;
  const growth = panic.queueGrowthPerSec ?? centroidGrowth(signals);
  if (growth !== undefined) o.growth = growth;
  const rateWindowMs = (panic.requestRate !== undefined ? panic.windowSeconds : stable.windowSeconds) * 1000;
  const throughput = signals.replicaCapacityRps ?? estimateThroughput(spec, concurrency, queue, serviceMs, rate, readyOverWindow(signals, rateWindowMs, now));
  if (throughput !== undefined && throughput > 0) o.throughput = throughput;
  o.traffic = (concurrency ?? 0) > 0 || (queue ?? 0) > 0 || (panic.requestRate ?? 0) > 0;
  return o;
}

/** Queue growth from the two windows' averages: their centres are half a window apart each. */
function centroidGrowth(signals: Signals): number | undefined {
  const { panic, stable } = signals;
  if (panic.queueDepth === undefined || stable.queueDepth === undefined) return undefined;
  const apart = (stable.windowSeconds - panic.windowSeconds) / 2;
  return apart > 0 ? (panic.queueDepth - stable.queueDepth) / apart : undefined;
}

/**
 * Ready replicas averaged over the last `windowMs`: a replica ready for half
 * the window did half a replica's work in it. Without pod detail, the count now.
 */
function readyOverWindow(signals: Signals, windowMs: number, now: number): number {
  if (signals.pods === undefined || windowMs <= 0) return signals.readyReplicas;
  let sum = 0;
  for (const p of signals.pods) {
    if (!p.ready) continue;
    const since = p.readyChangedAt ?? p.startedAt;
    sum += Math.min(1, Math.max(0, (now - since) / windowMs));
  }
  return sum > 0 ? sum : signals.readyReplicas;
}

/**
 * Requests per second one replica serves at the target concurrency: by Little's
 * law, target × completions ÷ requests being served; without a concurrency
 * signal, target ÷ p50. With a backlog the ready replicas are saturated, so
 * what each completes is a floor on what it can do: a replica that serves one
 * request at a time (a sequential model, a GPU at its batch limit) holds many
 * "in flight" that Little's law would count as being served, and the estimate
 * alone would ask for several times the replicas the backlog needs. `ready`
 * is averaged over the window the rate was counted in, so replicas that just
 * became ready do not dilute it.
 */
function estimateThroughput(
  spec: ScalingInput,
  concurrency: number | undefined,
  queue: number | undefined,
  serviceMs: number | undefined,
  rate: number | undefined,
  ready: number,
): number | undefined {
  const serving = concurrency !== undefined ? Math.max(0, concurrency - (queue ?? 0)) : undefined;
  const saturated = (queue ?? 0) > 0 && ready > 0 && rate !== undefined && rate > 0 ? rate / ready : 0;
  if (serving !== undefined && serving > 0 && rate !== undefined && rate > 0) return Math.max((spec.targetConcurrency * rate) / serving, saturated);
  if (serviceMs !== undefined && serviceMs > 0) return Math.max((spec.targetConcurrency * 1000) / serviceMs, saturated);
  return saturated > 0 ? saturated : undefined;
}

function ceilNeed(x: number): number {
  // A hair of slack so 16 / 8 stays 2 after floating-point noise.
  return Math.max(0, Math.ceil(x - 1e-9));
}

/**
 * Latency memory: the per-replica request rate at which p95 went over the
 * headroom, so scaling down stops short of it instead of cycling between the
 * latency rule (up) and the concurrency need (down). Learned only outside panic,
 * from a window that saw only the current ready replicas; confirmed while p95 stays near the
 * headroom; forgotten when p95 is well under it at that rate or above, or after
 * GASCL_LATENCY_MEMORY_MS without confirmation.
 */
function learnHotRate(s: GasclState, o: Observed, need: Needs, signals: Signals, spec: ScalingInput, panic: boolean, now: number): Pick<GasclState, 'hotRpsPerReplica' | 'hotConfirmedAt'> {
  const known = s.hotRpsPerReplica !== undefined && s.hotConfirmedAt !== undefined && now - s.hotConfirmedAt < GASCL_LATENCY_MEMORY_MS
    ? { hotRpsPerReplica: s.hotRpsPerReplica, hotConfirmedAt: s.hotConfirmedAt }
    : {};
  const ready = signals.readyReplicas;
  // The stable window's rate: arrivals do not depend on the replica count, and it is the less noisy.
  const rate = signals.stable.requestRate ?? o.rate;
  if (rate === undefined || ready <= 0 || o.p95 === undefined) return known;
  const perReplica = rate / ready;
  const headroomMs = GASCL_LATENCY_HEADROOM * spec.slo.latencyP95Ms;
  if (need.latencyBreached && !panic) {
    return { hotRpsPerReplica: Math.min(known.hotRpsPerReplica ?? Infinity, perReplica), hotConfirmedAt: now };
  }
  if (known.hotRpsPerReplica === undefined) return known;
  // Latency that is not capacity's (requests' own size, nothing waiting) confirms nothing.
  const cool = o.p95 <= 0.75 * headroomMs || !capacityWouldHelp(o, signals, spec);
  if (cool) return perReplica >= known.hotRpsPerReplica ? {} : known;
  // Still near the edge: the memory holds.
  return { hotRpsPerReplica: known.hotRpsPerReplica, hotConfirmedAt: now };
}

/**
 * Whether more replicas would shorten the latency: requests wait before a replica begins them
 * (p95 wait at least GASCL_FIXABLE_WAIT of the SLO), or, where nothing reports waits, the ready
 * replicas' KV cache is past GASCL_KV_CACHE_TARGET or they are busy (serving at least
 * GASCL_BUSY_FRACTION of their target concurrency). Latency a
 * request's own size explains, with idle replicas and nothing waiting, is no reason to scale.
 */
function capacityWouldHelp(o: Observed, signals: Signals, spec: ScalingInput): boolean {
  if (o.waitP95 !== undefined) return o.waitP95 >= GASCL_FIXABLE_WAIT * spec.slo.latencyP95Ms;
  if (o.kvCache !== undefined && o.kvCache >= GASCL_KV_CACHE_TARGET) return true;
  if (o.concurrency === undefined || signals.readyReplicas <= 0) return true;
  const servingPerReplica = Math.max(0, o.concurrency - (o.queue ?? 0)) / signals.readyReplicas;
  return servingPerReplica >= GASCL_BUSY_FRACTION * spec.targetConcurrency;
}

/**
 * How hot replicas may run: spec.targetConcurrency is where GASCL starts, and the SLO says how far
 * past it they can go. Evidence counts only from a latency window that saw nothing but the
 * current ready replicas, outside panic, with no backlog, with the replicas at their target (a
 * quiet hour says nothing about a busy one): p95 comfortably under the headroom raises the
 * target a step per stable window; p95 over it, with waits more replicas would remove, lowers it
 * a step. The target is kept across quiet hours, so the next peak starts from what was learned.
 */
function learnTarget(s: GasclState, o: Observed, signals: Signals, spec: ScalingInput, unsettled: boolean, latencyFresh: boolean, now: number): Pick<GasclState, 'target' | 'targetMovedAt'> {
  const floor = spec.targetConcurrency;
  const ceiling = GASCL_MAX_TARGET_FACTOR * floor;
  const target = Math.min(ceiling, Math.max(floor, s.target ?? floor));
  const kept = { target, ...(s.targetMovedAt !== undefined ? { targetMovedAt: s.targetMovedAt } : {}) };
  const ready = signals.readyReplicas;
  // Nothing is learned before a whole stable window of this state's own history.
  const young = now - s.since < signals.stable.windowSeconds * 1000;
  if (young || !latencyFresh || unsettled || ready <= 0 || o.p95 === undefined || o.concurrency === undefined) return kept;
  const queue = o.queue ?? 0;
  const servingPerReplica = Math.max(0, o.concurrency - queue) / ready;
  if (queue >= ready) {
    // A backlog all through the stable window with replicas serving fewer than the target: that
    // many is all they can hold. (A burst's backlog says nothing about that: it is panic's.)
    const sustained = (signals.stable.queueDepth ?? 0) >= ready;
    return sustained && servingPerReplica < target ? { target: Math.max(floor, servingPerReplica / (1 + GASCL_TARGET_STEP / 2)), targetMovedAt: now } : kept;
  }
  const headroomMs = GASCL_LATENCY_HEADROOM * spec.slo.latencyP95Ms;
  const stepDue = s.targetMovedAt === undefined || now - s.targetMovedAt >= signals.stable.windowSeconds * 1000;
  if (o.p95 > headroomMs && capacityWouldHelp(o, signals, spec)) {
    return target > floor && stepDue ? { target: Math.max(floor, target / (1 + GASCL_TARGET_STEP)), targetMovedAt: now } : kept;
  }
  // Evidence about this target: replicas serving about it (a step either side), not far past it.
  const atTarget = servingPerReplica >= target / (1 + GASCL_TARGET_STEP) && servingPerReplica <= target * (1 + GASCL_TARGET_STEP);
  // Requests that wait at all say the replicas are near their limit, whatever p95 says.
  const barelyWaiting = o.waitP95 === undefined || (o.serviceMs !== undefined && o.waitP95 <= GASCL_TARGET_WAIT * o.serviceMs);
  // A rising load is no time to run hotter: fewer replicas would meet more demand.
  const minutes = isTimedValues(s.rates) ? s.rates : [];
  const rising = (signals.panic.requestRate ?? 0) > (signals.stable.requestRate ?? 0) * (1 + GASCL_TARGET_STEP / 2) || risingTrend(minutes) !== undefined;
  // Where waits are reported they say what running hotter costs, and p95 past the headroom is the
  // requests' own size; without them, p95 must stay well under the headroom.
  const latencyRoom = o.waitP95 !== undefined ? o.p95 <= spec.slo.latencyP95Ms : o.p95 <= GASCL_TARGET_COMFORT * headroomMs;
  // Nor is a load that swings from minute to minute: its slack is what meets the next swing.
  const comfortable = latencyRoom && barelyWaiting && !rising && steadyMinutes(minutes);
  if (atTarget && comfortable && stepDue && target < ceiling) {
    return { target: Math.min(ceiling, target * (1 + GASCL_TARGET_STEP)), targetMovedAt: now };
  }
  return kept;
}

/**
 * Queue growth that chance alone explains: growth compares the averages of a window's two
 * halves, and Poisson arrivals at `rate` put √(rate·h) of noise into each half's count (h its
 * length, s); GASCL_GROWTH_SIGMAS standard deviations of that difference, per second.
 */
function arrivalNoise(rate: number, windowSeconds: number): number {
  const half = windowSeconds / 2;
  return half > 0 ? (GASCL_GROWTH_SIGMAS * Math.sqrt(2 * rate * half)) / half : 0;
}

/** The last minutes' rates (at least GASCL_STEADY_MINUTES of them) each within GASCL_STEADY_SWING of their median: a steady load. */
function steadyMinutes(minutes: readonly TimedValue[]): boolean {
  const recent = minutes.slice(-TREND_SAMPLES);
  if (recent.length < GASCL_STEADY_MINUTES) return false;
  const sorted = recent.map((m) => m.value).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return sorted.every((v) => Math.abs(v - median) <= GASCL_STEADY_SWING * median);
}

interface Needs {
  /** The largest of the needs that reflect demand (remembered for scale-down stabilization). */
  sustained: ScaleStep;
  /** The largest need of all. */
  all: ScaleStep;
  /** A queue the ready replicas cannot drain within the SLO: demand read now is capped by capacity. */
  backlogged: boolean;
  /** p95, read over a window that saw only the current ready replicas, is over the headroom without a backlog to explain it. */
  latencyBreached: boolean;
  /** The queue the ready replicas drain within the SLO budget. */
  drainable: number;
  /** Replicas the load asks for at the target, read past a backlog: what seasonal memory keeps. */
  demand: number;
}

function needs(o: Observed, signals: Signals, spec: ScalingInput, latencyFresh: boolean): Needs {
  const slo = spec.slo.latencyP95Ms;
  const coldMs = signals.coldStartMs ?? spec.slo.coldStartMs;
  const ready = signals.readyReplicas;
  const budgetMs = o.serviceMs !== undefined ? Math.max(slo - o.serviceMs, 0.1 * slo) : slo / 2;
  const horizonMs = Math.max(budgetMs, coldMs);
  const sustained: ScaleStep[] = [];
  const transient: ScaleStep[] = [];

  const queue = o.queue ?? 0;
  if (o.concurrency !== undefined) {
    // In-flight counts waiting requests too; those are the queue needs' business.
    const serving = Math.max(0, o.concurrency - queue);
    const exact = serving / spec.targetConcurrency;
    const current = signals.currentReplicas;
    // A hair over the current count is noise, not a reason for one more replica.
    const n = current > 0 && exact > current && exact <= current * (1 + GASCL_SCALE_UP_TOLERANCE) ? current : ceilNeed(exact);
    sustained.push(step(n, 'Concurrency', `concurrency ${fmt(serving)} needs ${n} at ${fmt(spec.targetConcurrency)} per replica`));
  }
  if (o.kvCache !== undefined && ready > 0) {
    const n = ceilNeed((ready * o.kvCache) / GASCL_KV_CACHE_TARGET);
    sustained.push(step(n, 'KvCache', `KV cache ${pct(o.kvCache)} used across ${ready} ready replica${ready === 1 ? '' : 's'}, kept at ${pct(GASCL_KV_CACHE_TARGET)}`));
  }

  // The queue the ready replicas drain within the SLO budget.
  const drainable = o.throughput !== undefined ? (ready * o.throughput * budgetMs) / 1000 : 0;
  if (queue > 0) {
    const n = o.throughput !== undefined ? ceilNeed(queue / ((o.throughput * horizonMs) / 1000)) : ceilNeed(queue / spec.targetConcurrency);
    const how = o.throughput !== undefined ? `within ${secs(horizonMs)} at ${fmt(o.throughput)}/s per replica` : `at ${fmt(spec.targetConcurrency)} per replica`;
    transient.push(step(n, 'QueueDrain', `queue ${fmt(queue)} drains ${how}`));
  }

  const headroomMs = GASCL_LATENCY_HEADROOM * slo;
  const latencyBreached = latencyFresh && o.p95 !== undefined && o.p95 > headroomMs && ready > 0 && queue <= drainable && capacityWouldHelp(o, signals, spec);
  if (latencyBreached && o.p95 !== undefined) {
    const factor = Math.min(GASCL_MAX_LATENCY_FACTOR, o.p95 / headroomMs);
    const n = ceilNeed(ready * factor);
    sustained.push(step(n, 'LatencySlo', `p95 ${fmt(o.p95)} ms over ${fmt(headroomMs)} ms (80% of the ${fmt(slo)} ms SLO)`));
  }

  // Growth within what Poisson arrivals at this rate show by chance is ordinary burstiness: the
  // queue rises and falls with it, and a projection over a whole cold start would be fiction.
  const growth = o.growth !== undefined && o.growth > arrivalNoise(o.rate ?? 0, signals.panic.windowSeconds) ? o.growth : 0;
  const refused = o.refused ?? 0;
  if ((growth > 0 || refused > 0) && o.throughput !== undefined) {
    // Requests refused at a full queue are arrivals too, and a breach now.
    const breachInMs = refused > 0 || queue >= drainable ? 0 : ((drainable - queue) / growth) * 1000;
    if (breachInMs < coldMs) {
      const arrivals = (o.rate ?? 0) + refused + growth;
      // Never past what the queue can hold: beyond it requests are refused, not served later.
      const unbounded = queue + (growth * coldMs) / 1000;
      const projected = Math.min(unbounded, spec.queueLimit ?? Infinity);
      const n = ceilNeed((arrivals + projected / (horizonMs / 1000)) / o.throughput);
      const when = breachInMs === 0 ? 'now' : `in ${secs(breachInMs)}`;
      const turnedAway = refused > 0 ? ` (${fmt(refused)}/s turned away)` : '';
      const bounded = projected < unbounded ? `, at most ${fmt(projected)} waiting` : '';
      transient.push(step(n, 'ColdStartLead', `queue ${fmt(queue)} would breach p95 ${fmt(slo)} ms ${when}; ${fmt(arrivals)}/s arriving${turnedAway}, ${fmt(o.throughput)}/s per replica${bounded}`));
    }
  }

  const largest = (steps: ScaleStep[]): ScaleStep | undefined => {
    let best: ScaleStep | undefined;
    for (const s of steps) if (!best || s.value > best.value) best = s;
    return best;
  };
  const sustainedBest = largest(sustained) ?? step(0, 'Concurrency', 'no demand');
  const transientBest = largest(transient);
  const backlogged = (queue > 0 && queue > drainable) || (o.refused ?? 0) > 0;
  // Demand in replicas: what is being served, or, behind a backlog that caps it, what arrives.
  const arriving = (o.rate ?? 0) + (o.refused ?? 0) + Math.max(0, o.growth ?? 0);
  const served = o.concurrency !== undefined ? Math.max(0, o.concurrency - queue) / spec.targetConcurrency : 0;
  const demand = ceilNeed(backlogged && o.throughput !== undefined ? Math.max(served, arriving / o.throughput) : served);
  return {
    sustained: sustainedBest,
    all: transientBest && transientBest.value > sustainedBest.value ? transientBest : sustainedBest,
    backlogged,
    latencyBreached,
    drainable,
    demand,
  };
}

/**
 * Node requests: when the replicas will not fit the pool's current nodes, ask for
 * enough nodes, up to maxNodes; past that, cap the replicas at what fits (never
 * below minReplicas: those wait for room rather than not being asked for).
 */
function requestNodes(cur: ScaleStep, spec: ScalingInput): { step: ScaleStep; desiredNodes?: number } {
  const cap = spec.capacity;
  if (!cap || !(cap.replicasPerNode > 0) || cur.value <= cap.replicasPerNode * cap.currentNodes) return { step: cur };
  const wanted = Math.ceil(cur.value / cap.replicasPerNode);
  if (wanted <= cap.maxNodes) {
    return { step: { ...cur, message: `${cur.message}; needs ${wanted} nodes (${cap.currentNodes} now)` }, desiredNodes: wanted };
  }
  const fits = Math.max(cap.maxNodes * cap.replicasPerNode, spec.minReplicas);
  if (cur.value <= fits) return { step: cur, desiredNodes: cap.maxNodes };
  const why = `${cur.value} replicas need ${wanted} nodes; the pool allows ${cap.maxNodes} (${cap.replicasPerNode} per node)`;
  return { step: step(fits, 'NodeLimit', why), desiredNodes: cap.maxNodes };
}

/**
 * Node release: the most nodes the decided replicas needed over the node delay;
 * when that is fewer than the pool has, the pool should shrink to it (the
 * platform removes only nodes left empty, so no replica loses its node).
 */
function releaseNodes(cur: ScaleStep, spec: ScalingInput, window: readonly TimedValue[], since: number, now: number): { step: ScaleStep; desiredNodes?: number; window: TimedValue[] } {
  const cap = spec.capacity;
  if (!cap || !(cap.replicasPerNode > 0)) return { step: cur, window: [] };
  const needed = Math.ceil(cur.value / cap.replicasPerNode);
  const next = recordExtreme(window, 'max', needed, GASCL_NODE_SCALE_DOWN_DELAY_MS, now);
  // Before a whole delay of history (a fresh state), every current node counts as needed.
  const known = now - since >= GASCL_NODE_SCALE_DOWN_DELAY_MS ? extremeSince(window, GASCL_NODE_SCALE_DOWN_DELAY_MS, now) : undefined;
  // Never more than maxNodes: a pool left above it (its maximum lowered) shrinks to it at most.
  const highest = Math.min(Math.max(needed, known ?? cap.currentNodes), cap.maxNodes);
  if (highest >= cap.currentNodes) return { step: cur, window: next };
  const message = `${cur.message}; ${highest} of ${cap.currentNodes} nodes needed for ${secs(GASCL_NODE_SCALE_DOWN_DELAY_MS)}`;
  return { step: { ...cur, message }, desiredNodes: highest, window: next };
}

export const gascl = (signals: Signals, spec: ScalingInput, state: DeciderState | undefined, now: number): Decision<GasclState> => {
  const s = readState(state, signals.currentReplicas, signals.readyReplicas, now);
  const given = observe(signals, spec, now);
  if (given.concurrency === undefined && given.queue === undefined && given.rate === undefined && given.p95 === undefined) {
    return { result: noData(`no concurrency, queue, request rate or latency signal in the last ${fmt(signals.stable.windowSeconds)} s`), next: s };
  }
  const current = signals.currentReplicas;
  const ready = signals.readyReplicas;
  const stableMs = signals.stable.windowSeconds * 1000;
  const next: GasclState = { ...s };
  if (given.traffic) next.lastActiveAt = now;

  // A latency window that also saw another count of ready replicas says little about this one.
  if (s.lastReady !== ready) {
    next.lastReady = ready;
    next.readySince = now;
  }
  // Nor does one that saw a burst's backlog: its requests waited then, and the burst memory answers for it.
  const burstBacklog = s.inBurst === true && s.lastBackloggedAt !== undefined && now - s.lastBackloggedAt < given.p95WindowMs;
  const latencyFresh = (next.readySince === undefined || now - next.readySince >= given.p95WindowMs) && !burstBacklog;
  // Panic or a burst as the last decision left them: the target learns nothing while demand
  // outruns capacity, nor from the backlog a burst leaves behind.
  const unsettled =
    (s.lastPanicDemandAt !== undefined && now - s.lastPanicDemandAt < stableMs) || (s.lastBurstAt !== undefined && now - s.lastBurstAt < 2 * stableMs);
  Object.assign(next, learnTarget(s, given, signals, spec, unsettled, latencyFresh, now));
  // From here on the learned target stands in for the spec's.
  const retargeted = next.target !== undefined && next.target !== spec.targetConcurrency;
  if (retargeted) spec = { ...spec, targetConcurrency: next.target! };
  const o = retargeted ? observe(signals, spec, now) : given;
  const need = needs(o, signals, spec, latencyFresh);
  if (need.backlogged) next.lastBackloggedAt = now;

  // Panic: short-window demand (the largest need, in replicas) at twice the ready replicas.
  const demand = need.all.value;
  if (demand > 0 && demand >= GASCL_PANIC_THRESHOLD * Math.max(1, ready)) {
    next.lastPanicDemandAt = now;
    next.panicSince ??= now;
  }
  const panic = next.lastPanicDemandAt !== undefined && now - next.lastPanicDemandAt < stableMs;
  if (!panic) {
    delete next.panicSince;
    delete next.panicHold;
    delete next.lastPanicDemandAt;
  }

  let cur = need.all;

  if (current === 0 && o.traffic) {
    cur = cur.value < 1 ? step(1, 'Activation', 'a request is waiting at zero replicas') : step(cur.value, 'Activation', `activating: ${cur.message}`);
  }

  const upMs = spec.stabilization.upSeconds * 1000;
  if (upMs > 0 && !panic && current > 0 && cur.value > current) {
    const lowest = Math.min(cur.value, extremeSince(s.upWindow, upMs, now) ?? Infinity);
    cur = bind(cur, step(Math.max(lowest, current), 'ScaleUpStabilized', `the lowest need in the last ${secs(upMs)} was ${lowest}`));
  }

  if (panic) {
    const hold = Math.max(current, s.panicHold ?? 0);
    if (cur.value < hold) cur = step(hold, 'Panic', `holding ${hold} in panic (entered ${secs(now - next.panicSince!)} ago)`);
    next.panicHold = Math.max(hold, cur.value);
  }

  const downMs = spec.stabilization.downSeconds * 1000;
  const learned = learnHotRate(s, o, need, signals, spec, panic, now);
  delete next.hotRpsPerReplica;
  delete next.hotConfirmedAt;
  Object.assign(next, learned);
  const hot = learned.hotRpsPerReplica;
  const steadyRate = Math.max(o.rate ?? 0, signals.stable.requestRate ?? 0);
  if (cur.value < current && hot !== undefined && steadyRate > 0) {
    // Do not scale down to where each replica would carry the load that broke the headroom
    // before; the higher of the two windows' rates keeps a quiet moment from opening the door.
    const floor = Math.floor(steadyRate / (hot * (1 - GASCL_HOT_RATE_MARGIN))) + 1;
    if (cur.value < floor) {
      cur = step(Math.min(floor, current), 'LatencySlo', `p95 went over ${fmt(GASCL_LATENCY_HEADROOM * spec.slo.latencyP95Ms)} ms at ${fmt(hot)} req/s per replica; ${floor} stay below that`);
    }
  }
  if (cur.value < current) {
    const highest = Math.max(need.sustained.value, extremeSince(s.downWindow, downMs, now) ?? 0);
    if (highest > cur.value) {
      cur = step(Math.min(highest, current), 'ScaleDownStabilized', `the highest recommendation in the last ${secs(downMs)} was ${highest}`);
    }
  }
  // A burst: in-flight requests in the panic window at twice the stable window's, where the stable
  // window saw no backlog (one would cap what it read, and make any catch-up look like a burst).
  const stableInFlight = signals.stable.concurrency;
  const panicInFlight = signals.panic.concurrency;
  const burst =
    stableInFlight !== undefined && panicInFlight !== undefined && stableInFlight > 0 && demand > 0 &&
    (signals.stable.queueDepth ?? 0) <= need.drainable && panicInFlight >= GASCL_PANIC_THRESHOLD * stableInFlight;
  // Replicas asked for now serve after a cold start, and after a node's provisioning when they need one.
  const leadMs = (signals.coldStartMs ?? spec.slo.coldStartMs) + (spec.capacity?.provisioningMs ?? 0);
  const wasInBurst = s.inBurst === true;
  const history = isBurstHistory(s.bursts) ? s.bursts : [];
  // A burst the kept headroom absorbed is a burst too: demand back near the headroom while it is
  // held shows that bursts recur, though no panic shows it (the capacity was there to meet it).
  const kept = wasInBurst ? undefined : burstHeadroom(history, false, now, leadMs + GASCL_SCALE_DOWN_STEP_MS);
  const absorbed = !burst && kept !== undefined && need.demand >= GASCL_BURST_RECURS * kept.replicas;
  if (burst || absorbed) next.lastBurstAt = now;
  // A burst lasts a stable window past its last sign, and as long as the panic or backlog it left,
  // or demand near its peak: their needs count toward its peak.
  const nearPeak = wasInBurst && history.length > 0 && need.demand >= GASCL_BURST_RECURS * history[history.length - 1]!.peak;
  const inBurst = burst || absorbed || (s.lastBurstAt !== undefined && now - s.lastBurstAt < stableMs) || (wasInBurst && (panic || need.backlogged || nearPeak));
  if (inBurst) next.inBurst = true;
  else delete next.inBurst;
  // A burst's size is its demand, refused arrivals included; one read behind a backlog is marked as such.
  next.bursts = recordBurst(history, inBurst, wasInBurst, need.demand, need.backlogged, now, absorbed);
  if (cur.value < current && need.backlogged) {
    // A backlog the ready replicas cannot drain says capacity is short, whatever the needs read now.
    cur = step(current, 'QueueDrain', `queue ${fmt(o.queue ?? 0)} is more than ${fmt(ready)} ready replicas drain within the SLO; no scale-down`);
  }
  let toZero = false;
  if (spec.minReplicas === 0 && !o.traffic && !panic) {
    const lastActive = Math.max(signals.lastRequestAt ?? s.since, next.lastActiveAt ?? -Infinity);
    const idleMs = now - lastActive;
    if (idleMs >= spec.scaleToZeroAfterMs) {
      // Idle that long is no load at all: no stabilization or rate limit applies.
      cur = step(0, 'ScaleToZero', `no requests for ${secs(idleMs)}`);
      toZero = true;
    } else if (cur.value < 1 && current >= 1) {
      cur = step(1, 'Cooldown', `idle for ${secs(idleMs)}; scaling to zero after ${secs(spec.scaleToZeroAfterMs)}`);
    }
  }
  let forecast: number | undefined;
  if (spec.seasonalPeriodMs !== undefined && spec.seasonalPeriodMs > 0) {
    // While backlogged the sustained needs read capacity, not demand; the queue needs read demand then.
    const season = recordSeason(seasonFor(s.season, spec.seasonalPeriodMs), need.demand, now);
    next.season = season;
    forecast = forecastNeed(season, now, now + leadMs + season.slotMs);
    if (forecast !== undefined && forecast > cur.value) {
      cur = step(forecast, 'Forecast', `one period (${secs(spec.seasonalPeriodMs)}) ago, ${forecast} replicas were needed within the next ${secs(leadMs + season.slotMs)}`);
      toZero = false;
    }
  }
  // An idle service's scale to zero is its owner's choice: no headroom is kept past it.
  const headroom = toZero ? undefined : burstHeadroom(next.bursts, inBurst, now, leadMs + GASCL_SCALE_DOWN_STEP_MS);
  if (headroom !== undefined && headroom.replicas > cur.value) cur = step(headroom.replicas, 'BurstHeadroom', headroom.why);
  const stableRate = signals.stable.requestRate;
  if (stableRate !== undefined) {
    // Completions behind a backlog, or in a panic, rise with capacity, not demand: the climb starts again.
    next.rates = need.backlogged || panic ? [] : recordRate(isTimedValues(s.rates) ? s.rates : [], stableRate, now);
    // Two lead times ahead, from a rate half a window old: the slope of the last minutes lags a
    // climb that steepens, and replicas asked a lead time ago are what serve now. A climb last
    // period's memory knows is the seasonal forecast's.
    const projected = forecast === undefined ? projectRate(next.rates, stableRate, 2 * leadMs + stableMs / 2) : undefined;
    if (projected !== undefined && o.throughput !== undefined && !panic) {
      const n = ceilNeed(projected / o.throughput);
      if (n > cur.value) {
        cur = step(n, 'Forecast', `the request rate has risen for ${secs(TREND_SAMPLES * TREND_SAMPLE_MS)}; at that pace ${fmt(projected)}/s in ${secs(2 * leadMs)} needs ${n}`);
        toZero = false;
      }
    }
  }
  if (cur.value < current && !toZero) {
    const lastMove = Math.max(s.lastScaleDownAt ?? -Infinity, s.lastScaleUpAt ?? -Infinity);
    if (now - lastMove < GASCL_SCALE_DOWN_STEP_MS && now >= lastMove) {
      const which = lastMove === s.lastScaleDownAt ? 'scale-down' : 'scale-up';
      cur = step(current, 'ScaleDownLimit', `last ${which} ${secs(now - lastMove)} ago; one step per ${secs(GASCL_SCALE_DOWN_STEP_MS)}`);
    } else {
      const floor = current - Math.floor(current * GASCL_MAX_SCALE_DOWN_FRACTION);
      if (cur.value < floor) cur = step(floor, 'ScaleDownLimit', `removing at most half of ${current} replicas per step`);
    }
  }

  if (cur.value < spec.minReplicas) {
    cur = step(spec.minReplicas, 'MinReplicas', `the desired replica count is less than the minimum replica count (${spec.minReplicas})`);
  }
  if (cur.value > spec.maxReplicas) {
    cur = step(spec.maxReplicas, 'MaxReplicas', `the desired replica count is more than the maximum replica count (${spec.maxReplicas})`);
  }

  const nodeWindow = isTimedValues(s.nodeWindow) ? s.nodeWindow : [];
  let nodes = requestNodes(cur, spec);
  cur = nodes.step;
  if (nodes.desiredNodes === undefined) {
    const released = releaseNodes(cur, spec, nodeWindow, s.since, now);
    next.nodeWindow = released.window;
    nodes = released;
    cur = nodes.step;
  } else if (spec.capacity) {
    next.nodeWindow = recordExtreme(nodeWindow, 'max', nodes.desiredNodes, GASCL_NODE_SCALE_DOWN_DELAY_MS, now);
  }

  // While backlogged, replicas serve at capacity and read as demand; remember only real demand.
  // A burst's needs are the burst memory's to keep (bursts.ts), not scale-down stabilization's.
  next.downWindow = need.backlogged || inBurst ? expireExtremes(s.downWindow, downMs, now) : recordExtreme(s.downWindow, 'max', need.sustained.value, downMs, now);
  next.upWindow = upMs > 0 ? recordExtreme(s.upWindow, 'min', need.all.value, upMs, now) : [];
  if (cur.value < current) next.lastScaleDownAt = now;
  if (cur.value > current) next.lastScaleUpAt = now;
  if (cur.value === 0 && current > 0) {
    // A service back from zero starts afresh: old peaks say nothing about its next burst.
    next.downWindow = [];
    next.bursts = [];
  }
  return { result: scaled(current, cur, panic, nodes.desiredNodes), next };
};
