/**
 * The objects an InferenceService has once, whatever its revisions: a Service over all its pods,
 * a headless Service per revision (its EndpointSlices are how gateways find a revision's pods), a
 * PodDisruptionBudget, a default-deny NetworkPolicy that admits karb's gateway and controller, and
 * the ServiceAccount its pods run as. Pure builders.
 */
import { CONTROLLER_POD_LABELS, GATEWAY_POD_LABELS, revisionLabels, revisionSelector, serviceLabels, serviceSelector } from './labels.ts';
import { SERVING_PORT, type ClusterOptions } from './options.ts';

type Obj = Record<string, unknown>;

export interface ServiceIdentity {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
}

const HTTP_PORT = { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' };

export function buildService(s: ServiceIdentity): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name, s.labels) },
    spec: { type: 'ClusterIP', selector: serviceSelector(s.name), ports: [HTTP_PORT] },
  };
}

/** Headless: no cluster IP, just the revision's ready pods in its EndpointSlices. */
export function buildRevisionService(s: ServiceIdentity, revision: string): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: revision, namespace: s.namespace, labels: revisionLabels(s.name, revision, s.labels) },
    spec: { clusterIP: 'None', selector: revisionSelector(revision), ports: [{ ...HTTP_PORT, port: SERVING_PORT }] },
  };
}

/**
 * One pod at a time may be evicted. A minimum available count would block every node drain of a
 * one-replica service; pods that are not ready may always go (they serve nothing).
 */
export function buildPodDisruptionBudget(s: ServiceIdentity): Obj {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name, s.labels) },
    spec: { maxUnavailable: 1, selector: { matchLabels: serviceSelector(s.name) }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
  };
}

/** Only karb's gateway (requests) and controller (output checks, drift and load readings) reach the model servers. */
export function buildNetworkPolicy(s: ServiceIdentity, options: ClusterOptions): Obj {
  const fromSystem = (pods: Record<string, string>) => ({
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': options.systemNamespace } },
    podSelector: { matchLabels: { ...pods } },
  });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name, s.labels) },
    spec: {
      podSelector: { matchLabels: serviceSelector(s.name) },
      policyTypes: ['Ingress'],
      ingress: [{ from: [fromSystem(GATEWAY_POD_LABELS), fromSystem(CONTROLLER_POD_LABELS)], ports: [{ protocol: 'TCP', port: SERVING_PORT }] }],
    },
  };
}

/** The pods' identity; it holds no API token (model servers never talk to the API server). */
export function buildServiceAccount(s: ServiceIdentity): Obj {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name, s.labels) },
    automountServiceAccountToken: false,
  };
}
