/**
 * Team quotas on this machine: per namespace, the most its replicas may request in all — the
 * governance file's `spec.quotas`, which a cluster enforces as a ResourceQuota (`requests.cpu`,
 * `requests.memory`, `requests.nvidia.com/gpu`). Pure: the runtime adds up what the namespace's
 * live replicas request and asks here whether one more fits.
 *
 * What counts, as the API server counts pods against a ResourceQuota:
 * - CPU and memory are a replica's `resources.requests`; CPU in whole millicores, rounded up;
 * - GPUs are its accelerator's `count` whatever the sharing: a time-sliced or MIG replica counts
 *   as many as it asks for, as a pod counts the extended resource it requests;
 * - a replica holds its requests from the moment it is started (or adopted) until its process is
 *   gone — Starting, Ready, Crashed (it restarts), Draining — and a Pending one holds nothing;
 * - a resource the replica does not ask for never holds it back, even in a namespace past its
 *   quota of that resource (a quota lowered while replicas run).
 */
import { parseCpu, parseMemory } from '../../api/quantity.ts';
import { InvalidRequestError } from '../../errors.ts';
import type { RevisionTemplate } from '../types.ts';

/** What one namespace's replicas may request in all; a figure left out is not limited. */
export interface NamespaceQuota {
  gpus?: number;
  cpuCores?: number;
  memoryBytes?: number;
}

/** Quotas by namespace; a namespace not named has none. */
export type NamespaceQuotas = Readonly<Record<string, NamespaceQuota>>;

/** What replicas request: CPU in millicores, memory in bytes, whole GPUs. */
export interface ResourceRequests {
  cpuMillicores: number;
  memoryBytes: number;
  gpus: number;
}

export type QuotaDecision = { fits: true } | { fits: false; reason: string };

export const nothingRequested: ResourceRequests = Object.freeze({ cpuMillicores: 0, memoryBytes: 0, gpus: 0 });

type ResourcesSpec = Partial<Pick<RevisionTemplate['resources'], 'requests' | 'limits' | 'accelerator'>>;

/**
 * What each replica of a template requests; a request left out is its limit, as Kubernetes
 * defaults it (so a namespace's quota counts the same here as on a cluster). Throws
 * RUNTIME_INVALID_REQUESTS naming the field when one is no quantity.
 */
export function replicaRequests(where: string, resources: ResourcesSpec | undefined): ResourceRequests {
  const requests = { cpu: resources?.requests?.cpu ?? resources?.limits?.cpu, memory: resources?.requests?.memory ?? resources?.limits?.memory };
  let cpuMillicores = 0;
  if (requests?.cpu !== undefined) {
    const cores = parseCpu(requests.cpu);
    if (cores === undefined) throw invalidRequest(`${where}: resources.requests.cpu '${requests.cpu}' is not a CPU quantity; write e.g. "1" or "500m"`);
    cpuMillicores = millicores(cores);
  }
  let memoryBytes = 0;
  if (requests?.memory !== undefined) {
    const bytes = parseMemory(requests.memory);
    if (bytes === undefined) throw invalidRequest(`${where}: resources.requests.memory '${requests.memory}' is not a memory quantity; write e.g. "512Mi" or "2Gi"`);
    memoryBytes = Math.ceil(bytes);
  }
  return { cpuMillicores, memoryBytes, gpus: resources?.accelerator?.count ?? 0 };
}

export function sumRequests(all: Iterable<ResourceRequests>): ResourceRequests {
  const sum = { ...nothingRequested };
  for (const r of all) {
    sum.cpuMillicores += r.cpuMillicores;
    sum.memoryBytes += r.memoryBytes;
    sum.gpus += r.gpus;
  }
  return sum;
}

/** Throws RUNTIME_INVALID_QUOTAS naming the namespace and figure when a quota is not a number of 0 or more. */
export function validateQuotas(quotas: NamespaceQuotas): void {
  for (const [namespace, quota] of Object.entries(quotas)) {
    for (const [field, value] of Object.entries(quota)) {
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
        throw new InvalidRequestError(`quotas.${namespace}.${field} must be a number of 0 or more, got ${String(value)}`, { code: 'RUNTIME_INVALID_QUOTAS' });
      }
    }
  }
}

