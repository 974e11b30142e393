/**
 * What a simulation scenario says, as one zod schema: the `--scenario FILE` YAML
 * and the built-in scenarios both go through it, so defaults and error messages
 * (with the exact path of each problem) are the same everywhere. Durations are
 * written as in InferenceService specs ("500ms", "30s", "10m"); `resolveScenario`
 * turns the parsed document into plain milliseconds for the simulator.
 */
import { PoolSpec, type Pool } from '../api/pool.ts';
import { z } from 'zod';
import { parseDuration } from '../api/quantity.ts';
import { ScalingPolicy } from '../api/schema.ts';
import { MAX_P95_OVER_MEAN } from './random.ts';

const duration = z
  .string()
  .refine((v) => parseDuration(v) !== undefined, { message: 'must be a duration such as 500ms, 30s, 5m or 1h' });

/** A delay: fixed ("30s") or spread uniformly around a mean ({ mean: 120s, jitter: 20s } → 100–140 s). */
const delay = z.union([
  duration,
  z.strictObject({ mean: duration, jitter: duration.default('0s') }),
]);

/** The simulator's pools are the platform's (src/api/pool.ts): one model of where replicas run. */
const pool = PoolSpec;
type PoolClass = NonNullable<Pool['class']>;

const serviceTime = z
  .strictObject({ meanMs: z.number().positive(), p95Ms: z.number().positive() })
  .superRefine((s, ctx) => {
    if (s.p95Ms < s.meanMs) ctx.addIssue({ code: 'custom', path: ['p95Ms'], message: `must be >= meanMs (got ${s.p95Ms} < ${s.meanMs})` });
    else if (s.p95Ms / s.meanMs > MAX_P95_OVER_MEAN) {
      ctx.addIssue({ code: 'custom', path: ['p95Ms'], message: `must be at most ${MAX_P95_OVER_MEAN.toFixed(2)}× meanMs for a lognormal service time (got ${(s.p95Ms / s.meanMs).toFixed(2)}×)` });
    }
  });

const service = z.strictObject({
  /** Service time of a request of average work, lognormal with this mean and p95. */
  serviceTime,
  /** Requests one replica serves at once (its slots); the rest wait in the gateway queue. */
  concurrency: z.int().min(1).max(1024).default(1),
  coldStart: z
    .strictObject({
      /** Paid by the first pod on a node (the node caches the image afterwards). */
      imagePull: delay.default('0s'),
      /** Paid by every pod: weights into accelerator memory, warm-up. */
      modelLoad: delay.default('0s'),
    })
    .prefault({}),
  /** CPU use relative to the pod's request: `idle` with no work, `atFullLoad` with every slot busy. */
  cpu: z
    .strictObject({ idle: z.number().min(0).max(4).default(0.05), atFullLoad: z.number().min(0).max(4).default(0.9) })
    .prefault({}),
  /** With tokens (a replayed trace's tokens_in / tokens_out, or generated `traffic.tokens`): service time = meanMs + tokens × these (before noise). */
  perToken: z.strictObject({ inMs: z.number().min(0).default(0), outMs: z.number().min(0).default(0) }).optional(),
});

const gateway = z.strictObject({
  /** Requests the gateway holds while every slot is busy; beyond it, requests are rejected (429). */
  maxQueue: z.int().min(0).max(10_000_000).default(2000),
  /** A request waiting longer than this errors out (504). */
  timeout: duration.default('30s'),
});

