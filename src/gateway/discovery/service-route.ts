/**
 * One service's route from its spec, the revisions' traffic weights and mirror, and each
 * revision's ready endpoints: the one place a Route is made, whether the reconciler publishes
 * it in the same process (`karb up`) or a gateway on a cluster derives it from an
 * InferenceService's status and the EndpointSlices (`kubernetes-routes.ts`). Pure.
 */
import type { InferenceServiceSpec } from '../../api/index.ts';
import { durationMs } from '../../api/quantity.ts';
import { perTryTimeoutForSlo, type Route, type RouteEndpoint } from './routing-table.ts';

export interface ServiceRouteInput {
  namespace: string;
  name: string;
  /** The spec with every default filled in (parsed by the resource's schema). */
  spec: InferenceServiceSpec;
  /** Each revision that takes traffic or a mirror, with its weight (percent; they add up to 100). */
  traffic: Array<{ revision: string; weight: number }>;
  mirror?: { revision: string; percent: number } | undefined;
  /** A revision's ready endpoints, in any order (the route lists them by replica name). */
  endpoints(revision: string): RouteEndpoint[];
}

export function serviceRoute(input: ServiceRouteInput): Route {
  const { namespace, name, spec } = input;
  return {
    model: name,
    namespace,
    service: name,
    format: spec.model.format,
    revisions: input.traffic.map(({ revision, weight }) => ({
      revision,
      weight,
      endpoints: input
        .endpoints(revision)
        .map((e) => ({ replica: e.replica, url: e.url }))
        .sort((a, b) => (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0)),
    })),
    ...(spec.traffic.rateLimit ? { rateLimit: { ...spec.traffic.rateLimit } } : {}),
    ...(spec.traffic.fallback?.length ? { fallback: [...spec.traffic.fallback] } : {}),
    ...(input.mirror ? { mirror: { ...input.mirror } } : {}),
    concurrencyLimit: concurrencyLimit(spec),
    coldStartMs: spec.slo.coldStartMs,
    // A hung replica costs a request one try of a few times the p95 target, not its whole deadline.
    perTryTimeoutMs: perTryTimeoutForSlo(spec.slo.latencyP95Ms),
    latencyTargetMs: spec.slo.latencyP95Ms,
    ...(spec.traffic.async?.enabled ? { asyncEnabled: true, asyncMaxQueued: spec.traffic.async.maxQueued, asyncTtlMs: durationMs(spec.traffic.async.ttl) } : {}),
  };
}

/**
 * The gateway's hard per-replica limit: well above the autoscaler's soft target (the
 * autoscaler adds replicas long before it binds) and never below two full batches.
 */
export function concurrencyLimit(spec: InferenceServiceSpec): number {
  return Math.max(4 * spec.scaling.targetConcurrency, 2 * spec.model.batching.maxBatchSize);
}
