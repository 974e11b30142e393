/**
 * The Prometheus Operator's objects for karb (monitoring.coreos.com/v1): a PrometheusRule per
 * InferenceService holding its SLO's recording rules and burn-rate alerts (the rule file
 * `karb render --prometheus` writes, src/observability/slo/rules.ts), and the ServiceMonitor that
 * has Prometheus scrape the gateways' metrics port, whose series those rules read. Pure builders;
 * `karb controller` applies them only where the operator's CRDs are installed.
 */
import type { InferenceServiceSpec } from '../../api/index.ts';
import { sloRules } from '../../observability/slo/rules.ts';
import { GATEWAY_POD_LABELS, MANAGED_BY, serviceLabels } from './labels.ts';
import type { ServiceIdentity } from './service-objects.ts';

type Obj = Record<string, unknown>;

export const MONITORING_API_VERSION = 'monitoring.coreos.com/v1';
/** The gateway's ServiceMonitor, beside the gateway's Service (`karb install`) in the system namespace. */
export const GATEWAY_SERVICE_MONITOR = 'karb-gateway';
/** Seconds between scrapes of the gateways: short next to the rules' shortest window (5m). */
const GATEWAY_SCRAPE_SECONDS = 15;

export function buildPrometheusRule(s: ServiceIdentity, spec: InferenceServiceSpec): Obj {
  return {
    apiVersion: MONITORING_API_VERSION,
    kind: 'PrometheusRule',
    metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name, s.labels) },
    spec: sloRules({ name: s.name, namespace: s.namespace, slo: spec.slo }),
  };
}

/** Scrapes every gateway pod behind Service karb-gateway on its `metrics` port (karb gateway --metrics-port). */
export function buildGatewayServiceMonitor(systemNamespace: string): Obj {
  return {
    apiVersion: MONITORING_API_VERSION,
    kind: 'ServiceMonitor',
    metadata: { name: GATEWAY_SERVICE_MONITOR, namespace: systemNamespace, labels: { ...GATEWAY_POD_LABELS, ...MANAGED_BY } },
    spec: {
      selector: { matchLabels: { ...GATEWAY_POD_LABELS } },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: `${GATEWAY_SCRAPE_SECONDS}s` }],
    },
  };
}