const scaling = z
  .strictObject({
    minReplicas: z.int().min(0).max(10_000).default(1),
    maxReplicas: z.int().min(1).max(10_000).default(100),
    targetConcurrency: z.number().positive().default(8),
    /** hpa-cpu's target CPU utilization relative to the request (the HPA's default, 80%). */
    targetCpuUtilization: z.number().positive().max(4).default(0.8),
    scaleToZeroAfter: duration.default('5m'),
    stabilization: z
      .strictObject({ upSeconds: z.number().min(0).max(3600).default(0), downSeconds: z.number().min(0).max(3600).default(300) })
      .prefault({}),
    /** Ready replicas at the start; default: what the first minute's traffic needs (the same for every treatment). */
    initialReplicas: z.int().min(0).optional(),
    /** The traffic's period (a day, compressed or not), told to the deciders as ScalingInput.seasonalPeriodMs so a forecasting policy can use it. */
    seasonality: z.strictObject({ period: duration }).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.maxReplicas < s.minReplicas) ctx.addIssue({ code: 'custom', path: ['maxReplicas'], message: `must be >= minReplicas (got ${s.maxReplicas} < ${s.minReplicas})` });
  });

const rps = z.number().min(0);

const shape = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('constant'), rps }),
  /** Piecewise constant: each level holds from its `at` to the next one's. */
  z.strictObject({
    kind: z.literal('steps'),
    steps: z.array(z.strictObject({ at: duration, rps })).min(1, 'needs at least one step'),
  }),
  /** `baseRps`, and `factor`× it for `duration` from each time in `at`. */
  z.strictObject({
    kind: z.literal('bursts'),
    baseRps: rps,
    factor: z.number().min(1),
    duration,
    at: z.array(duration).min(1, 'needs at least one burst time'),
  }),
  z.strictObject({ kind: z.literal('ramp'), fromRps: rps, toRps: rps, over: duration.optional() }),
  /**
   * A day compressed into `period`: from `minRps` at the start up to `maxRps` half a period later (or at `peakAt`, for another time zone).
   * `variation` makes days differ: each period's peak times a factor drawn uniformly within ±`peak`, and the period's curve shifted by up to ±`shift`.
   */
  z.strictObject({
    kind: z.literal('diurnal'),
    minRps: rps,
    maxRps: rps,
    period: duration,
    peakAt: duration.optional(),
    variation: z.strictObject({ peak: z.number().min(0).max(0.9).default(0), shift: duration.default('0s') }).optional(),
  }),
]);

/** A token count drawn per request: lognormal with this median and 99th percentile, rounded, at most `max`. */
const tokenCount = z
  .strictObject({ median: z.number().positive(), p99: z.number().positive(), max: z.int().min(1).optional() })
  .superRefine((t, ctx) => {
    if (t.p99 < t.median) ctx.addIssue({ code: 'custom', path: ['p99'], message: `must be >= median (got ${t.p99} < ${t.median})` });
  });

/** Tokens of generated requests, which scale each one's service time through `service.perToken` as a replayed trace's columns do. */
const tokens = z.strictObject({ in: tokenCount.optional(), out: tokenCount.optional() });

/**
 * The shape's rate times a lognormal factor of mean 1, drawn anew every `every` (seeded): minute-scale bursts
 * no policy can foresee. None before `from`, so the run starts from traffic its starting replicas were sized for.
 */
const rateNoise = z.strictObject({ every: duration.default('1m'), sigma: z.number().min(0).max(2), from: duration.default('0s') });

const replay = z.strictObject({
  /** CSV of arrival times in seconds (column `t` or the first), optionally `work` or `tokens_in`/`tokens_out`; relative to the scenario file. */
  file: z.string().min(1),
  /** Multiplies every arrival time: 0.5 replays twice as fast. */
  timeScale: z.number().positive().default(1),
});

