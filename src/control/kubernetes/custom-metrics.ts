/**
 * The custom metrics API (`custom.metrics.k8s.io/v1beta2`) that karb controller serves, as
 * prometheus-adapter would, so a cluster's own HorizontalPodAutoscaler runs the `hpa-service`
 * policy: the two Object metrics its HPA names on each InferenceService (autoscaling.ts),
 *
 *   karb_service_latency_p95_milliseconds   the service's p95 latency (target Value: spec.slo.latencyP95Ms)
 *   karb_service_concurrency                requests in flight and waiting (target AverageValue:
 *                                           spec.scaling.targetConcurrency; the HPA divides it by
 *                                           the current replica count)
 *
 * with the very values karb's own hpa-service decider compares (hpa.ts `serviceMetrics`): the
 * serving revision's stable window in the controller's SignalHub, fed by the gateways' reports.
 * Pure: a path in, a status and a JSON body out; who may ask is custom-metrics-server.ts's job.
 *
 * Only v1beta2 is served. kube-controller-manager's metrics client takes the group's preferred
 * version from discovery (k8s.io/metrics custom_metrics.NewAvailableAPIsGetter), and v1beta2 is
 * the only one karb registers (install.ts), so v1beta1 is never asked for.
 *
 * Routes (GET only):
 *   /apis                                                           APIGroupList
 *   /apis/custom.metrics.k8s.io                                     APIGroup
 *   /apis/custom.metrics.k8s.io/v1beta2                             APIResourceList
 *   /apis/custom.metrics.k8s.io/v1beta2/namespaces/NS/inferenceservices.karb.dev/NAME/METRIC
 *                                                                   MetricValueList, one item
 *   /apis/custom.metrics.k8s.io/v1beta2/namespaces/NS/inferenceservices.karb.dev/* /METRIC
 *                                                                   every service of NS with a value
 * These metrics carry no labels, so a `metricLabelSelector` has nothing to select on and is
 * ignored; a `labelSelector` on the `*` list is refused (400) rather than ignored.
 */
import { API_VERSION, CRD_NAME, KIND } from '../../api/index.ts';
import type { WindowSignals } from '../../observability/signals.ts';
import { CONCURRENCY_METRIC, CUSTOM_METRICS_GROUP, CUSTOM_METRICS_VERSION, LATENCY_P95_METRIC } from '../../runtime/kubernetes/autoscaling.ts';

export { CUSTOM_METRICS_GROUP, CUSTOM_METRICS_VERSION };
const GROUP_VERSION = `${CUSTOM_METRICS_GROUP}/${CUSTOM_METRICS_VERSION}`;
/** The resource as the custom metrics API names it: `<plural>.<group>`. */
export const METRIC_RESOURCE = CRD_NAME;
export const SERVICE_METRICS = [LATENCY_P95_METRIC, CONCURRENCY_METRIC] as const;
export type ServiceMetric = (typeof SERVICE_METRICS)[number];

/**
 * The value of `metric` in a service's stable window: exactly what hpa-service's decider reads
 * (`stable.p95Ms`, `stable.concurrency`), or undefined where it has no data either.
 */
export function serviceMetricValue(metric: ServiceMetric, stable: WindowSignals): number | undefined {
  return metric === LATENCY_P95_METRIC ? stable.p95Ms : stable.concurrency;
}

/** What the controller knows; `windows` is undefined for a service the hub has heard nothing of. */
export interface CustomMetricsSource {
  /** The names of the InferenceServices of a namespace. */
  services(namespace: string): string[];
  /** undefined: no such InferenceService. `stable` undefined: no signals for it yet. */
  service(namespace: string, name: string): { stable: WindowSignals | undefined } | undefined;
}

/** What a caller must be allowed, checked by a SubjectAccessReview as the generic API server would. */
export type AccessAttributes =
  | { nonResource: { path: string; verb: 'get' } }
  | { resource: { namespace: string; verb: 'get' | 'list' | 'patch'; group: string; version: string; resource: string; subresource: string; name?: string } };

export type CustomMetricsRequest =
  | { kind: 'discovery'; path: string; body: Record<string, unknown> }
  | { kind: 'metric'; namespace: string; name: string; metric: ServiceMetric; labelSelector: string }
  | { kind: 'error'; status: number; body: KubeStatus };

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  code: number;
  details?: Record<string, unknown>;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

/** A Kubernetes `Status` object, the shape every error of an API server takes. */
export function kubeStatus(code: number, message: string, details?: Record<string, unknown>): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'Unknown', code, ...(details ? { details } : {}) };
}

const error = (code: number, message: string, details?: Record<string, unknown>): CustomMetricsRequest => ({ kind: 'error', status: code, body: kubeStatus(code, message, details) });

const groupVersion = { groupVersion: GROUP_VERSION, version: CUSTOM_METRICS_VERSION };

