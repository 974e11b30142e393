/**
 * Model drift under `karb controller` on the test cluster (test/cluster: a real API server; the
 * node agent runs the pods as processes): the pod's karb serve finds fraud-v1's reference beside
 * the model in its volume, the controller reads the pod's drift and writes the `Drift` condition
 * into the InferenceService's status — False for traffic like the training data, True naming
 * exactly `amount_usd` once amounts are four times larger — with a `Drift` Warning event.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { startController, type RunningController } from '../../src/control/kubernetes/controller.ts';
import { FRAUD_FEATURES, FRAUD_FEATURE_COUNT, generateFraudData } from '../../src/models/fraud-data.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { waitFor } from '../helpers.ts';
import { getJson, inferenceService, kubectlOk, startServingCluster, waitForObject, type KarbTestCluster } from '../kubernetes/support.ts';

const NS = 'drift';
const SHIFTED = 'amount_usd';
const ROWS_PER_REQUEST = 25;

describe('model drift under karb controller', { timeout: 600_000 }, () => {
  let karbCluster: KarbTestCluster;
  let cluster: TestCluster;
  let controller: RunningController;
  const data = generateFraudData({ rows: 4000, seed: 778 });
  let sent = 0;

  /** Sends rows straight to the pod (drift is measured by the replica, whatever the path). */
  async function send(rows: number, scale = 1): Promise<void> {
    const [endpoint] = controller.runtime.endpoints({ namespace: NS, service: 'fraud' });
    assert.ok(endpoint, 'a ready pod');
    const column = FRAUD_FEATURES.indexOf(SHIFTED);
    for (let done = 0; done < rows; done += ROWS_PER_REQUEST) {
      const batch = data.features.slice(sent * FRAUD_FEATURE_COUNT, (sent + ROWS_PER_REQUEST) * FRAUD_FEATURE_COUNT);
      sent += ROWS_PER_REQUEST;
      for (let r = 0; r < ROWS_PER_REQUEST; r++) batch[r * FRAUD_FEATURE_COUNT + column]! *= scale;
      const res = await fetch(`${endpoint.url}/v2/models/fraud/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [ROWS_PER_REQUEST, FRAUD_FEATURE_COUNT], data: Array.from(batch) }] }),
      });
      assert.equal(res.status, 200, await res.text());
    }
  }

  const drift = (o: any) => o.status?.conditions?.find((c: any) => c.type === 'Drift');

  before(async () => {
    karbCluster = await startServingCluster(NS);
    cluster = karbCluster.cluster;
    const logFile = join(karbCluster.dir, 'controller.log');
    controller = await startController({ kubeconfig: karbCluster.kubeconfig, namespace: NS, resyncMs: 500, identity: 'controller-drift', port: 0, host: '127.0.0.1', log: (r) => appendFileSync(logFile, `${JSON.stringify(r)}\n`) });
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('fraud', NS, { model: { uri: 'pvc://models/fraud-v1.onnx', drift: { windowRows: 2000 } }, scaling: { minReplicas: 1, maxReplicas: 1 } }));
    await waitForObject(cluster, 'fraud Ready with 1/1 replicas', ['inferenceservice', 'fraud', '-n', NS], (o: any) => o.status?.summary?.replicas === '1/1', 180_000);
    await waitFor('the pod among the endpoints', () => controller.runtime.endpoints({ namespace: NS, service: 'fraud' }).length === 1, 30_000);
  });

  after(async () => {
    await controller?.close();
    await karbCluster?.stop();
  });

  test('traffic like the training data: Drift False', async () => {
    await send(1000);
    const o = await waitForObject(cluster, 'Drift=False', ['inferenceservice', 'fraud', '-n', NS], (x: any) => drift(x)?.status === 'False', 60_000);
    assert.equal(drift(o).reason, 'NoDrift');
  });

  test('one feature shifted: Drift True naming exactly it, and a Drift Warning event', async () => {
    await send(2000, 4);
    const o = await waitForObject(cluster, 'Drift=True', ['inferenceservice', 'fraud', '-n', NS], (x: any) => drift(x)?.status === 'True', 60_000);
    assert.equal(drift(o).reason, 'FeatureDrift');
    assert.equal(/input features: ([^;]+);/.exec(drift(o).message)?.[1], SHIFTED, drift(o).message);
    const events = await waitFor('the Drift event', async () => {
      const list = await getJson(cluster, ['events.events.k8s.io', '-n', NS]);
      const found = list.items.filter((e: any) => e.reason === 'Drift');
      return found.length > 0 ? found : undefined;
    }, 60_000);
    assert.equal(events.length, 1);
    assert.equal(events[0].type, 'Warning');
    assert.match(events[0].note, new RegExp(`^input features drifted: ${SHIFTED} `));
  });
});
