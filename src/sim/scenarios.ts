/**
 * The KARB evaluation plan's scenarios (step, burst, diurnal; hybrid's shared
 * pools; llm's heavy-tailed tokens and bursty arrivals; multiday's repeating,
 * declared period) and `--scenario FILE` loading. Built-ins are written in the
 * same form as a scenario file and go through the same schema. The plan's
 * cluster: a fixed on-prem pool of GPU nodes and an elastic cloud pool that
 * takes minutes to provision; a GPU model whose pods pay an image pull (once
 * per node) and a model load.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { InvalidRequestError } from '../errors.ts';
import { parseArrivalCsv, TraceFormatError } from '../loadgen/trace.ts';
import { poolClass } from '../api/pool.ts';
import { normalQuantile } from './random.ts';
import { ScenarioSchema, delayOf, ms, type GeneratedTokens, type ScenarioDocument, type ScenarioInput, type Scenario, type TrafficConfig } from './scenario-schema.ts';
import { tokenWork } from './traffic.ts';

/** A scenario that cannot be used; the message names the file, the path and the fix. */
export class ScenarioError extends InvalidRequestError {
  constructor(message: string, details?: unknown) {
    super(message, { code: 'INVALID_SCENARIO', details });
  }
}

/** The plan's cluster and service, shared by the built-in scenarios. */
const PLAN_BASE = {
  slo: { latencyP95Ms: 250, coldStartMs: 40_000 },
  pools: [
    { name: 'onprem-a100', accelerator: 'gpu', replicasPerNode: 4, costPerHour: 12, minNodes: 2, maxNodes: 2 },
    { name: 'cloud-a100', accelerator: 'gpu', replicasPerNode: 4, costPerHour: 16, minNodes: 0, maxNodes: 30, provisioningDelay: { mean: '120s', jitter: '30s' } },
  ],
  service: {
    serviceTime: { meanMs: 60, p95Ms: 150 },
    concurrency: 4,
    coldStart: { imagePull: { mean: '30s', jitter: '10s' }, modelLoad: { mean: '10s', jitter: '3s' } },
    cpu: { idle: 0.05, atFullLoad: 0.9 },
  },
  gateway: { maxQueue: 2000, timeout: '30s' },
  scaling: { minReplicas: 1, maxReplicas: 120, targetConcurrency: 3, scaleToZeroAfter: '5m', stabilization: { upSeconds: 0, downSeconds: 300 } },
} satisfies Partial<ScenarioInput>;

