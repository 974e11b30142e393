/**
 * A revision as a Deployment: pure, from the runtime's RevisionTemplate (the same one the local
 * runtime turns into processes) and a replica count. A revision is immutable, so its pod template
 * never changes once applied; only `replicas` moves.
 */
import { InvalidRequestError } from '../../errors.ts';
import { poolClass, poolNodeSelector, type Pool } from '../../api/pool.ts';
import type { RevisionTemplate } from '../types.ts';
import { fillPort } from '../port.ts';
import { LABEL_POOL, PLACEMENT_GATE, revisionLabels, revisionSelector } from './labels.ts';
import { modelSource, type ModelSource } from './model-source.ts';
import { PRE_STOP_SECONDS, SERVING_PORT, type ClusterOptions } from './options.ts';
import { restrictedContainerSecurity, restrictedPodSecurity } from './security.ts';

type Obj = Record<string, unknown>;

const DEFAULT_DRAIN_SECONDS = 30;
const BUILTIN_READINESS_PATH = '/v2/health/ready';
const BUILTIN_LIVENESS_PATH = '/v2/health/live';

/** The Secret an `s3://` fetcher reads its credentials from: `<service>-model-credentials`. */
export function modelCredentialsSecret(service: string): string {
  return `${service}-model-credentials`;
}

/** The extended resource an accelerator request becomes: the whole device, its time-sliced share, or a MIG profile. */
export function acceleratorResource(accelerator: { kind: string; sharing: string }): string {
  if (accelerator.sharing === 'none') return accelerator.kind;
  if (accelerator.sharing === 'time-slice') return `${accelerator.kind}.shared`;
  const domain = accelerator.kind.includes('/') ? accelerator.kind.slice(0, accelerator.kind.indexOf('/')) : 'nvidia.com';
  return `${domain}/${accelerator.sharing}`;
}

export function buildDeployment(t: RevisionTemplate, replicas: number, options: ClusterOptions, userLabels: Record<string, string> = {}): Obj {
  const labels = revisionLabels(t.service, t.revision, userLabels);
  const security = restrictedContainerSecurity();
  const source: ModelSource = t.model.uri
    ? modelSource(t.model.uri, { fetcherImage: options.modelFetcherImage, credentialsSecret: modelCredentialsSecret(t.service), securityContext: security })
    : { path: '', volumes: [], volumeMounts: [], initContainers: [] };
  const builtin = t.model.command === undefined;
  if (!builtin && !t.model.image) {
    throw new InvalidRequestError(
      `spec.model.image: a custom command needs the image it runs in on Kubernetes (e.g. image: ghcr.io/acme/my-server:1.0)`,
      { code: 'MODEL_IMAGE_REQUIRED', status: 422 },
    );
  }
  if (builtin && !t.model.uri) {
    throw new InvalidRequestError('spec.model.uri: the built-in server needs the model, e.g. uri: pvc://models/fraud-v1.onnx', { code: 'MODEL_URI_REQUIRED', status: 422 });
  }
  const drainSeconds = t.drainSeconds ?? DEFAULT_DRAIN_SECONDS;
  const readinessPath = t.model.readinessPath ?? BUILTIN_READINESS_PATH;

  const container: Obj = {
    name: 'model-server',
    image: t.model.image ?? options.image,
    ...(builtin ? { args: builtinArgs(t, source.path) } : { command: fillPort(t.model.command!, SERVING_PORT) }),
    ports: [{ name: 'http', containerPort: SERVING_PORT, protocol: 'TCP' }],
    env: containerEnv(t),
    resources: containerResources(t),
    readinessProbe: { httpGet: { path: readinessPath, port: 'http' }, periodSeconds: 2, failureThreshold: 2, timeoutSeconds: 2 },
    // A model loads before it listens: the startup probe gives it two minutes before liveness counts.
    startupProbe: { ...liveness(builtin), periodSeconds: 2, failureThreshold: 60 },
    livenessProbe: { ...liveness(builtin), periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 2 },
    lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
    volumeMounts: [...source.volumeMounts, { name: 'tmp', mountPath: '/tmp' }],
    securityContext: security,
  };

  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: t.revision, namespace: t.namespace, labels },
    spec: {
      replicas,
      revisionHistoryLimit: 1,
      selector: { matchLabels: revisionSelector(t.revision) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: t.service,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: restrictedPodSecurity(),
          terminationGracePeriodSeconds: drainSeconds + PRE_STOP_SECONDS,
          ...podPlacement(t, options.pools ?? []),
          ...(source.initContainers.length ? { initContainers: source.initContainers } : {}),
          containers: [container],
          volumes: [...source.volumes, { name: 'tmp', emptyDir: {} }],
        },
      },
    },
  };
}

