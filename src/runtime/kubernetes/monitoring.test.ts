import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceServiceSchema } from '../../api/index.ts';
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