function discovery(path: string): Record<string, unknown> | undefined {
  const group = { name: CUSTOM_METRICS_GROUP, versions: [groupVersion], preferredVersion: groupVersion };
  if (path === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups: [group] };
  if (path === `/apis/${CUSTOM_METRICS_GROUP}`) return { kind: 'APIGroup', apiVersion: 'v1', ...group };
  if (path === `/apis/${GROUP_VERSION}`) {
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: GROUP_VERSION,
      resources: SERVICE_METRICS.map((m) => ({ name: `${METRIC_RESOURCE}/${m}`, singularName: '', namespaced: true, kind: 'MetricValueList', verbs: ['get'] })),
    };
  }
  return undefined;
}

/** Which answer a request asks for, and so what its caller must be allowed. */
export function parseCustomMetricsRequest(method: string, pathname: string, query: URLSearchParams): CustomMetricsRequest {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  if (method !== 'GET') return error(405, `${method} is not supported: the custom metrics API is read with GET`);
  const doc = discovery(path);
  if (doc) return { kind: 'discovery', path, body: doc };
  const parts = path.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  // apis, custom.metrics.k8s.io, v1beta2, namespaces, NS, RESOURCE, NAME, METRIC
  if (parts.length === 8 && parts[0] === 'apis' && `${parts[1]}/${parts[2]}` === GROUP_VERSION && parts[3] === 'namespaces') {
    const [, , , , namespace, resource, name, metric] = parts as [string, string, string, string, string, string, string, string];
    if (resource !== METRIC_RESOURCE) return error(404, `the custom metrics API of karb serves ${METRIC_RESOURCE} only, not ${resource}`);
    if (!(SERVICE_METRICS as readonly string[]).includes(metric)) {
      return error(404, `no metric ${metric} for ${METRIC_RESOURCE}; karb serves ${SERVICE_METRICS.join(' and ')}`, { name: metric, group: CUSTOM_METRICS_GROUP, kind: METRIC_RESOURCE });
    }
    return { kind: 'metric', namespace, name, metric: metric as ServiceMetric, labelSelector: query.get('labelSelector') ?? '' };
  }
  return error(404, `the custom metrics API of karb has no ${path}; it serves /apis/${GROUP_VERSION}/namespaces/{namespace}/${METRIC_RESOURCE}/{name}/{metric}`);
}

/** What the caller of a parsed request must be allowed (none for a request already refused). */
export function accessFor(request: CustomMetricsRequest): AccessAttributes | undefined {
  if (request.kind === 'discovery') return { nonResource: { path: request.path, verb: 'get' } };
  if (request.kind === 'error') return undefined;
  const all = request.name === '*';
  return {
    resource: {
      namespace: request.namespace,
      verb: all ? 'list' : 'get',
      group: CUSTOM_METRICS_GROUP,
      version: CUSTOM_METRICS_VERSION,
      resource: METRIC_RESOURCE,
      subresource: request.metric,
      ...(all ? {} : { name: request.name }),
    },
  };
}

/** A quantity as Kubernetes writes one: whole numbers plain, anything finer in thousandths ("1500m"). */
export function quantity(value: number): string {
  const milli = Math.round(value * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** An answer to a parsed, authorized request, at `now` (ms since the epoch). */
export function answerCustomMetrics(request: CustomMetricsRequest, source: CustomMetricsSource, now: number): { status: number; body: unknown } {
  if (request.kind === 'error') return { status: request.status, body: request.body };
  if (request.kind === 'discovery') return { status: 200, body: request.body };
  const { namespace, name, metric } = request;
  const timestamp = new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const item = (service: string) => {
    const stable = source.service(namespace, service)?.stable;
    const value = stable === undefined ? undefined : serviceMetricValue(metric, stable);
    if (stable === undefined || value === undefined) return undefined;
    return {
      describedObject: { kind: KIND, namespace, name: service, apiVersion: API_VERSION },
      metric: { name: metric },
      timestamp,
      windowSeconds: stable.windowSeconds,
      value: quantity(value),
    };
  };
  const list = (items: unknown[]) => ({ status: 200, body: { kind: 'MetricValueList', apiVersion: GROUP_VERSION, metadata: {}, items } });
  if (name === '*') {
    if (request.labelSelector !== '') return { status: 400, body: kubeStatus(400, 'karb’s custom metrics API does not select InferenceServices by label; ask for each by name') };
    return list(source.services(namespace).map(item).filter((i) => i !== undefined));
  }
  const details = { name, group: CUSTOM_METRICS_GROUP, kind: METRIC_RESOURCE };
  if (source.service(namespace, name) === undefined) return { status: 404, body: kubeStatus(404, `${METRIC_RESOURCE} "${name}" not found in namespace ${namespace}`, details) };
  const found = item(name);
  // No data is not zero: a service that finished no request in the window has no p95, and
  // reporting 0 ms would let the HPA scale it down on a latency nobody measured. NotFound makes
  // the HPA treat the metric as missing, as karb's own decider does (hpa.ts serviceMetrics): it
  // still scales up on the other metric, but never down on partial metrics. (Concurrency is
  // sampled every autoscaler tick once the controller tracks a service, so its 0 is data.)
  if (found === undefined) {
    const what = metric === LATENCY_P95_METRIC ? 'no request completed in its window yet' : 'no concurrency sampled yet';
    return { status: 404, body: kubeStatus(404, `no value of ${metric} for ${METRIC_RESOURCE} ${namespace}/${name}: ${what}`, details) };
  }
  return list([found]);
}
