/**
 * The API resources karb reads and writes, with where they live in the API: enough to build a
 * request path for any of them without discovery.
 */
import { API_VERSION, CRD_PLURAL, KIND } from '../../api/index.ts';

export interface ResourceType {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const resource = (apiVersion: string, kind: string, plural: string, namespaced = true): ResourceType => ({ apiVersion, kind, plural, namespaced });

export const INFERENCE_SERVICES = resource(API_VERSION, KIND, CRD_PLURAL);
export const DEPLOYMENTS = resource('apps/v1', 'Deployment', 'deployments');
export const CONTROLLER_REVISIONS = resource('apps/v1', 'ControllerRevision', 'controllerrevisions');
export const SERVICES = resource('v1', 'Service', 'services');
export const SERVICE_ACCOUNTS = resource('v1', 'ServiceAccount', 'serviceaccounts');
export const SECRETS = resource('v1', 'Secret', 'secrets');
export const PODS = resource('v1', 'Pod', 'pods');
export const NAMESPACES = resource('v1', 'Namespace', 'namespaces', false);
export const NODES = resource('v1', 'Node', 'nodes', false);
export const ENDPOINT_SLICES = resource('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices');
export const POD_DISRUPTION_BUDGETS = resource('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets');
export const NETWORK_POLICIES = resource('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies');
export const HORIZONTAL_POD_AUTOSCALERS = resource('autoscaling/v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers');
export const SCALED_OBJECTS = resource('keda.sh/v1alpha1', 'ScaledObject', 'scaledobjects');
export const PROMETHEUS_RULES = resource('monitoring.coreos.com/v1', 'PrometheusRule', 'prometheusrules');
export const SERVICE_MONITORS = resource('monitoring.coreos.com/v1', 'ServiceMonitor', 'servicemonitors');
export const LEASES = resource('coordination.k8s.io/v1', 'Lease', 'leases');
export const EVENTS = resource('events.k8s.io/v1', 'Event', 'events');
export const TOKEN_REVIEWS = resource('authentication.k8s.io/v1', 'TokenReview', 'tokenreviews', false);
export const SUBJECT_ACCESS_REVIEWS = resource('authorization.k8s.io/v1', 'SubjectAccessReview', 'subjectaccessreviews', false);
export const CONFIG_MAPS = resource('v1', 'ConfigMap', 'configmaps');

const BY_KIND = new Map(
  [INFERENCE_SERVICES, DEPLOYMENTS, CONTROLLER_REVISIONS, SERVICES, SERVICE_ACCOUNTS, SECRETS, PODS, NAMESPACES, ENDPOINT_SLICES, POD_DISRUPTION_BUDGETS, NETWORK_POLICIES, HORIZONTAL_POD_AUTOSCALERS, SCALED_OBJECTS, PROMETHEUS_RULES, SERVICE_MONITORS, LEASES, EVENTS, TOKEN_REVIEWS, SUBJECT_ACCESS_REVIEWS, CONFIG_MAPS].map(
    (r) => [`${r.apiVersion}/${r.kind}`, r],
  ),
);

/** The resource type of an object karb built; throws for a kind karb does not know (a builder bug). */
export function resourceOf(obj: { apiVersion: string; kind: string }): ResourceType {
  const r = BY_KIND.get(`${obj.apiVersion}/${obj.kind}`);
  if (r === undefined) throw new Error(`no resource type for ${obj.apiVersion} ${obj.kind}`);
  return r;
}

/** `/api/v1/namespaces/ns/pods/name/status`, `/apis/apps/v1/deployments`, … */
export function resourcePath(r: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const base = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  const ns = r.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const tail = name === undefined ? '' : `/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}`;
  return `${base}${ns}/${r.plural}${tail}`;
}