const traffic = z
  .strictObject({ shape: shape.optional(), replay: replay.optional(), rateNoise: rateNoise.optional(), tokens: tokens.optional() })
  .superRefine((t, ctx) => {
    if ((t.shape === undefined) === (t.replay === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs exactly one of shape (a built-in traffic shape) or replay (a CSV of arrival times)' });
    }
    if (t.replay !== undefined) {
      if (t.rateNoise !== undefined) ctx.addIssue({ code: 'custom', path: ['rateNoise'], message: 'applies to a shape; a replay keeps its arrival times' });
      if (t.tokens !== undefined) ctx.addIssue({ code: 'custom', path: ['tokens'], message: 'applies to a shape; a replay takes its tokens from its tokens_in / tokens_out columns' });
    }
    const every = t.rateNoise === undefined ? undefined : parseDuration(t.rateNoise.every);
    if (every !== undefined && (every < 1000 || every % 1000 !== 0)) ctx.addIssue({ code: 'custom', path: ['rateNoise', 'every'], message: 'must be a whole number of seconds (e.g. 1m)' });
    if (t.shape?.kind === 'diurnal' && t.shape.variation) {
      const period = parseDuration(t.shape.period);
      const shift = parseDuration(t.shape.variation.shift);
      if (period !== undefined && shift !== undefined && shift > period / 4) ctx.addIssue({ code: 'custom', path: ['shape', 'variation', 'shift'], message: `must be at most a quarter of the period (${t.shape.period})` });
    }
  });

const lowerName = z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lowercase letters, digits and "-" (e.g. chat)');

/** One of several services sharing the pools: the same model (`service`), its own traffic, team and priority. */
const sharedService = z.strictObject({
  name: lowerName,
  /** Whose service it is, for quotas; default its name. */
  team: lowerName.optional(),
  /** Higher keeps on-prem first when it is contended (placement on-prem-first). */
  priority: z.int().min(0).max(1_000_000).default(0),
  traffic,
});

/** How replicas find pools: `in-order` (the pools in the order listed), `on-prem-first` (src/placement). */
export const PlacementPolicy = z.enum(['in-order', 'on-prem-first']);

const quota = z
  .strictObject({
    team: lowerName,
    maxReplicas: z.int().min(0).max(100_000).optional(),
    maxGpus: z.number().min(0).max(1_000_000).optional(),
    /** Counts only the pools of this class; default every pool. */
    poolClass: z.enum(['on-prem', 'elastic']).optional(),
  })
  .superRefine((q, ctx) => {
    if (q.maxReplicas === undefined && q.maxGpus === undefined) ctx.addIssue({ code: 'custom', path: [], message: 'needs maxReplicas, maxGpus or both' });
  });

const periods = z
  .strictObject({
    gascl: duration.default('2s'),
    'hpa-cpu': duration.default('15s'),
    'hpa-service': duration.default('15s'),
    // KEDA polls every 30 s inside its decider; the HPA it drives syncs every 15 s.
    'keda-queue': duration.default('15s'),
  })
  .prefault({});

export const ScenarioSchema = z
  .strictObject({
    name: z.string().min(1).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lowercase letters, digits and "-" (e.g. burst)'),
    description: z.string().default(''),
    seed: z.int().min(0).max(2 ** 31 - 1).default(1),
    /** Simulated time; default the trace's length for a replay. Required for shapes. */
    duration: duration.optional(),
    slo: z
      .strictObject({ latencyP95Ms: z.number().positive().default(250), coldStartMs: z.number().positive().default(2000) })
      .prefault({}),
    pools: z.array(pool).min(1, 'needs at least one node pool'),
    service,
    gateway: gateway.prefault({}),
    scaling: scaling.prefault({}),
    /** How often each policy decides. Whole seconds. */
    decisionPeriods: periods,
    /** Signal windows the deciders see. */
    windows: z.strictObject({ stable: duration.default('60s'), panic: duration.default('6s') }).prefault({}),
    /** Node autoscaling for hpa-cpu, hpa-service and keda-queue (gascl asks for nodes itself). */
    clusterAutoscaler: z
      .strictObject({ scanInterval: duration.default('10s'), pendingFor: duration.default('10s'), emptyFor: duration.default('10m') })
      .prefault({}),
    /** Two scale events in opposite directions this close together count as an oscillation. */
    oscillationWindow: duration.default('2m'),
    /** One service's traffic; or `services`, several sharing the pools. */
    traffic: traffic.optional(),
    services: z.array(sharedService).min(1, 'needs at least one service').max(16).optional(),
    /** How replicas find pools; a list runs every treatment under each, side by side. */
    placement: z.union([PlacementPolicy, z.array(PlacementPolicy).min(1, 'needs at least one placement policy').max(2)]).default('in-order'),
    /** Team ceilings, kept by placement on-prem-first (in-order knows no quotas). */
    quotas: z.array(quota).max(64).default([]),
  })
  .superRefine((s, ctx) => {
    if ((s.traffic === undefined) === (s.services === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['traffic'], message: 'needs exactly one of traffic (one service) or services (several sharing the pools)' });
    }
    const shaped = s.traffic?.shape !== undefined || (s.services ?? []).some((v) => v.traffic.shape !== undefined);
    if (shaped && s.duration === undefined) ctx.addIssue({ code: 'custom', path: ['duration'], message: 'is required with a traffic shape (e.g. duration: 60m)' });
    const tokened = s.traffic?.tokens !== undefined || (s.services ?? []).some((v) => v.traffic.tokens !== undefined);
    if (tokened && s.service.perToken === undefined) {
      ctx.addIssue({ code: 'custom', path: ['service', 'perToken'], message: 'is required with traffic.tokens: it turns tokens into service time (e.g. perToken: { inMs: 0.1, outMs: 6 })' });
    }
    const season = s.scaling.seasonality === undefined ? undefined : parseDuration(s.scaling.seasonality.period);
    if (season !== undefined && season < 60_000) ctx.addIssue({ code: 'custom', path: ['scaling', 'seasonality', 'period'], message: 'must be at least a minute (e.g. 24h)' });
    const services = new Set<string>();
    s.services?.forEach((v, i) => {
      if (services.has(v.name)) ctx.addIssue({ code: 'custom', path: ['services', i, 'name'], message: `"${v.name}" names two services; service names must be unique` });
      services.add(v.name);
    });
    if (Array.isArray(s.placement) && new Set(s.placement).size !== s.placement.length) {
      ctx.addIssue({ code: 'custom', path: ['placement'], message: 'names a placement policy twice' });
    }
    const teams = new Set(s.services ? s.services.map((v) => v.team ?? v.name) : [DEFAULT_TEAM]);
    s.quotas.forEach((q, i) => {
      if (!teams.has(q.team)) ctx.addIssue({ code: 'custom', path: ['quotas', i, 'team'], message: `no service of team "${q.team}" (teams: ${[...teams].join(', ')})` });
    });
    const names = new Set<string>();
    s.pools.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: 'custom', path: ['pools', i, 'name'], message: `"${p.name}" names two pools; pool names must be unique` });
      names.add(p.name);
    });
    for (const key of ['gascl', 'hpa-cpu', 'hpa-service', 'keda-queue'] as const) {
      const ms = parseDuration(s.decisionPeriods[key]);
      if (ms !== undefined && (ms < 1000 || ms % 1000 !== 0)) ctx.addIssue({ code: 'custom', path: ['decisionPeriods', key], message: 'must be a whole number of seconds (e.g. 2s, 15s)' });
    }
    for (const key of ['stable', 'panic'] as const) {
      const ms = parseDuration(s.windows[key]);
      if (ms !== undefined && (ms < 1000 || ms % 1000 !== 0)) ctx.addIssue({ code: 'custom', path: ['windows', key], message: 'must be a whole number of seconds (e.g. 60s)' });
    }
    const scan = parseDuration(s.clusterAutoscaler.scanInterval);
    if (scan !== undefined && (scan < 1000 || scan % 1000 !== 0)) ctx.addIssue({ code: 'custom', path: ['clusterAutoscaler', 'scanInterval'], message: 'must be a whole number of seconds (e.g. 10s)' });
  });