export const BUILT_IN_SCENARIOS: readonly ScenarioInput[] = [
  {
    ...PLAN_BASE,
    name: 'step',
    description: 'step: 200 req/s, 8× (1600 req/s) from minute 10 to 40, back to 200',
    duration: '60m',
    traffic: { shape: { kind: 'steps', steps: [{ at: '0s', rps: 200 }, { at: '10m', rps: 1600 }, { at: '40m', rps: 200 }] } },
  },
  {
    ...PLAN_BASE,
    name: 'burst',
    description: 'burst: 500 req/s with 3× bursts for 60 s at minutes 10, 22, 34 and 46',
    duration: '60m',
    traffic: { shape: { kind: 'bursts', baseRps: 500, factor: 3, duration: '60s', at: ['10m', '22m', '34m', '46m'] } },
  },
  {
    ...PLAN_BASE,
    name: 'diurnal',
    description: 'diurnal: a day compressed into 2 h, 100 req/s at night to 7000 req/s at noon (100+ replicas)',
    duration: '2h',
    traffic: { shape: { kind: 'diurnal', minRps: 100, maxRps: 7000, period: '2h' } },
  },

  {
    ...PLAN_BASE,
    name: 'hybrid',
    description:
      'hybrid: three teams share 6 on-prem GPU nodes and an elastic cloud pool ($16/h against $12/h, 2 min to provision) — chat (priority 100) and search (priority 50) on diurnal traffic peaking 40 min apart, research embeddings (priority 10, at most 8 cloud GPUs) in 5-minute bursts — under in-order and on-prem-first placement',
    duration: '2h',
    pools: [
      { name: 'onprem-a100', accelerator: 'gpu', class: 'on-prem', replicasPerNode: 4, gpusPerNode: 4, costPerHour: 12, minNodes: 6, maxNodes: 6 },
      { name: 'cloud-a100', accelerator: 'gpu', class: 'elastic', replicasPerNode: 4, gpusPerNode: 4, costPerHour: 16, minNodes: 0, maxNodes: 20, provisioningDelay: { mean: '120s', jitter: '30s' } },
    ],
    scaling: { ...PLAN_BASE.scaling, maxReplicas: 40 },
    services: [
      { name: 'chat', team: 'product', priority: 100, traffic: { shape: { kind: 'diurnal', minRps: 100, maxRps: 900, period: '2h', peakAt: '60m' } } },
      { name: 'search', team: 'search', priority: 50, traffic: { shape: { kind: 'diurnal', minRps: 100, maxRps: 700, period: '2h', peakAt: '100m' } } },
      { name: 'embeddings', team: 'research', priority: 10, traffic: { shape: { kind: 'bursts', baseRps: 150, factor: 3, duration: '5m', at: ['20m', '50m', '80m', '105m'] } } },
    ],
    placement: ['in-order', 'on-prem-first'],
    quotas: [{ team: 'research', maxGpus: 8, poolClass: 'elastic' }],
  },
  {
    ...PLAN_BASE,
    name: 'llm',
    description:
      'llm: a chat/completion service on the plan cluster — 100 req/s on average, from minute 5 times a lognormal factor drawn every minute (σ 0.5: some minutes 2–3× the mean), tokens per request lognormal (in: median 300, p99 3000; out: median 200, p99 1200), service time 250 ms + 0.1 ms per token in + 6 ms per token out, 16 requests per replica at once, p95 SLO 8 s',
    duration: '60m',
    slo: { latencyP95Ms: 8000, coldStartMs: 80_000 },
    service: {
      serviceTime: { meanMs: 250, p95Ms: 300 },
      perToken: { inMs: 0.1, outMs: 6 },
      concurrency: 16,
      coldStart: { imagePull: { mean: '30s', jitter: '10s' }, modelLoad: { mean: '40s', jitter: '10s' } },
      cpu: { idle: 0.05, atFullLoad: 0.9 },
    },
    scaling: { ...PLAN_BASE.scaling, targetConcurrency: 12 },
    traffic: {
      shape: { kind: 'constant', rps: 100 },
      rateNoise: { every: '1m', sigma: 0.5, from: '5m' },
      tokens: { in: { median: 300, p99: 3000, max: 16_384 }, out: { median: 200, p99: 1200, max: 4096 } },
    },
  },
  {
    ...PLAN_BASE,
    name: 'multiday',
    description:
      'multiday: four days, each compressed into 3 h, from 5 req/s at night to 120 req/s at noon (each day’s peak within ±10% of that, its curve shifted by up to ±5 min) for a GPU model of 1.2 s a request (40+ replicas at peak), p95 SLO 3 s; the scenario declares its 3 h period to the deciders',
    duration: '12h',
    slo: { latencyP95Ms: 3000, coldStartMs: 40_000 },
    service: { ...PLAN_BASE.service, serviceTime: { meanMs: 1200, p95Ms: 2400 } },
    scaling: { ...PLAN_BASE.scaling, seasonality: { period: '3h' } },
    traffic: { shape: { kind: 'diurnal', minRps: 5, maxRps: 120, period: '3h', variation: { peak: 0.1, shift: '5m' } } },
  },
];

export const BUILT_IN_NAMES = BUILT_IN_SCENARIOS.map((s) => s.name);

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || '(root)';
}

/** Validates a scenario document; throws ScenarioError listing every problem with its path. */
export function parseScenario(raw: unknown, source: string): ScenarioDocument {
  const parsed = ScenarioSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const errors = parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
  throw new ScenarioError(`${source}: invalid scenario:\n${errors.map((e) => `  ${e.path}: ${e.message}`).join('\n')}`, errors);
}

