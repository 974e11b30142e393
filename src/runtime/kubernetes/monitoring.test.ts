import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceServiceSchema } from '../../api/index.ts';
import { DEFAULT_SCRAPE_INTERVAL_MS } from '../../observability/slo/burn-windows.ts';
import { sloRules } from '../../observability/slo/rules.ts';
import { buildGatewayServiceMonitor, buildPrometheusRule } from './monitoring.ts';
import { buildGatewayService } from './install.ts';

test('a service’s PrometheusRule carries its SLO’s rule file, in its namespace, with its labels', () => {
  const spec = InferenceServiceSchema.parse({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'fraud' }, spec: { model: { uri: 'pvc://m/fraud.onnx' }, slo: { latencyP95Ms: 120, errorRate: 0.005 } } }).spec;
  const rule = buildPrometheusRule({ name: 'fraud', namespace: 'payments', labels: { team: 'risk' } }, spec) as any;
  assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(rule.kind, 'PrometheusRule');
  assert.deepEqual([rule.metadata.name, rule.metadata.namespace, rule.metadata.labels.team, rule.metadata.labels['karb.dev/service']], ['fraud', 'payments', 'risk', 'fraud']);
  assert.deepEqual(rule.spec, sloRules({ name: 'fraud', namespace: 'payments', slo: { latencyP95Ms: 120, errorRate: 0.005 } }));
});

test('the gateways’ ServiceMonitor selects the Service karb install makes for them, on its metrics port', () => {
  const monitor = buildGatewayServiceMonitor('karb-system') as any;
  const service = buildGatewayService('karb-system') as any;
  assert.equal(monitor.metadata.namespace, 'karb-system');
  assert.deepEqual(monitor.spec.selector.matchLabels, Object.fromEntries(Object.entries(service.metadata.labels).filter(([k]) => k in monitor.spec.selector.matchLabels)));
  assert.ok(Object.keys(monitor.spec.selector.matchLabels).length > 0);
  assert.ok(service.spec.ports.some((p: any) => p.name === monitor.spec.endpoints[0].port));
  assert.equal(monitor.spec.endpoints[0].path, '/metrics');
});

test('the ServiceMonitor keeps the gateway’s own service label, which the SLO rules select on', () => {
  const monitor = buildGatewayServiceMonitor('karb-system') as any;
  // Without honorLabels the operator's target label service="karb-gateway" wins and the gateway's
  // becomes exported_service: no rule's {service="<name>"} would match any series.
  assert.equal(monitor.spec.endpoints[0].honorLabels, true);
  const rules = buildPrometheusRule({ name: 'fraud', namespace: 'payments', labels: {} }, InferenceServiceSchema.parse({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'fraud' }, spec: { model: { uri: 'pvc://m/fraud.onnx' } } }).spec) as any;
  assert.ok(rules.spec.groups[0].rules.every((r: any) => r.expr.includes('service="fraud"')), 'every rule selects on the service label');
});

test('the gateways are scraped at the interval the rules’ windows are written for', () => {
  const monitor = buildGatewayServiceMonitor('karb-system') as any;
  assert.equal(monitor.spec.endpoints[0].interval, `${DEFAULT_SCRAPE_INTERVAL_MS / 1000}s`);
});
