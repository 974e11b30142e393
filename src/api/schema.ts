/**
 * The InferenceService resource (karb.dev/v1alpha1): the single source for its
 * TypeScript types, defaults, validation messages and the CRD's JSON Schema.
 * Everything else imports the types from here; nothing redeclares them.
 */
import { z } from 'zod';
import { CPU_PATTERN, DURATION_PATTERN, MEMORY_PATTERN, parseCpu, parseDuration, parseMemory } from './quantity.ts';
import { DNS_LABEL_PATTERN } from '../util/flags.ts';
import { MODEL_DIGEST_FORMAT, MODEL_DIGEST_PATTERN } from './model-digest.ts';

export const API_VERSION = 'karb.dev/v1alpha1';
export const KIND = 'InferenceService';

/** Revision names append `-00001`, so service names leave room for six characters. */
export const MAX_NAME_LENGTH = 57;
// Bounds on lists keep the API server's cost estimate of the CRD's CEL rules within its budget.
const MAX_ROLLOUT_STEPS = 20;
const MAX_FALLBACKS = 16;

const name = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`)
  .regex(DNS_LABEL_PATTERN, 'must be lowercase letters, digits and "-", starting and ending with a letter or digit (e.g. fraud-detector)');

// The patterns travel as metadata into the JSON Schema (and so into the CRD, where the API server
// checks them); the refinements are what karb itself checks, with its own messages.
const duration = z
  .string()
  .refine((v) => parseDuration(v) !== undefined, { message: 'must be a duration such as 500ms, 30s, 5m or 1h' })
  .meta({ pattern: DURATION_PATTERN.source });

/** A quantity may be written as a number; in the CRD it is an int-or-string, as Kubernetes writes quantities. */
const cpu = z
  .union([z.string(), z.number()])
  .refine((v) => parseCpu(v) !== undefined, { message: 'must be a CPU quantity such as "1", "2.5" or "500m"' })
  .meta({ pattern: CPU_PATTERN.source, 'x-kubernetes-int-or-string': true });

const memory = z
  .union([z.string(), z.number()])
  .refine((v) => parseMemory(v) !== undefined, { message: 'must be a memory quantity such as "512Mi" or "2Gi"' })
  .meta({ pattern: MEMORY_PATTERN.source, 'x-kubernetes-int-or-string': true });

const labels = z.record(
  z.string().regex(/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'must be a valid label key (e.g. team or karb.dev/tier)'),
  z.string().max(63, 'must be at most 63 characters'),
);

export const ModelFormat = z.enum(['onnx', 'openai', 'oip']);

const batching = z.strictObject({
  maxBatchSize: z.int().min(1).max(4096).default(32),
  maxDelayMs: z.number().min(0).max(10_000).default(4),
});

/**
 * Drift of the served model's inputs (built-in ONNX server). Every field is optional and has no
 * default here, so a spec without `drift` keeps its revision; what applies when unset is said per field.
 */
const drift = z.strictObject({
  /** Reference distribution; unset: `<model>.reference.json` beside the model, else learned from the first rows served. */
  reference: z
    .string()
    .regex(/^file:\/\/.+\.json$/, 'must be a file:// URI of a drift reference JSON file, e.g. file://models/fraud-v1.reference.json (node scripts/make-models.ts writes one beside each fraud model)')
    .optional(),
  /** Rows to learn the reference from when there is no file (1000 when unset). */
  learnRows: z.int('must be a whole number of rows, e.g. 1000').min(10, 'must be at least 10 rows; a reference needs enough rows to cut bins (1000 is typical)').max(1_000_000, 'must be at most 1000000 rows').optional(),
  /**
   * Recent rows the statistics cover at most (2000 when unset). The window keeps between half of
   * this and all of it, and drift is judged once it holds 200 rows (DEFAULT_MIN_ROWS in
   * src/observability/drift/verdict.ts): below 400 the Drift condition would stay or fall back Unknown.
   */
  windowRows: z
    .int('must be a whole number of rows, e.g. 2000')
    .min(400, 'must be at least 400 rows: the window keeps as few as half of them, and drift is judged only from 200 rows (2000 is typical)')
    .max(10_000_000, 'must be at most 10000000 rows')
    .optional(),
  /**
   * Columns watched at most, inputs first (256 when unset). Each costs work per row and three
   * metric series per replica, so a wide input (embeddings, pixels) is capped unless asked.
   */
  maxColumns: z
    .int('must be a whole number of columns, e.g. 256')
    .min(1, 'must be at least 1 column')
    .max(65_536, 'must be at most 65536 columns (each costs three metric series per replica)')
    .optional(),
  /** PSI past which a feature has drifted: the Drift condition (0.25 when unset; 0.1 is the common "watch" level). Judged by the control plane: changing it makes no revision. */
  threshold: z.number('must be a number such as 0.25').gt(0, 'must be greater than 0 (0.1 watch, 0.25 drift are the common levels)').max(10, 'must be at most 10 (0.1 watch, 0.25 drift are the common levels)').optional(),
});

const model = z.strictObject({
  /** onnx: karb's built-in server; openai / oip: any server speaking that protocol, started by `command` (openai with a uri and no command: the built-in server's OpenAI mode). */
  format: ModelFormat.default('onnx'),
  /** file:// (embedded) or pvc://, s3://, oci:// (kubernetes). */
  uri: z
    .string()
    .regex(/^(file|pvc|s3|oci):\/\/.+/, 'must be a URI such as file://models/fraud-v1.onnx, pvc://claim/path, s3://bucket/key or oci://registry/repo:tag')
    .optional(),
  /**
   * The model file's SHA-256 (`sha256:<hex>`). The built-in server checks the file against it before
   * loading and exits, serving nothing, when they differ; a custom `command` server is not given it.
   */
  digest: z.string().regex(MODEL_DIGEST_PATTERN, MODEL_DIGEST_FORMAT).optional(),
  /** Container image (kubernetes runtime only). */
  image: z.string().min(1).optional(),
  /** Argv of a custom model server; `$PORT` is replaced with the port to listen on. */
  command: z.array(z.string()).min(1, 'must name the program to run').optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name'), z.string()).optional(),
  /** Path answering 200 once a custom server can take traffic. */
  readinessPath: z.string().startsWith('/', 'must start with "/"').optional(),
  batching: batching.prefault({}),
  /** Drift of inputs and outputs against a reference (built-in ONNX server); see docs/observability.md. */
  drift: drift.optional(),
});

const accelerator = z.strictObject({
  kind: z.string().min(1).default('nvidia.com/gpu'),
  count: z.int().min(1).max(16).default(1),
  sharing: z.enum(['none', 'time-slice', 'mig-1g.10gb', 'mig-2g.20gb', 'mig-3g.40gb']).default('none'),
});

const resourceList = z.strictObject({ cpu: cpu.optional(), memory: memory.optional() });

const resources = z.strictObject({
  requests: resourceList.prefault({ cpu: '1', memory: '1Gi' }),
  limits: resourceList.prefault({ cpu: '2', memory: '2Gi' }),
  accelerator: accelerator.optional(),
});

const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).default('Equal'),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
});

const placement = z.strictObject({
  pools: z.array(z.string().min(1)).default([]),
  tolerations: z.array(toleration).default([]),
  nodeSelector: z.record(z.string(), z.string()).default({}),
});

const slo = z.strictObject({
  latencyP95Ms: z.number().positive().max(600_000).default(250),
  errorRate: z.number().min(0).max(1).default(0.01),
  coldStartMs: z.number().positive().max(600_000).default(2000),
});

export const ScalingPolicy = z.enum(['gascl', 'hpa-cpu', 'hpa-service', 'keda-queue']);

const scaling = z.strictObject({
  /** KARB treatments: gascl (D), hpa-cpu (A), hpa-service (B), keda-queue (C). */
  policy: ScalingPolicy.default('gascl'),
  minReplicas: z.int().min(0).max(1000).default(1),
  maxReplicas: z.int().min(1).max(1000).default(10),
  /**
   * A fixed replica count that replaces the policy's decisions (kept within min and max): what
   * `kubectl scale` or an HPA aimed at the InferenceService writes through its scale subresource.
   * Remove it to hand scaling back to the policy.
   */
  replicas: z.int().min(0).max(1000).optional(),
  targetConcurrency: z.number().positive().max(10_000).default(8),
  scaleToZeroAfter: duration.default('5m'),
  stabilization: z
    .strictObject({
      upSeconds: z.number().min(0).max(3600).default(0),
      downSeconds: z.number().min(0).max(3600).default(300),
    })
    .prefault({}),
  /**
   * The period the service's traffic repeats over (a day: `24h`, a week: `168h`): GASCL then asks,
   * a cold start and a node's provisioning ahead, for the replicas it needed one period earlier.
   */
  seasonality: z.strictObject({ period: duration.refine((d) => (parseDuration(d) ?? 0) >= 600_000, 'must be at least 10m (e.g. 24h for a daily pattern)') }).optional(),
});

const rolloutStep = z.strictObject({
  weight: z.number().gt(0, 'must be > 0').max(100),
  pause: duration.default('30s'),
});

const analysis = z.strictObject({
  interval: duration.default('10s'),
  minRequests: z.int().min(1).default(50),
  maxErrorRateDelta: z.number().min(0).max(1).default(0.005),
  maxLatencyP95Ratio: z.number().min(1).default(1.2),
  /**
   * Optional: every interval the same OIP v2 request goes to a replica of each
   * revision, and the new revision fails if any output value differs from
   * stable's by more than `maxDelta` (or it does not answer 200 with the same outputs).
   */
  outputCheck: z
    .strictObject({
      request: z
        .record(z.string(), z.unknown())
        .refine((r) => Array.isArray(r.inputs) && r.inputs.length > 0, { message: 'must be an OIP v2 inference request with inputs (e.g. the body of examples/fraud-request.json)' }),
      maxDelta: z.number().min(0).default(0.1),
    })
    .optional(),
});

export const RolloutStrategy = z.enum(['canary', 'blue-green', 'immediate']);

/** The guard after promotion (src/rollout/guard.ts): the SRE workbook's fast-burn page condition, scaled to `window`. */
const guard = z.strictObject({
  /** How long the promoted revision stays watched; 0s turns the guard off. */
  window: z
    .string()
    .refine((v) => parseDuration(v) !== undefined, { message: 'must be a duration such as 10m or 1h, or 0s to turn the guard off' })
    .meta({ pattern: DURATION_PATTERN.source })
    .default('10m'),
  /** Burn rate (bad share / SLO budget) that rolls back when both the window and its last twelfth reach it. */
  burnRate: z.number().min(1, 'must be at least 1 (1 spends the error budget exactly; 14.4 is the usual fast burn)').max(1000, 'must be at most 1000 (14.4 is the usual fast burn)').default(14.4),
  /** Requests each window needs before the guard judges, so a handful of failures cannot roll back. */
  minRequests: z.int().min(1, 'must be at least 1 (e.g. 50)').default(50),
});

const rollout = z.strictObject({
  strategy: RolloutStrategy.default('canary'),
  /** Canary: the new revision's traffic weight at each step and how long it is judged there. */
  steps: z
    .array(rolloutStep)
    .max(MAX_ROLLOUT_STEPS, `must have at most ${MAX_ROLLOUT_STEPS} steps`)
    .default([
      { weight: 10, pause: '30s' },
      { weight: 50, pause: '60s' },
    ]),
  analysis: analysis.prefault({}),
  /** Share of the other revisions' requests copied to the new revision, answers discarded (0 = off). */
  mirrorPercent: z.number().min(0).max(100).default(0),
  /** Blue-green: how long the full-capacity preview is judged before the switch. */
  previewFor: duration.default('60s'),
  /** The new revision must be ready within this time (at start, and at full capacity before promotion). */
  progressDeadline: duration.default('10m'),
  /** A failed canary keeps its replicas this long; after a blue-green switch the previous revision stays warm this long. */
  scaleDownDelay: duration.default('30s'),
  /** Revisions kept in history besides those running. */
  revisionHistoryLimit: z.int().min(1).max(1000).default(10),
  /** After a rollout succeeds, a fast SLO burn by the new revision within `window` rolls back to the previous one. */
  guard: guard.prefault({}),
});

const traffic = z.strictObject({
  rateLimit: z
    .strictObject({
      requestsPerSecond: z.number().positive(),
      burst: z.int().positive().optional(),
    })
    .optional(),
  async: z
    .strictObject({
      enabled: z.boolean().default(false),
      maxQueued: z.int().positive().default(10_000),
      ttl: duration.default('10m'),
    })
    .prefault({}),
  fallback: z.array(name).max(MAX_FALLBACKS, `must name at most ${MAX_FALLBACKS} services`).default([]),
});

const condition = z.strictObject({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
});

/** Written by karb only; accepted on input (e.g. `karb get -o yaml | karb apply -f -`) and ignored. */
const status = z
  .object({
    conditions: z.array(condition).optional(),
    revisions: z
      .array(z.object({ name: z.string(), ready: z.number(), desired: z.number(), traffic: z.number() }))
      .optional(),
    /** Rollout mirroring: this share of the other revisions' requests is copied to `revision`. */
    mirror: z.object({ revision: z.string(), percent: z.number() }).optional(),
    latestRevision: z.string().optional(),
    stableRevision: z.string().optional(),
    rollout: z.record(z.string(), z.unknown()).optional(),
    observedGeneration: z.number().optional(),
  })
  .loose();

const metadata = z.strictObject({
  name,
  namespace: name.default('default'),
  labels: labels.default({}),
  annotations: z.record(z.string(), z.string()).default({}),
  // Server-set fields, accepted so that `get -o yaml` output can be applied again.
  uid: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().optional(),
  resourceVersion: z.string().optional(),
});

export const InferenceServiceSpec = z
  .strictObject({
    model,
    resources: resources.prefault({}),
    placement: placement.prefault({}),
    slo: slo.prefault({}),
    scaling: scaling.prefault({}),
    rollout: rollout.prefault({}),
    traffic: traffic.prefault({}),
  })
  .superRefine((spec, ctx) => {
    const { scaling: s, model: m, rollout: r, resources: res } = spec;
    if (s.maxReplicas < s.minReplicas) {
      ctx.addIssue({
        code: 'custom',
        path: ['scaling', 'maxReplicas'],
        message: `must be >= minReplicas (got ${s.maxReplicas} < ${s.minReplicas})`,
      });
    }
    if (m.format === 'onnx' && !m.uri && !m.command) {
      ctx.addIssue({
        code: 'custom',
        path: ['model', 'uri'],
        message: 'is required for format onnx (e.g. uri: file://models/fraud-v1.onnx), unless a custom command serves the model',
      });
    }
    // format openai with a uri and no command: karb's built-in server serves the language model.
    if (m.format !== 'onnx' && !m.command && !m.image && !(m.format === 'openai' && m.uri)) {
      ctx.addIssue({
        code: 'custom',
        path: ['model', 'command'],
        message: `is required for format ${m.format}: name the server to run (e.g. command: [vllm, serve, ..., --port, $PORT]) or an image for kubernetes${m.format === 'openai' ? ', or a uri: file://models/tiny-lm.onnx for the built-in server' : ''}`,
      });
    }
    for (let i = 1; i < r.steps.length; i++) {
      const prev = r.steps[i - 1]!.weight;
      const cur = r.steps[i]!.weight;
      if (cur <= prev) {
        ctx.addIssue({
          code: 'custom',
          path: ['rollout', 'steps', i, 'weight'],
          message: `must be greater than the previous step's weight (got ${cur} after ${prev})`,
        });
      }
    }
    for (const kind of ['cpu', 'memory'] as const) {
      const parse = kind === 'cpu' ? parseCpu : parseMemory;
      const req = res.requests[kind];
      const lim = res.limits[kind];
      if (req !== undefined && lim !== undefined && parse(req)! > parse(lim)!) {
        ctx.addIssue({
          code: 'custom',
          path: ['resources', 'limits', kind],
          message: `must be >= resources.requests.${kind} (got ${lim} < ${req})`,
        });
      }
    }
  });

export const InferenceServiceSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `must be ${API_VERSION}` }),
  kind: z.literal(KIND, { error: `must be ${KIND}` }),
  metadata,
  spec: InferenceServiceSpec,
  status: status.optional(),
});

/** As written by a user (defaults optional). */
export type InferenceServiceInput = z.input<typeof InferenceServiceSchema>;
/** After validation: every default filled in. */
export type InferenceService = z.output<typeof InferenceServiceSchema>;
export type InferenceServiceSpec = InferenceService['spec'];
export type InferenceServiceStatus = NonNullable<InferenceService['status']>;
export type ModelSpec = InferenceServiceSpec['model'];
export type DriftSpec = NonNullable<ModelSpec['drift']>;
export type ScalingSpec = InferenceServiceSpec['scaling'];
export type RolloutSpec = InferenceServiceSpec['rollout'];
export type AnalysisSpec = RolloutSpec['analysis'];
export type SloSpec = InferenceServiceSpec['slo'];
export type Condition = z.output<typeof condition>;
