/**
 * What `karb controller` asks of the API server: the requests it makes to bring N freshly
 * applied InferenceServices into being (per service), and the requests it makes afterwards while
 * nothing changes (target: no writes, and no reads outside its watch caches), on the test cluster
 * (test/cluster: kube-apiserver, controller-manager, scheduler and etcd from the official
 * modules; no kubelet, so pods stay Pending and the controller's work is the objects).
 *
 *   node bench/controller-api-calls.ts [--services 20] [--idle 30s] [--json]
 */
import { parseArgs } from 'node:util';
import { startController } from '../src/control/kubernetes/controller.ts';
import { durationFlag, numberFlag } from '../src/util/flags.ts';
import { waitFor } from '../src/util/wait-for.ts';
import { inferenceService, kubectlOk, restrictedNamespace, startKarbTestCluster } from '../test/kubernetes/support.ts';

const { values } = parseArgs({ options: { services: { type: 'string' }, idle: { type: 'string' }, json: { type: 'boolean' } } });
const services = numberFlag('--services', values.services, 20, { whole: true, min: 1, max: 500, expected: 'a number of services from 1 to 500' });
const idleMs = durationFlag('--idle', values.idle, 30_000, { min: 1000, minText: '1s' });
const RESYNC_MS = 1000;
const NS = 'bench';

const { cluster, kubeconfig, stop } = await startKarbTestCluster({ log: () => {} });
try {
  await restrictedNamespace(cluster, NS);
  const controller = await startController({ kubeconfig, namespace: NS, resyncMs: RESYNC_MS, identity: 'bench' });
  const atStart = controller.client.calls();

  const manifests = Array.from({ length: services }, (_, i) => inferenceService(`svc-${String(i).padStart(3, '0')}`, NS, { model: { uri: 'pvc://models/fraud-v1.onnx' }, scaling: { minReplicas: 1 } }));
  await kubectlOk(cluster, ['apply', '-f', '-'], manifests.join('---\n'));
  // Settled: every service has its Deployment and a status of its generation, and a pass writes nothing more.
  await waitFor(
    'every service reconciled',
    () => controller.store.listServices(NS).filter((s) => s.status.observedGeneration === s.metadata.generation).length === services && controller.runtime.revisions().length === services,
    300_000,
    250,
  );
  // The autoscaling loop's first decisions come a few periods after a service appears: settled
  // means ten seconds without a write.
  let settled = controller.client.calls();
  await waitFor(
    'ten seconds without a write',
    async () => {
      await new Promise((r) => setTimeout(r, 10_000));
      await controller.sync();
      const now = controller.client.calls();
      const quiet = now.writes === settled.writes;
      settled = now;
      return quiet;
    },
    300_000,
  );

  const idleStart = controller.client.calls();
  await new Promise((r) => setTimeout(r, idleMs));
  await controller.sync();
  const idleEnd = controller.client.calls();
  await controller.close();

  const delta = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].sort().map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]));
  const bringUp = delta(atStart.byVerb, idleStart.byVerb);
  const idle = delta(idleStart.byVerb, idleEnd.byVerb);
  const report = {
    machine: `${process.platform} ${process.arch}, node ${process.version}`,
    services,
    resyncMs: RESYNC_MS,
    bringUp: { byVerb: bringUp, writesPerService: (idleStart.writes - atStart.writes) / services },
    idle: { seconds: idleMs / 1000, passes: Math.floor(idleMs / RESYNC_MS), byVerb: idle, writes: idleEnd.writes - idleStart.writes },
  };
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(`bring-up of ${services} services: ${JSON.stringify(bringUp)} (${report.bringUp.writesPerService.toFixed(1)} writes per service)\n`);
    process.stdout.write(`idle for ${idleMs / 1000} s (${report.idle.passes} passes): ${JSON.stringify(idle)} — writes ${report.idle.writes}\n`);
  }
} finally {
  await stop();
}
