/**
 * Where a gateway on a cluster reports: the ready endpoint of the Service `karb-controller`,
 * from its EndpointSlices by watch. Only the controller that leads is ready (its /readyz), so
 * this is the leader, and a failover moves the reports with the next watch event — without
 * cluster DNS or a Service proxy in the way.
 */
import type { KubeClient, ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import { ENDPOINT_SLICES } from '../../runtime/kubernetes/resources.ts';
import { endpointsFromSlices, SLICE_SERVICE_LABEL, type EndpointSliceObject } from './kubernetes-routes.ts';

export interface ControllerEndpoint {
  /** The leading controller's URL now; undefined while none is ready. */
  url(): string | undefined;
  stop(): Promise<void>;
}

export async function watchControllerEndpoint(options: { client: KubeClient; systemNamespace: string; service: string }): Promise<ControllerEndpoint> {
  const { client, systemNamespace, service } = options;
  const slices = client.informer<EndpointSliceObject & ObjectLike>(ENDPOINT_SLICES, { namespace: systemNamespace, labelSelector: `${SLICE_SERVICE_LABEL}=${service}` });
  await slices.start();
  return {
    url: () => endpointsFromSlices(slices.list()).get(`${systemNamespace}/${service}`)?.[0]?.url,
    stop: () => slices.stop(),
  };
}