/** The team of a scenario's one service, when it lists no `services`. */
export const DEFAULT_TEAM = 'default';

export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type ScenarioDocument = z.output<typeof ScenarioSchema>;
export type TrafficShape = z.output<typeof shape>;
export type PolicyName = z.output<typeof ScalingPolicy>;
export type PlacementPolicyName = z.output<typeof PlacementPolicy>;

/** A delay in ms: a fixed value or a uniform spread around a mean. */
export interface Delay {
  meanMs: number;
  jitterMs: number;
}

export interface PoolConfig {
  name: string;
  accelerator: 'gpu' | 'cpu';
  /** on-prem or elastic, as `poolClass` (src/api/pool.ts) says. */
  class: PoolClass;
  /** GPUs per node, when the pool says (GPU quotas count gpusPerNode ÷ replicasPerNode per replica, else 1 on a GPU pool). */
  gpusPerNode?: number;
  replicasPerNode: number;
  costPerHour: number;
  minNodes: number;
  maxNodes: number;
  initialNodes?: number;
  provisioningDelay: Delay;
}

export interface ServiceConfig {
  serviceTime: { meanMs: number; p95Ms: number };
  concurrency: number;
  coldStart: { imagePull: Delay; modelLoad: Delay };
  cpu: { idle: number; atFullLoad: number };
  perToken?: { inMs: number; outMs: number };
}

