/**
 * The routing table of a gateway on a cluster, from what the API server holds: each
 * InferenceService's spec (limits, timeouts, fallback) and status (the revisions that take
 * traffic, their weights, the mirror — as karb controller's plan wrote them), and each
 * revision's ready endpoints from the EndpointSlices of its headless Service (named after the
 * revision). Pure: the watches that feed it are in kubernetes-feed.ts.
 *
 * An endpoint is routed only while its pod is ready and not terminating, so a pod that is
 * deleted (scale-down, rolling change, eviction) leaves the routes when the EndpointSlice says
 * so, while its preStop pause still lets it answer what was already sent.
 */
import { InferenceServiceSpec } from '../../api/index.ts';
import type { Route, RouteEndpoint } from './routing-table.ts';
import { serviceRoute } from './service-route.ts';

/** The parts of an InferenceService the routes are made of. */
export interface InferenceServiceObject {
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; creationTimestamp?: string };
  spec?: unknown;
  status?: {
    revisions?: Array<{ name: string; traffic: number }>;
    mirror?: { revision: string; percent: number };
  } & Record<string, unknown>;
}

/** The parts of a `discovery.k8s.io/v1` EndpointSlice the routes are made of. */
export interface EndpointSliceObject {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  addressType?: string;
  ports?: Array<{ name?: string; port?: number; protocol?: string }> | null;
  endpoints?: Array<{
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    targetRef?: { kind?: string; name?: string };
  }> | null;
}

/** The label the EndpointSlice controller puts on every slice: the Service it belongs to. */
export const SLICE_SERVICE_LABEL = 'kubernetes.io/service-name';

/** The name of the port a model server serves on (the revision's Service names it so). */
const SERVING_PORT_NAME = 'http';

/**
 * Ready endpoints by `namespace/revision`. A revision's headless Service is named after it, so
 * a slice's `kubernetes.io/service-name` is the revision; an address listed in several slices
 * (while the controller moves endpoints between them) counts once.
 */
export function endpointsFromSlices(slices: Iterable<EndpointSliceObject>): Map<string, RouteEndpoint[]> {
  const byRevision = new Map<string, Map<string, RouteEndpoint>>();
  for (const slice of slices) {
    const revision = slice.metadata.labels?.[SLICE_SERVICE_LABEL];
    if (!revision || slice.addressType === 'FQDN') continue;
    const port = (slice.ports ?? []).find((p) => p.name === SERVING_PORT_NAME) ?? slice.ports?.[0];
    if (port?.port === undefined) continue;
    const key = `${slice.metadata.namespace ?? 'default'}/${revision}`;
    let endpoints = byRevision.get(key);
    for (const endpoint of slice.endpoints ?? []) {
      // Ready is false for a terminating pod; terminating is checked too, for a Service that publishes not-ready addresses.
      if (endpoint.conditions?.ready !== true || endpoint.conditions.terminating === true) continue;
      const address = endpoint.addresses[0];
      if (!address) continue;
      const host = slice.addressType === 'IPv6' ? `[${address}]` : address;
      if (!endpoints) byRevision.set(key, (endpoints = new Map()));
      endpoints.set(address, { replica: endpoint.targetRef?.name ?? address, url: `http://${host}:${port.port}` });
    }
  }
  return new Map([...byRevision].map(([key, endpoints]) => [key, [...endpoints.values()]]));
}

/** Why a service has no route (logged once per change by the feed). */
export interface Unrouted {
  namespace: string;
  name: string;
  reason: 'NotReconciled' | 'InvalidSpec' | 'NameTaken';
  message: string;
}

/**
 * Parses specs, remembering the last valid one per service: a running service whose spec is
 * changed to one karb refuses keeps its routes (the controller keeps its revisions running).
 * Keyed by uid and generation, so each spec is parsed once.
 */
export class SpecCache {
  readonly #specs = new Map<string, { uid: string | undefined; generation: number | undefined; spec: InferenceServiceSpec }>();

  spec(obj: InferenceServiceObject): InferenceServiceSpec | undefined {
    const key = `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
    const cached = this.#specs.get(key);
    if (cached && cached.uid === obj.metadata.uid && cached.generation === obj.metadata.generation) return cached.spec;
    const parsed = InferenceServiceSpec.safeParse(obj.spec);
    if (!parsed.success) return cached?.uid === obj.metadata.uid ? cached?.spec : undefined;
    this.#specs.set(key, { uid: obj.metadata.uid, generation: obj.metadata.generation, spec: parsed.data });
    return parsed.data;
  }

  /** Forgets services that are gone. */
  retain(present: Set<string>): void {
    for (const key of this.#specs.keys()) if (!present.has(key)) this.#specs.delete(key);
  }
}

/**
 * The routes of the services the controller has reconciled. Clients name a model by its
 * service's name alone, so a name in two namespaces routes to the older service (then the
 * first namespace by name); the other is reported unrouted with reason NameTaken.
 */
export function routesFromCluster(
  services: Iterable<InferenceServiceObject>,
  endpoints: Map<string, RouteEndpoint[]>,
  specs: SpecCache = new SpecCache(),
): { routes: Route[]; unrouted: Unrouted[] } {
  const ordered = [...services].sort(
    (a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? ''),
  );
  const routes: Route[] = [];
  const unrouted: Unrouted[] = [];
  const owner = new Map<string, string>();
  const present = new Set<string>();
  for (const obj of ordered) {
    const namespace = obj.metadata.namespace ?? 'default';
    const name = obj.metadata.name;
    present.add(`${namespace}/${name}`);
    const spec = specs.spec(obj);
    if (spec === undefined) {
      unrouted.push({ namespace, name, reason: 'InvalidSpec', message: 'its spec does not validate; see the service’s Ready condition' });
      continue;
    }
    const revisions = obj.status?.revisions ?? [];
    if (revisions.length === 0) {
      unrouted.push({ namespace, name, reason: 'NotReconciled', message: 'karb controller has not written its revisions yet' });
      continue;
    }
    const taken = owner.get(name);
    if (taken !== undefined) {
      unrouted.push({ namespace, name, reason: 'NameTaken', message: `model name ${name} is served by the older service in namespace ${taken}` });
      continue;
    }
    owner.set(name, namespace);
    const mirror = obj.status?.mirror;
    routes.push(
      serviceRoute({
        namespace,
        name,
        spec,
        traffic: revisions.map((r) => ({ revision: r.name, weight: r.traffic })),
        mirror: mirror && revisions.some((r) => r.name === mirror.revision) ? mirror : undefined,
        endpoints: (revision) => endpoints.get(`${namespace}/${revision}`) ?? [],
      }),
    );
  }
  specs.retain(present);
  return { routes, unrouted };
}