/** Turns a validated document into milliseconds, reading a replay file relative to `baseDir`. */
export function resolveScenario(doc: ScenarioDocument, baseDir: string, source: string): Scenario {
  const services = doc.services?.map((v, i) => ({
    name: v.name,
    team: v.team ?? v.name,
    priority: v.priority,
    traffic: resolveTraffic(doc, v.traffic, baseDir, source, `services[${i}].traffic`),
  }));
  const traffic = services ? services[0]!.traffic : resolveTraffic(doc, doc.traffic!, baseDir, source, 'traffic');
  let durationMs: number;
  if (doc.duration !== undefined) durationMs = ms(doc.duration);
  else if (traffic.kind === 'replay') durationMs = Math.max(...(services ?? [{ traffic }]).map((v) => replayEndMs(v.traffic)));
  else throw new ScenarioError(`${source}: duration: is required with a traffic shape (e.g. duration: 60m)`);
  // Whole seconds keep the per-second bookkeeping exact.
  durationMs = Math.ceil(durationMs / 1000) * 1000;
  const s = doc.scaling;
  const scaling: Scenario['scaling'] = {
    minReplicas: s.minReplicas,
    maxReplicas: s.maxReplicas,
    targetConcurrency: s.targetConcurrency,
    targetCpuUtilization: s.targetCpuUtilization,
    scaleToZeroAfterMs: ms(s.scaleToZeroAfter),
    stabilization: s.stabilization,
  };
  if (s.initialReplicas !== undefined) scaling.initialReplicas = s.initialReplicas;
  if (s.seasonality !== undefined) scaling.seasonalPeriodMs = ms(s.seasonality.period);
  const service: Scenario['service'] = {
    serviceTime: doc.service.serviceTime,
    concurrency: doc.service.concurrency,
    coldStart: { imagePull: delayOf(doc.service.coldStart.imagePull), modelLoad: delayOf(doc.service.coldStart.modelLoad) },
    cpu: doc.service.cpu,
  };
  if (doc.service.perToken) service.perToken = doc.service.perToken;
  const scenario: Scenario = {
    name: doc.name,
    description: doc.description,
    seed: doc.seed,
    durationMs,
    slo: doc.slo,
    pools: doc.pools.map((p) => {
      const pool: Scenario['pools'][number] = {
        name: p.name,
        accelerator: p.accelerator,
        class: poolClass(p),
        replicasPerNode: p.replicasPerNode,
        costPerHour: p.costPerHour,
        minNodes: p.minNodes,
        maxNodes: p.maxNodes,
        provisioningDelay: delayOf(p.provisioningDelay),
      };
      if (p.initialNodes !== undefined) pool.initialNodes = p.initialNodes;
      if (p.gpusPerNode !== undefined) pool.gpusPerNode = p.gpusPerNode;
      return pool;
    }),
    service,
    gateway: { maxQueue: doc.gateway.maxQueue, timeoutMs: ms(doc.gateway.timeout) },
    scaling,
    decisionPeriodsMs: {
      gascl: ms(doc.decisionPeriods.gascl),
      'hpa-cpu': ms(doc.decisionPeriods['hpa-cpu']),
      'hpa-service': ms(doc.decisionPeriods['hpa-service']),
      'keda-queue': ms(doc.decisionPeriods['keda-queue']),
    },
    windows: { stableMs: ms(doc.windows.stable), panicMs: ms(doc.windows.panic) },
    clusterAutoscaler: {
      scanIntervalMs: ms(doc.clusterAutoscaler.scanInterval),
      pendingForMs: ms(doc.clusterAutoscaler.pendingFor),
      emptyForMs: ms(doc.clusterAutoscaler.emptyFor),
    },
    oscillationWindowMs: ms(doc.oscillationWindow),
    traffic,
    placements: Array.isArray(doc.placement) ? doc.placement : [doc.placement],
    quotas: doc.quotas.map((q) => {
      const quota: Scenario['quotas'][number] = { team: q.team };
      if (q.maxReplicas !== undefined) quota.maxReplicas = q.maxReplicas;
      if (q.maxGpus !== undefined) quota.maxGpus = q.maxGpus;
      if (q.poolClass !== undefined) quota.poolClass = q.poolClass;
      return quota;
    }),
  };
  if (services) scenario.services = services;
  return scenario;
}

/** A replayed trace's length, in whole seconds past its last arrival. */
function replayEndMs(traffic: TrafficConfig): number {
  return traffic.kind === 'replay' ? (Math.floor((traffic.times[traffic.times.length - 1] ?? 0) / 1000) + 1) * 1000 : 0;
}

function resolveTraffic(doc: ScenarioDocument, given: NonNullable<ScenarioDocument['traffic']>, baseDir: string, source: string, path: string): TrafficConfig {
  if (given.shape) {
    const out: TrafficConfig = { kind: 'shape', shape: given.shape };
    if (given.rateNoise) out.rateNoise = { everyMs: ms(given.rateNoise.every), sigma: given.rateNoise.sigma, fromMs: ms(given.rateNoise.from) };
    if (given.tokens) out.tokens = generatedTokens(doc, given.tokens);
    return out;
  }
  const replay = given.replay!;
  const file = resolve(baseDir, replay.file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ScenarioError(`${source}: ${path}.replay.file: cannot read ${file}; give a CSV of arrival times relative to the scenario file`);
  }
  let trace;
  try {
    trace = parseArrivalCsv(text, replay.file);
  } catch (err) {
    if (err instanceof TraceFormatError) throw new ScenarioError(`${source}: ${path}.replay.file: ${err.message}`);
    throw err;
  }
  const n = trace.arrivals.length;
  const first = trace.arrivals[0]!.t;
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) times[i] = (trace.arrivals[i]!.t - first) * 1000 * replay.timeScale;
  const work = replayWork(doc, trace.fieldNames, trace.arrivals, replay.file, source, path);
  const out: TrafficConfig = { kind: 'replay', times, source: replay.file, timeScale: replay.timeScale };
  if (work) out.work = work;
  return out;
}

