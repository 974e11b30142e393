/**
 * karb's data plane on the test cluster (test/cluster: kube-apiserver, controller-manager,
 * scheduler and etcd from the official modules; the test node agent stands in for a kubelet and
 * runs karb's pods as processes on addresses EndpointSlices can hold). `karb controller` runs
 * with the controller's service-account RBAC; two `karb gateway --kubernetes` processes run with
 * the gateway's. Requests enter a gateway with an API key made by `karb keys create --kubernetes`,
 * reach model pods the controller made, scale with load to zero and back, and move between
 * revisions in a canary that rolls itself back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { startController, type RunningController } from '../../src/control/kubernetes/controller.ts';
import { GATEWAY_NAME } from '../../src/runtime/kubernetes/install.ts';
import { MODEL_MOUNT_PATH } from '../../src/runtime/kubernetes/model-source.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/runtime/kubernetes/options.ts';
import { createHttpSender, runOpenLoop } from '../../src/loadgen/runner.ts';
import { generatedSchedule } from '../../src/loadgen/schedule.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { fraudRequest, karb, startGateway, startProbe, waitFor, type GatewayProcess, type ProbeReport } from '../helpers.ts';
import { errorsOf, TEST_ANALYSIS } from '../rollout-support.ts';
import { createApiKey, getJson, inClusterGatewayArgs, inferenceService, kubectlOk, startServingCluster, waitForObject, type KarbTestCluster } from './support.ts';

const NS = 'serving';
const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];

/** karb's own server started as the container's command, so faults can be injected with `flags`. */
const servedBy = (name: string, flags: string[]) => ({
  uri: 'pvc://models/fraud-v1.onnx',
  format: 'oip',
  image: DEFAULT_CLUSTER_OPTIONS.image,
  command: ['karb', 'serve', '--model', `${MODEL_MOUNT_PATH}/fraud-v1.onnx`, '--name', name, '--port', '$PORT', '--host', '0.0.0.0', '--max-delay-ms', '1', ...flags],
  readinessPath: `/v2/models/${name}/ready`,
});