function builtinArgs(t: RevisionTemplate, modelPath: string): string[] {
  const args = ['serve', '--model', modelPath, '--name', t.model.name, '--port', String(SERVING_PORT), '--host', '0.0.0.0'];
  if (t.model.format === 'openai') args.push('--openai');
  else if (t.model.batching) args.push('--max-batch-size', String(t.model.batching.maxBatchSize), '--max-delay-ms', String(t.model.batching.maxDelayMs));
  if (t.model.digest !== undefined) args.push('--model-digest', t.model.digest);
  // Drift: the reference is the one beside the model in its volume (`reference` names a file of karb up's models root).
  const drift = t.model.drift;
  if (drift?.reference !== undefined) {
    throw new InvalidRequestError(
      `spec.model.drift.reference: ${drift.reference} is a file of karb up's models root; on a cluster, put the reference beside the model in its volume (e.g. fraud-v1.reference.json next to fraud-v1.onnx), where karb serve finds it, and leave reference out`,
      { code: 'DRIFT_REFERENCE_UNSUPPORTED', status: 422 },
    );
  }
  if (drift?.learnRows !== undefined) args.push('--drift-learn-rows', String(drift.learnRows));
  if (drift?.windowRows !== undefined) args.push('--drift-window-rows', String(drift.windowRows));
  if (drift?.maxColumns !== undefined) args.push('--drift-max-columns', String(drift.maxColumns));
  return args;
}

function liveness(builtin: boolean): Obj {
  return builtin ? { httpGet: { path: BUILTIN_LIVENESS_PATH, port: 'http' } } : { tcpSocket: { port: 'http' } };
}

