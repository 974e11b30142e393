/**
 * Does a gateway on a cluster slow down as services are added? `karb gateway --kubernetes` (its
 * own process, the gateway's service-account RBAC) on the test cluster routes one service,
 * `probe`, whose revision's endpoint is a real `karb serve` of the fraud model; the latency it
 * adds (through the gateway − straight to the model server, the same open-loop load, alternating
 * rounds) and its memory are measured with 1 InferenceService on the cluster and again with N
 * (default 1,000), which karb controller reconciles into routes the gateway watches.
 *
 * The other services are pinned at zero replicas (`spec.scaling.replicas: 0`): each is a route
 * with a revision and no endpoint, as a service scaled to zero is, and nothing for the test
 * cluster (no kubelet) to run. `probe`'s endpoint is a hand-made EndpointSlice for its revision
 * (the slices the controller-manager makes list pods, and no pod runs here) pointing at the
 * model server on an address of the routable pod network (198.18.254.1 on lo: needs root or
 * CAP_NET_ADMIN, like the test node agent's).
 *
 *   node bench/gateway-services.ts [--services 1000] [--rate 200] [--seconds 5] [--rounds 3] [--json]
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { startController } from '../src/control/kubernetes/controller.ts';
import { GATEWAY_NAME } from '../src/runtime/kubernetes/install.ts';
import { numberFlag } from '../src/util/flags.ts';
import { waitFor } from '../src/util/wait-for.ts';
import { inferenceService, kubectlOk, restrictedNamespace, serviceAccountKubeconfig, startKarbTestCluster } from '../test/kubernetes/support.ts';
import { runLoadClient, type OpenJob, type OpenRound } from './load-client.ts';
import { treeRssMiB } from './peers/proc-tree.ts';
import { CLI, ensureModels, freePort, NODE, percentile, REPO, startChild, stopChild, type Child } from './support.ts';

const role = process.argv[2];
if (role === 'client') runLoadClient();
else await main();

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { services: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, json: { type: 'boolean' } } });
  const services = numberFlag('--services', values.services, 1000, { whole: true, min: 2, max: 5000, expected: 'a number of services from 2 to 5000' });
  const rate = numberFlag('--rate', values.rate, 200, { above: 0, max: 5000, expected: 'requests per second, above 0' });
  const measureMs = numberFlag('--seconds', values.seconds, 5, { above: 0, expected: 'seconds, above 0' }) * 1000;
  const rounds = numberFlag('--rounds', values.rounds, 3, { whole: true, min: 1, max: 20, expected: 'a whole number of rounds' });
  const NS = 'bench';
  const ADDRESS = '198.18.254.1';

  await ensureModels();
  const added = addAddress(ADDRESS);
  const { cluster, dir, kubeconfig, stop } = await startKarbTestCluster({ log: () => {} });
  const children: ChildProcess[] = [];
  let model: Child | undefined;
  let controller: Awaited<ReturnType<typeof startController>> | undefined;
  try {
    await restrictedNamespace(cluster, NS);
    const modelPort = await freePort();
    model = await startChild([CLI, 'serve', '--model', `${REPO}/models/fraud-v1.onnx`, '--name', 'probe', '--host', ADDRESS, '--port', String(modelPort)]);
    controller = await startController({ kubeconfig, namespace: NS, resyncMs: 2000, identity: 'bench', port: 0, host: '127.0.0.1' });
    const gatewayKubeconfig = await serviceAccountKubeconfig(cluster, dir, GATEWAY_NAME);
    const gatewayPort = await freePort();
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const gateway = spawn(NODE, [CLI, 'gateway', '--kubernetes', '--kubeconfig', gatewayKubeconfig, '--namespace', NS, '--controller', controller.url!, '--auth', 'off', '--port', String(gatewayPort), '--metrics-port', String(await freePort())], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(gateway);

    const pinnedAtZero = (name: string) => inferenceService(name, NS, { model: { uri: 'pvc://models/fraud-v1.onnx' }, scaling: { minReplicas: 0, replicas: 0 } });
    await kubectlOk(cluster, ['apply', '-f', '-'], pinnedAtZero('probe'));
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'probe-00001-bench', namespace: NS, labels: { 'kubernetes.io/service-name': 'probe-00001', 'karb.dev/revision': 'probe-00001', 'endpointslice.kubernetes.io/managed-by': 'bench' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: modelPort, protocol: 'TCP' }],
      endpoints: [{ addresses: [ADDRESS], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'probe-bench', namespace: NS } }],
    };
    await kubectlOk(cluster, ['apply', '-f', '-'], stringify(slice));
    const body = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200] }] });
    await waitFor('the gateway to route probe', async () => (await fetch(`${gatewayUrl}/v2/models/probe/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.status).catch(() => 0)) === 200, 60_000, 200);

    const client = fork(fileURLToPath(import.meta.url), ['client'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(client);
    const run = (url: string, seed: number): Promise<OpenRound> =>
      new Promise((resolve, reject) => {
        client.once('message', (m) => resolve(m as OpenRound));
        client.once('exit', (code) => reject(new Error(`load client exited ${code}`)));
        const job: OpenJob = { kind: 'open', url: `${url}/v2/models/probe/infer`, headers: { 'content-type': 'application/json' }, body, rate, warmupMs: 2000, measureMs, seed, timeoutMs: 10_000 };
        client.send(job);
      });
    const measure = async (label: string) => {
      const direct: number[] = [];
      const through: number[] = [];
      let errors = 0;
      for (let r = 0; r < rounds; r++) {
        for (const [into, url] of [[direct, model!.url.replace('127.0.0.1', ADDRESS)], [through, gatewayUrl]] as const) {
          const result = await run(url, 7 + r);
          into.push(...result.latencies);
          errors += result.errors + result.dropped;
        }
      }
      const p = percentile;
      return {
        label,
        errors,
        direct: { p50: p(direct, 0.5), p99: p(direct, 0.99) },
        gateway: { p50: p(through, 0.5), p99: p(through, 0.99) },
        addedMs: { p50: p(through, 0.5) - p(direct, 0.5), p99: p(through, 0.99) - p(direct, 0.99) },
        gatewayRssMiB: treeRssMiB(gateway.pid!),
      };
    };

    const one = await measure('1 service');
    const t0 = performance.now();
    for (let from = 1; from < services; from += 100) {
      const batch = Array.from({ length: Math.min(100, services - from) }, (_, i) => pinnedAtZero(`svc-${String(from + i).padStart(4, '0')}`));
      await kubectlOk(cluster, ['apply', '-f', '-'], batch.join('---\n'));
    }
    const last = `svc-${String(services - 1).padStart(4, '0')}`;
    await waitFor(`the gateway to route all ${services} services`, async () => {
      const res = await fetch(`${gatewayUrl}/v2/models/${last}/ready`).catch(() => undefined);
      await res?.arrayBuffer();
      return res !== undefined && res.status !== 404 ? true : undefined;
    }, 900_000, 500);
    const routedAfterS = (performance.now() - t0) / 1000;
    const many = await measure(`${services} services`);
    const report = {
      machine: `${process.platform} ${process.arch}, node ${process.version}`,
      services,
      rate,
      measureSeconds: measureMs / 1000,
      rounds,
      routedAfterSeconds: Math.round(routedAfterS),
      results: [one, many],
      ratio: { addedP50: many.addedMs.p50 / one.addedMs.p50, addedP99: many.addedMs.p99 / one.addedMs.p99, rss: many.gatewayRssMiB / one.gatewayRssMiB },
      rssPerServiceKiB: ((many.gatewayRssMiB - one.gatewayRssMiB) * 1024) / (services - 1),
    };
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      const f = (x: number) => x.toFixed(2);
      process.stdout.write(`gateway --kubernetes, open loop at ${rate}/s, ${rounds} × ${measureMs / 1000} s per target, ${report.machine}\n`);
      process.stdout.write(`services | direct p50/p99 ms | gateway p50/p99 ms | added p50/p99 ms | gateway RSS MiB | errors\n`);
      for (const r of [one, many]) process.stdout.write(`${r.label} | ${f(r.direct.p50)} / ${f(r.direct.p99)} | ${f(r.gateway.p50)} / ${f(r.gateway.p99)} | ${f(r.addedMs.p50)} / ${f(r.addedMs.p99)} | ${r.gatewayRssMiB.toFixed(1)} | ${r.errors}\n`);
      process.stdout.write(`all ${services} routed ${report.routedAfterSeconds} s after the first apply; added latency ×${f(report.ratio.addedP50)} (p50), ×${f(report.ratio.addedP99)} (p99); RSS +${report.rssPerServiceKiB.toFixed(1)} KiB per service\n`);
    }
  } finally {
    for (const child of children) await stopChild(child);
    await model?.stop();
    await controller?.close();
    await stop();
    if (added) removeAddress(ADDRESS);
  }
}

/** Puts `address` on lo for the model server; false when it was there already (then it stays). */
function addAddress(address: string): boolean {
  try {
    execFileSync('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo'], { stdio: 'pipe' });
    return true;
  } catch (err) {
    const text = String((err as { stderr?: Buffer }).stderr ?? err);
    if (/File exists/.test(text)) return false;
    throw new Error(`the model server listens on ${address}, a routable address an EndpointSlice can hold; adding it to lo failed (it needs iproute2 and root or CAP_NET_ADMIN): ${text.trim()}`);
  }
}

function removeAddress(address: string): void {
  try {
    execFileSync('ip', ['addr', 'del', `${address}/32`, 'dev', 'lo'], { stdio: 'pipe' });
  } catch {
    // already gone
  }
}