describe('karb on a cluster serves: gateways on EndpointSlices, scaling and rollouts through the API server', { timeout: 900_000 }, () => {
  let karbCluster: KarbTestCluster;
  let cluster: TestCluster;
  let controller: RunningController;
  const gateways: GatewayProcess[] = [];
  let key = '';
  let gatewayArgs: string[] = [];

  const infer = (gateway: GatewayProcess, name: string, rows: number[][], headers: Record<string, string> = { authorization: `Bearer ${key}` }) =>
    fetch(`${gateway.url}/v2/models/${name}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: fraudRequest(rows) });
  const service = (name: string) => getJson(cluster, ['inferenceservice', name, '-n', NS]);
  /** Applies a service and waits until its one replica is ready and a gateway routes to it. */
  const deploy = async (name: string, spec: Record<string, unknown>): Promise<void> => {
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService(name, NS, spec));
    await waitForObject(cluster, `${name} Ready`, ['inferenceservice', name, '-n', NS], (o: any) => o.status?.summary?.replicas === '1/1', 180_000);
    await waitFor(`the gateway to route ${name}`, async () => (await infer(gateways[0]!, name, [ROW])).status === 200, 30_000, 200);
  };

  before(async () => {
    karbCluster = await startServingCluster(NS);
    cluster = karbCluster.cluster;
    const logFile = join(karbCluster.dir, 'controller.log');
    // Its port on loopback: the gateways reach it by address (the test cluster runs no kube-proxy).
    controller = await startController({ kubeconfig: karbCluster.kubeconfig, namespace: NS, resyncMs: 500, identity: 'controller-data-plane', port: 0, host: '127.0.0.1', log: (r) => appendFileSync(logFile, `${JSON.stringify(r)}\n`) });
    gatewayArgs = await inClusterGatewayArgs(karbCluster, NS, controller.url!);
    for (let i = 0; i < 2; i++) gateways.push(await startGateway(karbCluster.dir, gatewayArgs));
    key = await createApiKey(cluster, NS);
  });

  after(async () => {
    for (const g of gateways) await g.stop();
    await controller?.close();
    await karbCluster?.stop();
  });

  test('apply → pods on the node → an OIP v2 request through either gateway, with a key from karb keys --kubernetes, is answered by the model', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('fraud', NS, { model: { uri: 'pvc://models/fraud-v1.onnx' }, scaling: { minReplicas: 2, maxReplicas: 4 } }));
    await waitForObject(cluster, 'fraud Ready with 2/2 replicas', ['inferenceservice', 'fraud', '-n', NS], (o: any) => o.status?.summary?.replicas === '2/2', 180_000);
    // The gateways learn of the endpoints by watch; the first answer may come a moment after Ready.
    const answer = async (gateway: GatewayProcess, rows: number[][]): Promise<number[]> => {
      const res = await waitFor(`an answer through ${gateway.url}`, async () => {
        const r = await infer(gateway, 'fraud', rows);
        if (r.status === 200) return r;
        await r.arrayBuffer();
        return undefined;
      }, 30_000, 200);
      assert.equal(res.headers.get('x-karb-revision'), 'fraud-00001');
      const body = (await res.json()) as { model_name: string; outputs: Array<{ name: string; data: number[] }> };
      assert.equal(body.model_name, 'fraud');
      return body.outputs.find((o) => o.name === 'probability')!.data;
    };
    const low = await answer(gateways[0]!, [[1, 2, 0, 0.1, 0, 0, 0, 10]]);
    const high = await answer(gateways[1]!, [[4800, 3, 1, 40, 1, 1, 0, 9000]]);
    assert.equal(low.length, 1);
    assert.ok(low.every((p) => p >= 0 && p <= 1) && high.every((p) => p >= 0 && p <= 1));
    assert.notEqual(low[0], high[0], 'the answer moves with the input');
    assert.deepEqual(await answer(gateways[1]!, [[1, 2, 0, 0.1, 0, 0, 0, 10]]), low, 'the same input, the same answer, whichever gateway and replica');

    const anonymous = await infer(gateways[0]!, 'fraud', [ROW], {});
    assert.equal(anonymous.status, 401, await anonymous.text());
    const forged = await infer(gateways[0]!, 'fraud', [ROW], { authorization: `Bearer ${key.slice(0, -4)}AAAA` });
    assert.equal(forged.status, 401, await forged.text());
  });

  test('a canary with 20% injected errors is rolled back by analysis on the gateways’ reports; clients see no more errors than its share', async (t) => {
    const rollout = { steps: [{ weight: 20, pause: '60s' }], analysis: TEST_ANALYSIS };
    const spec = (flags: string[]) => ({ model: servedBy('canary', flags), scaling: { minReplicas: 1, maxReplicas: 2 }, rollout });
    await deploy('canary', spec([]));

    const probe = startProbe(`${gateways[0]!.url}/v2/models/canary/infer`, { headers: { authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) }, 20);
    let report: ProbeReport;
    let failed: any;
    try {
      await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('canary', NS, spec(['--inject-error-rate', '0.2'])));
      failed = await waitForObject(cluster, 'the canary rollout to fail', ['inferenceservice', 'canary', '-n', NS], (o: any) => ['Failed', 'Succeeded'].includes(o.status?.rollout?.phase), 240_000);
    } finally {
      report = await probe.stop();
    }
    t.diagnostic(`${report.sent} sent, ${errorsOf(report)} errors, ${report.revisions.get('canary-00002') ?? 0} answered by the canary; ${failed.status.rollout.message}`);
    assert.equal(failed.status.rollout.phase, 'Failed', JSON.stringify(failed.status.rollout));
    assert.equal(failed.status.rollout.reason, 'AnalysisFailed', failed.status.rollout.message);
    assert.match(failed.status.rollout.message, /^analysis failed: error rate/);
    assert.ok(failed.status.rollout.judgements <= 2, `failed within two analysis intervals of judging (${failed.status.rollout.judgements})`);
    assert.equal(failed.status.stableRevision, 'canary-00001');
    assert.deepEqual(failed.status.revisions.find((r: any) => r.name === 'canary-00001')?.traffic, 100);
    const canaryServed = report.revisions.get('canary-00002') ?? 0;
    assert.ok(canaryServed > 0, 'the canary took traffic through the gateway before it was judged');
    assert.ok(errorsOf(report) <= 0.2 * report.sent, `${errorsOf(report)} errors of ${report.sent} exceed the canary's 20% share`);
    assert.equal(report.statuses.get(0) ?? 0, 0, 'no request lost');

    // The gateways took the weights back from status: nothing reaches the canary any more.
    await waitFor('no answers from the canary', async () => {
      const q = startProbe(`${gateways[1]!.url}/v2/models/canary/infer`, { headers: { authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) }, 20);
      await new Promise((r) => setTimeout(r, 1000));
      const after = await q.stop();
      return (after.revisions.get('canary-00002') ?? 0) === 0 && errorsOf(after) === 0 ? true : undefined;
    }, 20_000, 0);
    const events = await kubectlOk(cluster, ['get', 'events.events.k8s.io', '-n', NS, '--field-selector', 'regarding.name=canary', '-o', 'jsonpath={range .items[*]}{.reason}{"\\n"}{end}']);
    assert.match(events, /RolloutFailed/);
  });

  test('blue-green: green is reachable by its preview header only, judged on the traffic the gateways mirror to it, then switched to at once', async () => {
    const rollout = { strategy: 'blue-green', previewFor: '3s', mirrorPercent: 100, scaleDownDelay: '60s', analysis: { ...TEST_ANALYSIS, minRequests: 20 } };
    const spec = (file: string) => ({ model: { uri: `pvc://models/${file}` }, scaling: { minReplicas: 1, maxReplicas: 2 }, rollout });
    await deploy('bg', spec('fraud-v1.onnx'));
    const probe = startProbe(`${gateways[0]!.url}/v2/models/bg/infer`, { headers: { authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) }, 20);
    let report: ProbeReport;
    let switched: any;
    try {
      await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('bg', NS, spec('fraud-v2.onnx')));
      const previewing = await waitForObject(cluster, 'bg previewing green', ['inferenceservice', 'bg', '-n', NS], (o: any) => o.status?.rollout?.phase === 'Previewing' && o.status?.mirror?.revision === 'bg-00002', 120_000);
      assert.deepEqual(previewing.status.mirror, { revision: 'bg-00002', percent: 100 });
      assert.deepEqual(previewing.status.conditions.find((c: any) => c.type === 'RolloutProgressing')?.status, 'True', 'kubectl wait --for=condition=RolloutProgressing sees a preview as progress');
      const preview = await waitFor('the preview route to reach green', async () => {
        const res = await infer(gateways[1]!, 'bg', [ROW], { authorization: `Bearer ${key}`, 'x-karb-revision': 'bg-00002' });
        await res.arrayBuffer();
        return res.status === 200 ? res : undefined;
      }, 30_000, 200);
      assert.equal(preview.headers.get('x-karb-revision'), 'bg-00002');
      assert.equal(probe.report().revisions.get('bg-00002') ?? 0, 0, 'no client request reached green before the switch');
      switched = await waitForObject(cluster, 'the switch', ['inferenceservice', 'bg', '-n', NS], (o: any) => ['Succeeded', 'Failed'].includes(o.status?.rollout?.phase), 120_000);
      await waitFor('green to serve clients', async () => ((probe.report().revisions.get('bg-00002') ?? 0) > 20 ? true : undefined), 30_000);
    } finally {
      report = await probe.stop();
    }
    assert.equal(switched.status.rollout.phase, 'Succeeded', JSON.stringify(switched.status.rollout));
    assert.equal(switched.status.stableRevision, 'bg-00002');
    const judged = switched.status.rollout.lastAnalysis;
    assert.ok(judged && judged.canary.requests >= 20, `green was judged on mirrored requests: ${JSON.stringify(judged)}`);
    assert.ok(switched.status.revisions.some((r: any) => r.name === 'bg-00001' && r.traffic === 0), 'blue stays warm, without traffic');
    assert.equal(switched.status.mirror, undefined, 'no mirror once switched');
    assert.equal(errorsOf(report), 0, `every request answered: ${JSON.stringify([...report.statuses])}`);
  });

  test('the controller’s port takes reports only from the gateway’s service account, only while it leads', async () => {
    const post = (path: string, token?: string) =>
      fetch(`${controller.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify({ gateway: 'x', revisions: [], services: [] }) });
    const anonymous = await post('/api/v1/signals');
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as any).error.code, 'UNAUTHENTICATED');
    const bogus = await post('/api/v1/signals', 'not-a-token');
    assert.equal(bogus.status, 401, 'the API server’s TokenReview refuses it');
    await bogus.arrayBuffer();
    // The controller's own account is authenticated, but it is not a gateway.
    const controllerToken = (await kubectlOk(cluster, ['create', 'token', 'karb-controller', '-n', 'karb-system', '--duration=10m'])).trim();
    const forbidden = await post('/api/v1/signals', controllerToken);
    assert.equal(forbidden.status, 403);
    assert.match(((await forbidden.json()) as any).error.message, /system:serviceaccount:karb-system:karb-controller may not call this API; only system:serviceaccount:karb-system:karb-gateway may/);
    const gatewayToken = (await kubectlOk(cluster, ['create', 'token', GATEWAY_NAME, '-n', 'karb-system', '--duration=10m'])).trim();
    const unknown = await post(`/api/v1/services/nope/activate?namespace=${NS}`, gatewayToken);
    assert.equal(unknown.status, 404);
    await unknown.arrayBuffer();
    const badReport = await fetch(`${controller.url}/api/v1/signals`, { method: 'POST', headers: { authorization: `Bearer ${gatewayToken}` }, body: '{"gateway":' });
    assert.equal(badReport.status, 400);
    assert.equal(((await badReport.json()) as any).error.code, 'INVALID_SIGNAL_REPORT');
    assert.equal((await fetch(`${controller.url}/readyz`)).status, 200, 'ready: it leads');
  });

  test('a revoked key (karb keys revoke --kubernetes) is refused by the gateways once their cached record expires; karb keys list shows it revoked', async () => {
    const created = await karb(['keys', 'create', '--kubernetes', '--kubeconfig', cluster.kubeconfig, '--namespace', NS, '--services', 'fraud', '--name', 'short-lived']);
    assert.equal(created.code, 0, created.stderr);
    const shortLived = created.stdout.trim();
    // The secret part may itself hold underscores (base64url): everything after the id.
    const [, id, secretPart] = /^karb_([0-9a-f]{16})_(.+)$/.exec(shortLived)! as unknown as [string, string, string];
    assert.equal((await infer(gateways[0]!, 'fraud', [ROW], { authorization: `Bearer ${shortLived}` })).status, 200);
    const outOfScope = await infer(gateways[0]!, 'canary', [ROW], { authorization: `Bearer ${shortLived}` });
    assert.equal(outOfScope.status, 403, 'its service allowlist holds on the cluster too');
    const revoked = await karb(['keys', 'revoke', id, '--kubernetes', '--kubeconfig', cluster.kubeconfig]);
    assert.equal(revoked.code, 0, revoked.stderr);
    await waitFor('the gateways to refuse the revoked key', async () => {
      const statuses = await Promise.all(gateways.map(async (g) => (await infer(g, 'fraud', [ROW], { authorization: `Bearer ${shortLived}` })).status));
      return statuses.every((status) => status === 401) ? true : undefined;
    }, 30_000, 250);
    const listed = await karb(['keys', 'list', '--kubernetes', '--kubeconfig', cluster.kubeconfig]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${id}\\s+short-lived\\s+${NS}\\s+fraud\\s.*revoked`));
    const secret = await getJson(cluster, ['secret', `karb-key-${id}`, '-n', 'karb-system']);
    assert.ok(secretPart.length >= 20 && !JSON.stringify(secret).includes(secretPart), 'the Secret holds the hash, never the key');
  });

  test('a rollout survives a controller restart mid-way, and the gateways keep serving its split while no controller runs', async () => {
    const rollout = { steps: [{ weight: 50, pause: '6s' }], analysis: { ...TEST_ANALYSIS, minRequests: 10 } };
    const spec = (file: string) => ({ model: { uri: `pvc://models/${file}` }, scaling: { minReplicas: 1, maxReplicas: 2 }, rollout });
    await deploy('restart', spec('fraud-v1.onnx'));
    const probe = startProbe(`${gateways[0]!.url}/v2/models/restart/infer`, { headers: { authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) }, 20);
    try {
      await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('restart', NS, spec('fraud-v2.onnx')));
      await waitForObject(cluster, 'the canary at 50%', ['inferenceservice', 'restart', '-n', NS], (o: any) => o.status?.rollout?.phase === 'Progressing' && o.status.revisions?.find((r: any) => r.name === 'restart-00002')?.traffic === 50, 120_000);
      const port = Number(new URL(controller.url!).port);
      await controller.close();
      // No controller: the gateways route by what the cluster holds, both revisions answering.
      const meanwhile = startProbe(`${gateways[1]!.url}/v2/models/restart/infer`, { headers: { authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) }, 20);
      await new Promise((r) => setTimeout(r, 2000));
      const down = await meanwhile.stop();
      assert.equal(errorsOf(down), 0, JSON.stringify([...down.statuses]));
      assert.ok((down.revisions.get('restart-00001') ?? 0) > 0 && (down.revisions.get('restart-00002') ?? 0) > 0, JSON.stringify([...down.revisions]));
      const logFile = join(karbCluster.dir, 'controller.log');
      controller = await startController({ kubeconfig: karbCluster.kubeconfig, namespace: NS, resyncMs: 500, identity: 'controller-restarted', port, host: '127.0.0.1', log: (r) => appendFileSync(logFile, `${JSON.stringify(r)}\n`) });
      const done = await waitForObject(cluster, 'the rollout to finish', ['inferenceservice', 'restart', '-n', NS], (o: any) => ['Succeeded', 'Failed'].includes(o.status?.rollout?.phase), 180_000);
      assert.equal(done.status.rollout.phase, 'Succeeded', JSON.stringify(done.status.rollout));
      assert.equal(done.status.stableRevision, 'restart-00002');
    } finally {
      const report = await probe.stop();
      assert.equal(errorsOf(report), 0, `no request failed across the restart: ${JSON.stringify([...report.statuses])}`);
    }
    await waitFor('only the new revision answers', async () => {
      const q = startProbe(`${gateways[1]!.url}/v2/models/restart/infer`, { headers: { authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) }, 20);
      await new Promise((r) => setTimeout(r, 500));
      const after = await q.stop();
      return after.sent > 0 && (after.revisions.get('restart-00002') ?? 0) === after.sent ? true : undefined;
    }, 30_000, 0);
  });

  test('open-loop load → GASCL adds replicas through the Deployment → load stops → scale to zero → a request is held while a pod starts, and answered', async (t) => {
    // minReplicas 0: one replica is kept warm until the autoscaler's first decision.
    await deploy('scaler', {
      model: servedBy('scaler', ['--inject-latency-ms', '50']),
      slo: { latencyP95Ms: 250, coldStartMs: 60000 },
      scaling: { policy: 'gascl', minReplicas: 0, maxReplicas: 3, targetConcurrency: 1, scaleToZeroAfter: '10s', stabilization: { upSeconds: 0, downSeconds: 5 } },
    });

    const sender = createHttpSender(
      { url: `${gateways[0]!.url}/v2/models/scaler/infer`, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: fraudRequest([ROW]) },
      { connections: 64, timeoutMs: 60_000 },
    );
    const load = runOpenLoop({ schedule: generatedSchedule({ shape: 'constant', rate: 40 }, { durationMs: 25_000, seed: 7 }), send: sender.send });
    let scaled: any;
    try {
      scaled = await waitForObject(cluster, 'the Deployment scaled past one replica', ['deployment', 'scaler-00001', '-n', NS], (d: any) => (d.spec?.replicas ?? 0) >= 2, 60_000);
    } finally {
      const result = await load;
      await sender.close();
      // The gateway sheds with 503 + Retry-After while capacity is added; nothing else may fail.
      assert.ok(result.totals.ok > 0);
      assert.deepEqual(Object.keys(result.totals.errorsByCode).filter((code) => code !== '503'), [], JSON.stringify(result.totals.errorsByCode));
    }
    assert.ok(scaled.spec.replicas >= 2);
    const decided = await service('scaler');
    assert.ok(decided.status.controllerState?.autoscaler || decided.status.autoscaler, 'the decision is in status');

    await waitForObject(cluster, 'scale to zero after the idle period', ['inferenceservice', 'scaler', '-n', NS], (o: any) => o.status?.autoscaler?.reason === 'ScaleToZero' && o.status?.summary?.replicas === '0/0', 120_000);
    const zero = await service('scaler');
    assert.deepEqual(zero.status.conditions.filter((c: any) => c.type === 'Ready').map((c: any) => [c.status, c.reason]), [['True', 'ScaledToZero']]);
    await waitFor('no Deployment at zero', async () => (await cluster.kubectl(['get', 'deployment', 'scaler-00001', '-n', NS])).code !== 0, 30_000);

    // Held at the gateway, which asks the controller (with its service-account token) for a replica.
    const t0 = Date.now();
    const res = await infer(gateways[1]!, 'scaler', [ROW]);
    assert.equal(res.status, 200, await res.clone().text());
    t.diagnostic(`held request answered after ${Date.now() - t0} ms (0→1 through the API server, the scheduler and the node)`);
    const body = (await res.json()) as { outputs: Array<{ name: string }> };
    assert.ok(body.outputs.some((o) => o.name === 'probability'));
    const events = await kubectlOk(cluster, ['get', 'events.events.k8s.io', '-n', NS, '--field-selector', 'regarding.name=scaler', '-o', 'jsonpath={range .items[*]}{.reason}{" "}{.note}{"\\n"}{end}']);
    assert.match(events, /ScaleToZero/);
    assert.match(events, /→/, 'scale decisions with their reasons');
  });

  test('one gateway and one model pod killed under steady load: at least 99.9% of idempotent requests succeed', async (t) => {
    await waitForObject(cluster, 'fraud at 2/2', ['inferenceservice', 'fraud', '-n', NS], (o: any) => o.status?.summary?.replicas === '2/2', 120_000);
    // A client of two gateways (as behind a Service): a request that finds its gateway gone is sent once more to the other.
    let sent = 0;
    let ok = 0;
    const failures = new Map<string, number>();
    const inFlight = new Set<Promise<void>>();
    const live = [...gateways];
    const once = async (i: number): Promise<number> => {
      try {
        const res = await infer(live[i % live.length]!, 'fraud', [ROW]);
        await res.arrayBuffer();
        return res.status;
      } catch {
        return 0;
      }
    };
    const fire = () => {
      const i = sent++;
      const p = (async () => {
        let status = await once(i);
        if (status === 0) status = await once(i + 1);
        if (status === 200) ok++;
        else failures.set(String(status), (failures.get(String(status)) ?? 0) + 1);
      })().finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    const timer = setInterval(fire, 10);
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const victim = gateways[1]!;
      victim.child.kill('SIGKILL');
      await victim.stop();
      live.splice(live.indexOf(victim), 1);
      await new Promise((r) => setTimeout(r, 1000));
      const pod = cluster.nodeAgent!.processes().find((p) => p.namespace === NS && p.pod.startsWith('fraud-00001-'))!;
      process.kill(pod.pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 6000));
    } finally {
      clearInterval(timer);
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    }
    gateways.splice(1, 1, await startGateway(karbCluster.dir, gatewayArgs));
    t.diagnostic(`${ok} of ${sent} succeeded; failures ${JSON.stringify(Object.fromEntries(failures))}`);
    assert.ok(sent > 500, `${sent} requests`);
    assert.ok(ok / sent >= 0.999, `${ok} of ${sent} succeeded; failures ${JSON.stringify(Object.fromEntries(failures))}`);
  });
});