/** A generated token count: ln X ~ N(mu, sigma²), rounded, at least 1 and at most `max`. */
export interface TokenDistribution {
  mu: number;
  sigma: number;
  max: number;
}

/**
 * Tokens of generated requests and what they cost: a request's work (its service
 * time relative to `baseMs`, before noise) is (baseMs + in × inMs + out × outMs) / baseMs,
 * as for a replayed trace's tokens_in / tokens_out.
 */
export interface GeneratedTokens {
  in?: TokenDistribution;
  out?: TokenDistribution;
  baseMs: number;
  inMs: number;
  outMs: number;
}

/** Traffic after the replay file (if any) has been read. */
export type TrafficConfig =
  | { kind: 'shape'; shape: TrafficShape; rateNoise?: { everyMs: number; sigma: number; fromMs: number }; tokens?: GeneratedTokens }
  | { kind: 'replay'; times: Float64Array; work?: Float64Array; source: string; timeScale: number };

/** One of several services sharing a scenario's pools. */
export interface SharedServiceConfig {
  name: string;
  team: string;
  priority: number;
  traffic: TrafficConfig;
}

/** A team quota, as placement reads it (src/placement/types.ts). */
export interface QuotaConfig {
  team: string;
  maxReplicas?: number;
  maxGpus?: number;
  poolClass?: PoolClass;
}

/** A scenario in plain milliseconds: what the simulator runs. */
export interface Scenario {
  name: string;
  description: string;
  seed: number;
  durationMs: number;
  slo: { latencyP95Ms: number; coldStartMs: number };
  pools: PoolConfig[];
  service: ServiceConfig;
  gateway: { maxQueue: number; timeoutMs: number };
  scaling: {
    minReplicas: number;
    maxReplicas: number;
    targetConcurrency: number;
    targetCpuUtilization: number;
    scaleToZeroAfterMs: number;
    stabilization: { upSeconds: number; downSeconds: number };
    initialReplicas?: number;
    /** The traffic's declared period (scaling.seasonality), passed to the deciders. */
    seasonalPeriodMs?: number;
  };
  decisionPeriodsMs: Record<PolicyName, number>;
  windows: { stableMs: number; panicMs: number };
  clusterAutoscaler: { scanIntervalMs: number; pendingForMs: number; emptyForMs: number };
  oscillationWindowMs: number;
  /** The one service's traffic; with `services`, the first one's. */
  traffic: TrafficConfig;
  /** Several services sharing the pools (absent: one service, `traffic`). */
  services?: SharedServiceConfig[];
  /** Placement policies to run, in order (default in-order alone). */
  placements: PlacementPolicyName[];
  quotas: QuotaConfig[];
}

export function ms(value: string): number {
  const v = parseDuration(value);
  if (v === undefined) throw new RangeError(`not a duration: ${value}`);
  return v;
}

export function delayOf(value: string | { mean: string; jitter: string }): Delay {
  return typeof value === 'string' ? { meanMs: ms(value), jitterMs: 0 } : { meanMs: ms(value.mean), jitterMs: ms(value.jitter) };
}