/** karb's identity variables, then the spec's own env in name order (so the object is the same on every build). */
function containerEnv(t: RevisionTemplate): Obj[] {
  const env: Obj[] = [
    { name: 'PORT', value: String(SERVING_PORT) },
    { name: 'KARB_NAMESPACE', value: t.namespace },
    { name: 'KARB_SERVICE', value: t.service },
    { name: 'KARB_REVISION', value: t.revision },
    { name: 'KARB_REPLICA', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ];
  const reserved = new Set(env.map((e) => e.name));
  for (const [name, value] of Object.entries(t.model.env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!reserved.has(name)) env.push({ name, value });
  }
  return env;
}

/** A replica's container requests and limits (an accelerator as its extended resource); a capacity reservation's placeholder requests the same. */
export function containerResources(t: Pick<RevisionTemplate, 'resources'>): Obj {
  const { requests, limits, accelerator } = t.resources;
  const req: Record<string, string> = {};
  const lim: Record<string, string> = {};
  for (const kind of ['cpu', 'memory'] as const) {
    if (requests[kind] !== undefined) req[kind] = String(requests[kind]);
    if (limits[kind] !== undefined) lim[kind] = String(limits[kind]);
  }
  if (accelerator) {
    // Extended resources are requested in limits; the scheduler takes requests equal to them.
    const name = acceleratorResource(accelerator);
    req[name] = String(accelerator.count);
    lim[name] = String(accelerator.count);
  }
  return { requests: req, limits: lim };
}

/**
 * Whether a service naming these pools is placed by karb rather than by the scheduler's
 * preferences alone: it names a declared on-prem pool and a declared elastic one, so a replica
 * could spill to paid-for cloud nodes. Its pods start behind the scheduling gate PLACEMENT_GATE.
 */
export function placementGated(poolNames: readonly string[], declared: readonly Pool[]): boolean {
  const classes = new Set(poolNames.map((name) => declared.find((d) => d.name === name)).filter((p) => p !== undefined).map(poolClass));
  return classes.has('on-prem') && classes.has('elastic');
}

/**
 * Where the pods may run. Named pools become a required node affinity (any of them: one term per
 * pool, from its declared node selector, or the label karb.dev/pool) and a preferred one that
 * weighs them in the order named (100, 50, 25, …), so the scheduler fills the first pool first;
 * the pods tolerate the named pools' taints, and an accelerator's own taint. Naming an on-prem
 * and an elastic pool, the pods are also gated: karb controller gives each its pool (on-prem
 * first, elastic only while the SLO is at risk) before the scheduler sees it.
 */
export function podPlacement(t: Pick<RevisionTemplate, 'placement' | 'resources'>, declared: readonly Pool[]): Obj {
  const out: Obj = {};
  const p = t.placement;
  if (p && Object.keys(p.nodeSelector).length > 0) out.nodeSelector = { ...p.nodeSelector };
  const pools = (p?.pools ?? []).map((name, i) => namedPool(name, i, declared, t));
  if (pools.length > 0) {
    const term = (pool: NamedPool) => ({ matchExpressions: Object.entries(pool.selector).map(([key, value]) => ({ key, operator: 'In', values: [value] })) });
    out.affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: pools.map(term) },
        ...(pools.length > 1 ? { preferredDuringSchedulingIgnoredDuringExecution: pools.map((pool, i) => ({ weight: Math.max(1, 100 >> i), preference: term(pool) })) } : {}),
      },
    };
  }
  const tolerations: Obj[] = (p?.tolerations ?? []).map((x) => Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)));
  const tolerate = (x: { key: string; value?: string | undefined; effect: string }) => {
    // Already tolerated: the same key, any value (Exists) or this one, and this effect or all.
    if (tolerations.some((y) => y.key === x.key && (y.effect === undefined || y.effect === x.effect) && (y.operator === 'Exists' || y.value === x.value))) return;
    tolerations.push(x.value === undefined ? { key: x.key, operator: 'Exists', effect: x.effect } : { key: x.key, operator: 'Equal', value: x.value, effect: x.effect });
  };
  for (const pool of pools) for (const taint of pool.taints) tolerate(taint);
  const accelerator = t.resources.accelerator;
  if (accelerator) tolerate({ key: accelerator.kind, effect: 'NoSchedule' });
  if (tolerations.length > 0) out.tolerations = tolerations;
  if (placementGated(p?.pools ?? [], declared)) out.schedulingGates = [{ name: PLACEMENT_GATE }];
  return out;
}

interface NamedPool {
  selector: Record<string, string>;
  taints: ReadonlyArray<{ key: string; value?: string | undefined; effect: string }>;
}

/** A pool a service names: declared ones by their nodes' labels; with none declared, by karb.dev/pool. */
function namedPool(name: string, index: number, declared: readonly Pool[], t: Pick<RevisionTemplate, 'resources'>): NamedPool {
  if (declared.length === 0) return { selector: { [LABEL_POOL]: name }, taints: [] };
  const pool = declared.find((d) => d.name === name);
  if (pool === undefined) {
    throw new InvalidRequestError(`spec.placement.pools[${index}]: no pool named ${name}; the declared pools are ${declared.map((d) => d.name).join(', ')}`, { code: 'POOL_NOT_FOUND', status: 422 });
  }
  if (t.resources.accelerator && pool.accelerator === 'cpu') {
    throw new InvalidRequestError(
      `spec.placement.pools[${index}]: pool ${name} has no accelerators, but spec.resources.accelerator asks for ${t.resources.accelerator.kind}; name a GPU pool`,
      { code: 'POOL_HAS_NO_ACCELERATOR', status: 422 },
    );
  }
  return { selector: poolNodeSelector(pool), taints: pool.kubernetes.taints };
}