/**
 * Per-request work relative to an average request: a `work` column as is, or
 * tokens_in / tokens_out through `service.perToken` (service time = meanMs +
 * tokens × per-token ms, before noise). Undefined when every request is average.
 */
function replayWork(
  doc: ScenarioDocument,
  fields: string[],
  arrivals: ReadonlyArray<{ fields?: Record<string, number | string> }>,
  file: string,
  source: string,
  path: string,
): Float64Array | undefined {
  const hasWork = fields.includes('work');
  const hasTokens = fields.includes('tokens_in') || fields.includes('tokens_out');
  if (!hasWork && !hasTokens) return undefined;
  if (!hasWork && !doc.service.perToken) {
    throw new ScenarioError(`${source}: service.perToken: is required to use the tokens_in/tokens_out columns of ${file} (e.g. perToken: { inMs: 0.05, outMs: 8 })`);
  }
  const mean = doc.service.serviceTime.meanMs;
  const per = doc.service.perToken ?? { inMs: 0, outMs: 0 };
  const work = new Float64Array(arrivals.length);
  arrivals.forEach((a, i) => {
    const f = a.fields ?? {};
    const number = (name: string): number => {
      const v = f[name] ?? 0;
      if (typeof v !== 'number' || !(v >= 0)) throw new ScenarioError(`${source}: ${path}.replay.file: ${file}: row ${i + 1}: ${name} must be a number ≥ 0, got "${String(v)}"`);
      return v;
    };
    work[i] = hasWork ? number('work') : tokenWork({ baseMs: mean, ...per }, number('tokens_in'), number('tokens_out'));
  });
  return work;
}

/** Generated tokens: each count's lognormal from its median and p99; the cost per token is the service's, as for a replay. */
function generatedTokens(doc: ScenarioDocument, given: NonNullable<NonNullable<ScenarioDocument['traffic']>['tokens']>): GeneratedTokens {
  const per = doc.service.perToken!;
  const out: GeneratedTokens = { baseMs: doc.service.serviceTime.meanMs, inMs: per.inMs, outMs: per.outMs };
  const dist = (t: { median: number; p99: number; max?: number | undefined }) => ({ mu: Math.log(t.median), sigma: Math.log(t.p99 / t.median) / normalQuantile(0.99), max: t.max ?? Infinity });
  if (given.in) out.in = dist(given.in);
  if (given.out) out.out = dist(given.out);
  return out;
}

/** A built-in scenario by name, resolved. */
export function builtInScenario(name: string, seed?: number): Scenario {
  const input = BUILT_IN_SCENARIOS.find((s) => s.name === name);
  if (!input) throw new ScenarioError(`unknown scenario "${name}"; the built-in ones are ${BUILT_IN_NAMES.join(', ')}`);
  const doc = parseScenario(seed === undefined ? input : { ...input, seed }, `built-in scenario ${name}`);
  return resolveScenario(doc, process.cwd(), name);
}

/** Scenarios from a YAML (or JSON) file: one document per scenario. */
export function loadScenarioFile(path: string, seed?: number): Scenario[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ScenarioError(`${path}: cannot read the scenario file`);
  }
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const scenarios: Scenario[] = [];
  list.forEach((doc, i) => {
    const where = list.length > 1 ? `${path} (document ${i + 1})` : path;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const at = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
      throw new ScenarioError(`${where}: invalid YAML${at}: ${e.message.split('\n')[0]}`);
    }
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) return;
    const withSeed = seed !== undefined && typeof raw === 'object' && !Array.isArray(raw) ? { ...(raw as object), seed } : raw;
    scenarios.push(resolveScenario(parseScenario(withSeed, where), dirname(resolve(path)), where));
  });
  if (scenarios.length === 0) throw new ScenarioError(`${path}: no scenario in the file`);
  return scenarios;
}
