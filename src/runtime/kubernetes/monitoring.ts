/**
 * The Prometheus Operator's objects for karb (monitoring.coreos.com/v1): a PrometheusRule per
 * InferenceService holding its SLO's recording rules and burn-rate alerts (the rule file
 * `karb render --prometheus` writes, src/observability/slo/rules.ts), and the ServiceMonitor that
 * has Prometheus scrape the gateways' metrics port, whose series those rules read. Pure builders;
 * `karb controller` applies them only where the operator's CRDs are installed.
 */
import type { InferenceServiceSpec } from '../../api/index.ts';
import { DEFAULT_SCRAPE_INTERVAL_MS } from '../../observability/slo/burn-windows.ts';
import { sloRules } from '../../observability/slo/rules.ts';
import { GATEWAY_POD_LABELS, MANAGED_BY, serviceLabels } from './labels.ts';
import type { ServiceIdentity } from './service-objects.ts';

type Obj = Record<string, unknown>;

export const MONITORING_API_VERSION = 'monitoring.coreos.com/v1';
/** The gateway's ServiceMonitor, beside the gateway's Service (`karb install`) in the system namespace. */
export const GATEWAY_SERVICE_MONITOR = 'karb-gateway';
/** Seconds between scrapes of the gateways: the interval the rules' windows are written for (15 s; the shortest, 5m, spans 20). */
const GATEWAY_SCRAPE_SECONDS = DEFAULT_SCRAPE_INTERVAL_MS / 1000;

export function buildPrometheusRule(s: ServiceIdentity, spec: InferenceServiceSpec): Obj {
  return {
    apiVersion: MONITORING_API_VERSION,
    kind: 'PrometheusRule',
    metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name, s.labels) },
    spec: sloRules({ name: s.name, namespace: s.namespace, slo: spec.slo }),
  };
}

/**
 * Scrapes every gateway pod behind Service karb-gateway on its `metrics` port (karb gateway
 * --metrics-port). `honorLabels`: the gateway's own `service` label (the InferenceService a request
 * was for) is what the rules select on; without it Prometheus would keep the operator's target
 * label `service="karb-gateway"` and rename the gateway's to `exported_service`, and no rule would
 * match.
 */
export function buildGatewayServiceMonitor(systemNamespace: string): Obj {
  return {
    apiVersion: MONITORING_API_VERSION,
    kind: 'ServiceMonitor',
    metadata: { name: GATEWAY_SERVICE_MONITOR, namespace: systemNamespace, labels: { ...GATEWAY_POD_LABELS, ...MANAGED_BY } },
    spec: {
      selector: { matchLabels: { ...GATEWAY_POD_LABELS } },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: `${GATEWAY_SCRAPE_SECONDS}s`, honorLabels: true }],
    },
  };
}