interface Resource {
  /** The ResourceQuota's name of it. */
  name: string;
  /** The governance file's field under spec.quotas.<namespace>. */
  quotaField: string;
  /** The service's field that asks for it. */
  specField: string;
  limit(quota: NamespaceQuota): number | undefined;
  amount(r: ResourceRequests): number;
  format(n: number): string;
}

/** In the order they are checked: the reason names the first that does not fit. */
const RESOURCES: readonly Resource[] = [
  {
    name: 'requests.cpu',
    quotaField: 'cpu',
    specField: 'spec.resources.requests.cpu',
    limit: (q) => (q.cpuCores === undefined ? undefined : millicores(q.cpuCores)),
    amount: (r) => r.cpuMillicores,
    format: formatMillicores,
  },
  {
    name: 'requests.memory',
    quotaField: 'memory',
    specField: 'spec.resources.requests.memory',
    limit: (q) => (q.memoryBytes === undefined ? undefined : Math.ceil(q.memoryBytes)),
    amount: (r) => r.memoryBytes,
    format: formatBytes,
  },
  {
    name: 'requests.nvidia.com/gpu',
    quotaField: 'gpus',
    specField: 'spec.resources.accelerator.count',
    limit: (q) => q.gpus,
    amount: (r) => r.gpus,
    format: String,
  },
];

/**
 * Whether a replica asking `asked` fits in `namespace`'s quota while its live replicas hold
 * `used`; when it does not, the reason names the first resource that does not fit, the quota,
 * what is used and asked, and what to change.
 */
export function quotaFits(namespace: string, quota: NamespaceQuota | undefined, used: ResourceRequests, asked: ResourceRequests): QuotaDecision {
  if (quota === undefined) return { fits: true };
  for (const resource of RESOURCES) {
    const limit = resource.limit(quota);
    const ask = resource.amount(asked);
    if (limit === undefined || ask === 0) continue;
    const inUse = resource.amount(used);
    if (inUse + ask <= limit) continue;
    const { name, format } = resource;
    const field = `spec.quotas.${namespace}.${resource.quotaField}`;
    if (ask > limit) {
      return {
        fits: false,
        reason: `namespace ${namespace}'s quota is smaller than this replica: ${name} ${format(limit)} in all, this replica alone asks ${format(ask)} (raise ${field} in the governance file to at least ${format(ask)}, or lower the service's ${resource.specField})`,
      };
    }
    const state = inUse >= limit ? 'is at its quota' : 'has too little of its quota left';
    return {
      fits: false,
      reason: `namespace ${namespace} ${state}: ${name} ${format(inUse)} of ${format(limit)} used, this replica asks ${format(ask)} (raise ${field} in the governance file, or scale another service of ${namespace} down)`,
    };
  }
  return { fits: true };
}

/** Cores as whole millicores, rounded up (as Kubernetes rounds a finer CPU quantity). */
function millicores(cores: number): number {
  return Math.ceil(Math.round(cores * 1e6) / 1e3);
}

/** 2000 → "2", 1500 → "1500m": as a quota or request is written. */
function formatMillicores(m: number): string {
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

const BYTE_UNITS: ReadonlyArray<[string, number]> = [
  ['Pi', 1024 ** 5], ['Ti', 1024 ** 4], ['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024],
  ['P', 1e15], ['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3],
];

/** Bytes in the largest unit that holds them whole: 2147483648 → "2Gi", 1536 MiB → "1536Mi", 5e8 → "500M". */
function formatBytes(bytes: number): string {
  if (bytes === 0) return '0';
  for (const [unit, factor] of BYTE_UNITS) if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  return String(bytes);
}

function invalidRequest(message: string): InvalidRequestError {
  return new InvalidRequestError(message, { code: 'RUNTIME_INVALID_REQUESTS' });
}
