/**
 * Everything one InferenceService is in a cluster, from pure builders: what `karb controller`
 * applies and `karb render` writes, so the two cannot drift. Listed in the order they are applied
 * (identities and Services before the Deployments whose pods use them).
 */
import { API_VERSION, KIND, type InferenceService } from '../../api/index.ts';
import type { RevisionTemplate } from '../types.ts';
import { buildAutoscaler } from './autoscaling.ts';
import { buildDeployment } from './deployment.ts';
import type { ClusterOptions } from './options.ts';
import { buildNetworkPolicy, buildPodDisruptionBudget, buildRevisionService, buildService, buildServiceAccount, type ServiceIdentity } from './service-objects.ts';

export type KubernetesObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> } & Record<string, unknown>;
};

/** What karb makes for a service is owned by it: the cluster's garbage collector deletes it with the service. */
export function ownerReference(service: string, uid: string): { apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean } {
  return { apiVersion: API_VERSION, kind: KIND, name: service, uid, controller: true, blockOwnerDeletion: true };
}

export interface RunningRevision {
  template: RevisionTemplate;
  replicas: number;
}

export function buildServiceObjects(service: Pick<InferenceService, 'metadata' | 'spec'>, revisions: RunningRevision[], options: ClusterOptions): KubernetesObject[] {
  const identity: ServiceIdentity = { name: service.metadata.name, namespace: service.metadata.namespace, labels: service.metadata.labels };
  const objects = [
    buildServiceAccount(identity),
    buildService(identity),
    ...revisions.map((r) => buildRevisionService(identity, r.template.revision)),
    ...revisions.map((r) => buildDeployment(r.template, r.replicas, options, service.metadata.labels)),
    buildPodDisruptionBudget(identity),
    buildNetworkPolicy(identity, options),
  ];
  const autoscaler = buildAutoscaler(identity, service.spec, options);
  if (autoscaler) objects.push(autoscaler);
  return objects as KubernetesObject[];
}
