/**
 * The Kubernetes runtime against the Runtime conformance suite, on the test cluster with the test
 * node agent running its pods (karb serve on the example model from a PersistentVolume), through
 * the controller's own service-account token. Its pods outlive it and the test cluster has no
 * metrics API: both declared as traits.
 */
import { after, before } from 'node:test';
import { KubeClient } from '../../src/runtime/kubernetes/api-client.ts';
import { KubernetesRuntime } from '../../src/runtime/kubernetes/kubernetes-runtime.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/runtime/kubernetes/options.ts';
import { describeRuntime } from '../../src/runtime/runtime-conformance.ts';
import { ensureModels } from '../../src/serving/test-helpers.ts';
import { waitFor } from '../../src/util/wait-for.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { getJson, inferenceService, kubectlOk, modelsVolume, startKarbTestCluster, type KarbTestCluster } from './support.ts';

const NS = 'default';
let karb: KarbTestCluster;
let cluster: TestCluster;
let client: KubeClient;
let owner: { uid: string; labels: Record<string, string> };

before(async () => {
  await ensureModels();
  karb = await startKarbTestCluster({ nodeAgent: true });
  cluster = karb.cluster;
  client = await KubeClient.connect(karb.kubeconfig);
  await modelsVolume(cluster, NS);
  // The suite's service `echo`: its pods' identity, and the owner of what the runtime applies.
  await kubectlOk(cluster, ['create', 'serviceaccount', 'echo', '-n', NS]);
  await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('echo', NS, { model: { uri: 'pvc://models/fraud-v1.onnx' } }));
  owner = { uid: (await getJson(cluster, ['inferenceservice', 'echo', '-n', NS])).metadata.uid, labels: {} };
});

after(async () => {
  await client?.close();
  await karb?.stop();
});

const pods = async () => (await getJson(cluster, ['pods', '-n', NS, '-l', 'karb.dev/service=echo'])).items as Array<{ metadata: { deletionTimestamp?: string } }>;

describeRuntime(
  'kubernetes',
  {
    async create(t) {
      const runtime = await KubernetesRuntime.start({ client, cluster: DEFAULT_CLUSTER_OPTIONS, namespace: NS, owner: () => owner });
      t.after(async () => {
        await runtime.close();
        // What the test left runs in the cluster: remove it before the next test starts afresh.
        await kubectlOk(cluster, ['delete', 'deployments,services', '-n', NS, '-l', 'karb.dev/service=echo', '--wait=true']);
        await waitFor('the test’s pods gone', async () => (await pods()).length === 0, 120_000, 250);
      });
      return {
        runtime,
        template: (revision, { ready = true } = {}) => ({
          revision,
          service: 'echo',
          namespace: NS,
          model: { format: 'onnx', name: 'echo', uri: 'pvc://models/fraud-v1.onnx', batching: { maxBatchSize: 8, maxDelayMs: 2 }, ...(ready ? {} : { readinessPath: '/never-ready' }) },
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
          drainSeconds: 1,
        }),
        // Stopped pods are gone once the cluster no longer lists one being deleted.
        settled: () => waitFor('the stopping pods gone', () => runtime.replicas().every((r) => r.phase !== 'Draining' && r.phase !== 'Stopped'), 120_000, 250).then(() => undefined),
      };
    },
  },
  { closeStopsReplicas: false, measuresUsage: false },
);
