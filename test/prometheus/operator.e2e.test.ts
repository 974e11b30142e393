/**
 * The Prometheus Operator's objects on a real API server (test/cluster), validated by the
 * operator's own CRDs, taken from its published Go module as KEDA's are: without the CRDs karb
 * controller applies nothing and tells each service with a Warning event; once they are
 * installed it applies each service's PrometheusRule (its SLO's rules, exactly what `karb render
 * --prometheus` writes) and the gateways' ServiceMonitor, with no restart; a changed SLO changes
 * the rule, and the rule goes with its service.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startController, type RunningController } from '../../src/control/kubernetes/controller.ts';
import { systemClock, type Clock } from '../../src/util/clock.ts';
import { waitFor } from '../../src/util/wait-for.ts';
import { sloRules } from '../../src/observability/slo/rules.ts';
import { buildGatewayService } from '../../src/runtime/kubernetes/install.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { getJson, inferenceService, kubectlOk, restrictedNamespace, startKarbTestCluster, SYSTEM_NAMESPACE, waitForObject, type KarbTestCluster } from '../kubernetes/support.ts';

const NS = 'slo';
/** Pinned: the version is part of what the test checks. */
const PROMETHEUS_OPERATOR_MODULE = 'github.com/prometheus-operator/prometheus-operator@v0.85.0';

async function installPrometheusOperatorCrds(cluster: TestCluster): Promise<void> {
  const { stdout } = await promisify(execFile)('go', ['mod', 'download', '-json', PROMETHEUS_OPERATOR_MODULE], { maxBuffer: 1 << 20 });
  const { Dir, Error: error } = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!Dir) throw new Error(`go mod download ${PROMETHEUS_OPERATOR_MODULE}: ${error ?? 'no directory'}`);
  for (const plural of ['prometheusrules', 'servicemonitors']) {
    await kubectlOk(cluster, ['apply', '--server-side', '-f', '-'], readFileSync(join(Dir, 'example', 'prometheus-operator-crd', `monitoring.coreos.com_${plural}.yaml`), 'utf8'));
    await kubectlOk(cluster, ['wait', '--for=condition=Established', '--timeout=60s', `crd/${plural}.monitoring.coreos.com`]);
  }
}

describe('the SLO’s PrometheusRule and the gateways’ ServiceMonitor on a real API server', { timeout: 600_000 }, () => {
  let karb: KarbTestCluster;
  let cluster: TestCluster;
  let controller: RunningController;
  // The controller looks for the CRDs again every few minutes; the test moves its clock on instead of waiting.
  let skewMs = 0;
  const clock: Clock = { ...systemClock, now: () => Date.now() + skewMs };
  const svc = (slo: Record<string, number>) => inferenceService('fraud', NS, { model: { uri: 'pvc://models/fraud-v1.onnx' }, scaling: { minReplicas: 0, maxReplicas: 2 }, slo });

  before(async () => {
    karb = await startKarbTestCluster();
    cluster = karb.cluster;
    await restrictedNamespace(cluster, NS);
    const logFile = join(karb.dir, 'controller.log');
    controller = await startController({ kubeconfig: karb.kubeconfig, namespace: NS, resyncMs: 500, identity: 'controller-under-test', clock, log: (r) => appendFileSync(logFile, `${JSON.stringify(r)}\n`) });
  });

  after(async () => {
    await controller?.close();
    await karb?.stop();
  });

  test('without the operator’s CRDs: no rule, and a Warning event saying why and what to do', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], svc({ latencyP95Ms: 300, errorRate: 0.02 }));
    const events = await waitForObject(cluster, 'the Warning event', ['events', '-n', NS, '--field-selector', 'reason=PrometheusRuleSkipped'], (l: any) => l.items.length > 0);
    assert.equal(events.items[0].type, 'Warning');
    assert.match(events.items[0].message, /CRDs \(monitoring\.coreos\.com\/v1 PrometheusRule, ServiceMonitor\) are not installed/);
    assert.match(events.items[0].message, /karb render --prometheus/);
    await controller.sync();
    assert.equal((await getJson(cluster, ['events', '-n', NS, '--field-selector', 'reason=PrometheusRuleSkipped'])).items.length, 1, 'told once');
  });

  test('the operator’s CRD validates: a rule with a malformed duration is refused by the API server', async () => {
    await installPrometheusOperatorCrds(cluster);
    const bad = { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'bad', namespace: NS }, spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up == 0', for: 'ten minutes' }] }] } };
    const refused = await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(bad) });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /spec\.groups\[0\]\.rules\[0\]\.for/);
  });

  test('once the CRDs are installed: the service’s PrometheusRule is its SLO’s rule file, owned by it, and the gateways get a ServiceMonitor', async () => {
    // Until it looks again (every 5 minutes while they are missing) the controller applies nothing.
    await controller.sync();
    assert.notEqual((await cluster.kubectl(['get', 'prometheusrule', 'fraud', '-n', NS])).code, 0, 'no rule before the controller looked again');
    skewMs += 6 * 60_000;
    await controller.sync();
    const isvc = await getJson(cluster, ['inferenceservice', 'fraud', '-n', NS]);
    const rule = await waitForObject(cluster, 'the PrometheusRule', ['prometheusrule', 'fraud', '-n', NS], () => true);
    assert.deepEqual(rule.spec, sloRules({ name: 'fraud', namespace: NS, slo: { latencyP95Ms: 300, errorRate: 0.02 } }));
    assert.ok(rule.metadata.ownerReferences.some((r: any) => r.uid === isvc.metadata.uid && r.kind === 'InferenceService'));
    const monitor = await waitForObject(cluster, 'the gateways’ ServiceMonitor', ['servicemonitor', 'karb-gateway', '-n', SYSTEM_NAMESPACE], () => true);
    assert.deepEqual(monitor.spec.endpoints.map((e: any) => e.port), ['metrics']);
    // It selects the Service karb install makes for the gateways, whose `metrics` port it scrapes.
    const gateway = buildGatewayService(SYSTEM_NAMESPACE) as any;
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) assert.equal(gateway.metadata.labels[k], v);
    assert.ok(gateway.spec.ports.some((p: any) => p.name === 'metrics'));
  });

  test('a changed SLO changes the rule; a deleted service takes its rule with it', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], svc({ latencyP95Ms: 300, errorRate: 0.001 }));
    const changed = await waitForObject(cluster, 'the rule at the new errorRate', ['prometheusrule', 'fraud', '-n', NS], (r: any) =>
      r.spec.groups[0].rules.some((x: any) => x.alert === 'KarbAvailabilityBudgetBurn' && x.labels.long_window === '1h' && x.expr.endsWith('> 0.0144')),
    );
    assert.deepEqual(changed.spec, sloRules({ name: 'fraud', namespace: NS, slo: { latencyP95Ms: 300, errorRate: 0.001 } }));
    await kubectlOk(cluster, ['delete', 'inferenceservice', 'fraud', '-n', NS]);
    await waitFor('the PrometheusRule gone with its service', async () => (await cluster.kubectl(['get', 'prometheusrule', 'fraud', '-n', NS])).code !== 0, 120_000, 250);
  });
});
