/**
 * The Kubernetes store against the Store conformance suite, on the test cluster, through the
 * controller's own service-account token: the API server is the store, and what the store wrote is
 * read back at once, as from SQLite, while its writes reach the API server behind.
 */
import { after, before } from 'node:test';
import { KubernetesStore } from '../../src/control/kubernetes/kubernetes-store.ts';
import { describeStore } from '../../src/control/store-conformance.ts';
import type { Store } from '../../src/control/store.ts';
import { KubeClient } from '../../src/runtime/kubernetes/api-client.ts';
import { waitFor } from '../../src/util/wait-for.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { kubectlOk, startKarbTestCluster, type KarbTestCluster } from './support.ts';

const NAMESPACES = ['default', 'team-x'];
let karb: KarbTestCluster;
let cluster: TestCluster;
let client: KubeClient;

before(async () => {
  karb = await startKarbTestCluster();
  cluster = karb.cluster;
  client = await KubeClient.connect(karb.kubeconfig);
  await kubectlOk(cluster, ['create', 'namespace', 'team-x']);
});

after(async () => {
  await client?.close();
  await karb?.stop();
});

/** Nothing of karb's left in the test's namespaces: services deleted, their revisions collected. */
async function emptyCluster(): Promise<void> {
  for (const ns of NAMESPACES) await kubectlOk(cluster, ['delete', 'inferenceservices', '--all', '-n', ns, '--wait=true']);
  await waitFor(
    'the revisions collected',
    async () => {
      const left = await Promise.all(NAMESPACES.map((ns) => kubectlOk(cluster, ['get', 'inferenceservices,controllerrevisions', '-n', ns, '-o', 'name'])));
      return left.every((l) => l.trim() === '');
    },
    120_000,
    250,
  );
}

describeStore('kubernetes', {
  async create(clock) {
    const store = await KubernetesStore.start({ client, clock, instance: 'store-conformance' });
    // The suite closes the store before its cleanup; the cleanup first lets every write land.
    const view = new Proxy(store, {
      get: (target, prop) => {
        if (prop === 'close') return () => {};
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as Store;
    return {
      store: view,
      async cleanup() {
        await store.flush();
        store.close();
        await emptyCluster();
      },
    };
  },
});
