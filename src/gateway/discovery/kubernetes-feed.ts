/**
 * `karb gateway --kubernetes`: keeps the routing table equal to what the cluster says, by watch
 * (list once, then watch; no polling). Two caches — the InferenceServices and the EndpointSlices
 * of karb's revision Services — and any change of either recomputes the table
 * (kubernetes-routes.ts), once per burst of changes, and swaps it only when it differs.
 */
import { canonicalJson } from '../../api/index.ts';
import type { KubeClient, ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { LABEL_REVISION } from '../../runtime/kubernetes/labels.ts';
import { ENDPOINT_SLICES, INFERENCE_SERVICES } from '../../runtime/kubernetes/resources.ts';
import type { Log } from '../../util/log.ts';
import { endpointsFromSlices, routesFromCluster, SpecCache, type EndpointSliceObject, type InferenceServiceObject, type Unrouted } from './kubernetes-routes.ts';
import type { RoutingTable } from './routing-table.ts';

export interface ClusterRoutesOptions {
  client: KubeClient;
  table: RoutingTable;
  /** Watch one namespace only; all by default. */
  namespace?: string;
  log?: Log;
}

export interface ClusterRoutes {
  /** Services the table leaves out, and why (not reconciled yet, an invalid spec, a name taken). */
  unrouted(): Unrouted[];
  /** How many times the table was swapped (each swap is one change the gateways saw). */
  swaps(): number;
  stop(): Promise<void>;
}

type Obj<T> = T & ObjectLike;

/** What of an InferenceService its route is made of: the spec (by generation) and the traffic in status. */
function routeInputs(obj: InferenceServiceObject): string {
  const { uid, generation, creationTimestamp } = obj.metadata;
  return JSON.stringify([uid, generation, creationTimestamp, obj.status?.revisions?.map((r) => [r.name, r.traffic]), obj.status?.mirror]);
}

/** Resolves once both caches are filled and the first table is in place. */
export async function watchClusterRoutes(options: ClusterRoutesOptions): Promise<ClusterRoutes> {
  const { client, table, log } = options;
  const scope = options.namespace ? { namespace: options.namespace } : {};
  const services = client.informer<Obj<InferenceServiceObject>>(INFERENCE_SERVICES, scope);
  // Only the slices of karb's revision Services (the EndpointSlice controller copies the Service's labels).
  const slices = client.informer<Obj<EndpointSliceObject>>(ENDPOINT_SLICES, { ...scope, labelSelector: LABEL_REVISION });
  const specs = new SpecCache();
  let last = '';
  let swaps = 0;
  let unrouted: Unrouted[] = [];
  let reported = new Set<string>();
  let scheduled = false;
  let started = false;

  const recompute = (): void => {
    scheduled = false;
    const result = routesFromCluster(services.list(), endpointsFromSlices(slices.list()), specs);
    unrouted = result.unrouted;
    const now = new Set<string>();
    for (const u of unrouted) {
      const k = `${u.namespace}/${u.name}:${u.reason}`;
      now.add(k);
      if (!reported.has(k) && u.reason !== 'NotReconciled') log?.({ level: 'warn', msg: 'service not routed', service: `${u.namespace}/${u.name}`, reason: u.reason, message: u.message });
    }
    reported = now;
    const text = canonicalJson(result.routes);
    if (text === last) return;
    last = text;
    swaps++;
    table.replace(result.routes);
  };
  // A burst of watch events (a rollout moves several pods) becomes one recomputation.
  const changed = (): void => {
    if (!started || scheduled) return;
    scheduled = true;
    setImmediate(recompute);
  };
  // Most writes to a service's status (an autoscaler decision, a condition's message) and to a
  // slice (a pod that is not ready yet) change no route: only what a route is made of counts, so
  // a thousand services' status traffic costs the gateway a string per write, not a new table.
  const seen = new Map<string, string>();
  const watchRelevant = <T extends ObjectLike>(kind: string, informer: { on(event: 'add' | 'update' | 'delete', cb: (obj: T) => void): void }, signature: (obj: T) => string): void => {
    const key = (obj: T) => `${kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const onChange = (obj: T): void => {
      const sig = signature(obj);
      if (seen.get(key(obj)) === sig) return;
      seen.set(key(obj), sig);
      changed();
    };
    informer.on('add', onChange);
    informer.on('update', onChange);
    informer.on('delete', (obj) => {
      seen.delete(key(obj));
      changed();
    });
  };
  watchRelevant(INFERENCE_SERVICES.kind, services, routeInputs);
  watchRelevant(ENDPOINT_SLICES.kind, slices, (slice) => JSON.stringify([...endpointsFromSlices([slice])]));
  await Promise.all([services.start(), slices.start()]);
  started = true;
  recompute();
  return {
    unrouted: () => unrouted,
    swaps: () => swaps,
    async stop() {
      started = false;
      await Promise.all([services.stop(), slices.stop()]);
    },
  };
}
