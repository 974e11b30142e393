/**
 * `karb controller` against a real kube-apiserver, kube-controller-manager and kube-scheduler
 * (test/cluster), running with exactly the RBAC `karb install` ships (a service-account token,
 * not the admin's certificate). There is no kubelet: pods are created and admitted (Pod Security
 * "restricted") but never run, so services stay at 0 ready replicas here.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { containsDesired } from '../../src/runtime/kubernetes/contains.ts';
import { appendFileSync, closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startController, type RunningController } from '../../src/control/kubernetes/controller.ts';
import { AUTOSCALER_PERIOD_MS } from '../../src/control/autoscaling-loop.ts';
import { waitFor } from '../../src/util/wait-for.ts';
import { ensureModels } from '../../src/serving/test-helpers.ts';
import { freePort } from '../../src/util/free-port.ts';
import type { TestCluster } from '../cluster/harness.ts';
import { getJson, inferenceService, installKedaCrd, kubectlOk, modelsVolume, restrictedNamespace, startKarbTestCluster, SYSTEM_NAMESPACE, waitForObject, type KarbTestCluster } from './support.ts';

const NS = 'ml';
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

const fraud = (uri: string, extra: Record<string, unknown> = {}) =>
  inferenceService('fraud', NS, { model: { uri }, scaling: { minReplicas: 2, maxReplicas: 6 }, rollout: { steps: [{ weight: 20, pause: '1m' }] }, ...extra });

const owned = (obj: any, uid: string) => obj.metadata.ownerReferences?.some((r: any) => r.uid === uid && r.controller === true && r.kind === 'InferenceService');

describe('karb controller on a real API server', { timeout: 600_000 }, () => {
  let karb: KarbTestCluster;
  let cluster: TestCluster;
  let dir: string;
  let kubeconfig: string;
  let controller: RunningController;

  before(async () => {
    karb = await startKarbTestCluster();
    ({ cluster, dir, kubeconfig } = karb);
    await restrictedNamespace(cluster, NS);
    // Its log goes to the test's folder; a failing test shows where.
    const logFile = join(dir, 'controller.log');
    controller = await startController({ kubeconfig, namespace: NS, resyncMs: 500, identity: 'controller-under-test', log: (r) => appendFileSync(logFile, `${JSON.stringify(r)}\n`) });
  });

  after(async () => {
    await controller?.close();
    await karb?.stop();
  });

  test('the API server itself refuses an invalid spec with the field’s path, and an unknown field', async () => {
    const bad = await cluster.kubectl(['apply', '-f', '-'], { input: inferenceService('bad-range', NS, { model: { uri: 'pvc://m/m.onnx' }, scaling: { minReplicas: 3, maxReplicas: 1 } }) });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.scaling\.maxReplicas/);
    assert.match(bad.stderr, /must be >= minReplicas/);
    const typo = await cluster.kubectl(['apply', '-f', '-'], { input: inferenceService('bad-field', NS, { model: { uri: 'pvc://m/m.onnx' }, scaling: { maxReplica: 3 } }) });
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr, /unknown field "spec\.scaling\.maxReplica"/);
    const none = await cluster.kubectl(['get', 'inferenceservices', '-n', NS, '-o', 'name']);
    assert.equal(none.stdout.trim(), '', 'nothing was created');
  });

  test('an applied service becomes its revision, a restricted Deployment whose pods Pod Security admits, its Services, PDB and NetworkPolicy, and a status', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], fraud('pvc://models/fraud-v1.onnx'));
    const isvc = await getJson(cluster, ['inferenceservice', 'fraud', '-n', NS]);
    const uid = isvc.metadata.uid as string;
    const deployment = await waitForObject(cluster, 'the first revision’s Deployment', ['deployment', 'fraud-00001', '-n', NS, '--show-managed-fields'], (d: any) => d.spec.replicas === 2);
    assert.ok(owned(deployment, uid), 'owned by the InferenceService');
    assert.ok(deployment.metadata.managedFields.some((f: any) => f.manager === 'karb' && f.operation === 'Apply'), 'server-side applied by karb');
    const revision = await getJson(cluster, ['controllerrevision', 'fraud-00001', '-n', NS]);
    assert.equal(revision.revision, 1);
    assert.ok(owned(revision, uid));
    for (const [kind, name] of [['serviceaccount', 'fraud'], ['service', 'fraud'], ['service', 'fraud-00001'], ['poddisruptionbudget', 'fraud'], ['networkpolicy', 'fraud']] as const) {
      const obj = await waitForObject(cluster, `${kind}/${name}`, [kind, name, '-n', NS], () => true);
      assert.ok(owned(obj, uid), `${kind}/${name} is owned by the service`);
    }
    // The ReplicaSet controller creates the pods; the restricted namespace's admission lets them in.
    const pods = await waitForObject(cluster, 'two pods of fraud-00001', ['pods', '-n', NS, '-l', 'karb.dev/revision=fraud-00001'], (l: any) => l.items.length === 2);
    assert.equal(pods.items[0].spec.securityContext.runAsNonRoot, true);
    const events = await getJson(cluster, ['events', '-n', NS, '--field-selector', 'reason=FailedCreate']);
    assert.deepEqual(events.items.map((e: any) => e.message), [], 'no pod was refused');

    // No node here: the scheduler places no pod, and the status gives its reason.
    const status = (
      await waitForObject(cluster, 'the service’s status', ['inferenceservice', 'fraud', '-n', NS], (o: any) =>
        o.status?.observedGeneration === 1 && o.status?.summary && o.status.conditions?.some((c: any) => c.type === 'Ready' && c.reason === 'ReplicasPending'),
      )
    ).status;
    const ready = status.conditions.find((c: any) => c.type === 'Ready');
    assert.equal(ready.status, 'False', 'no replica becomes ready');
    assert.match(ready.message, /^fraud-00001: fraud-00001-[a-z0-9-]+ cannot start yet: .*nodes (are )?available/);
    assert.equal(ready.observedGeneration, 1);
    assert.ok(status.conditions.some((c: any) => c.type === 'RevisionsReady' && c.status === 'False'));
    assert.equal(status.summary.replicas, '0/2');
    assert.equal(status.selector, 'karb.dev/revision=fraud-00001');
    const columns = await kubectlOk(cluster, ['get', 'kis', '-n', NS]);
    assert.match(columns, /NAME\s+READY\s+REPLICAS\s+TRAFFIC\s+ROLLOUT\s+SLO-P95\s+AGE/);
    assert.match(columns, /fraud\s+False\s+0\/2\s+00001=100%\s+-\s+250/);
  });

  test('karb render writes exactly what the controller applied: the same objects, every rendered field as it is live', async () => {
    const manifest = join(dir, 'fraud.yaml');
    writeFileSync(manifest, fraud('pvc://models/fraud-v1.onnx'));
    const out = join(dir, 'rendered');
    const render = spawnSync(process.execPath, [CLI, 'render', '-f', manifest, '--out', out], { encoding: 'utf8' });
    assert.equal(render.status, 0, render.stderr);
    const rendered = parseAllDocuments(readFileSync(join(out, 'base', `${NS}.fraud.yaml`), 'utf8')).map((d) => d.toJS() as any).filter((o) => o.kind !== 'InferenceService');
    const live = await getJson(cluster, ['serviceaccounts,services,deployments,poddisruptionbudgets,networkpolicies,horizontalpodautoscalers', '-n', NS, '-l', 'karb.dev/service=fraud']);
    const name = (o: any) => `${o.kind}/${o.metadata.name}`;
    assert.deepEqual(live.items.map(name).sort(), rendered.map(name).sort(), 'the same objects');
    for (const obj of rendered) {
      const match = live.items.find((l: any) => name(l) === name(obj));
      assert.ok(containsDesired(match, obj), `${name(obj)}: a rendered field differs from the live object`);
    }
  });

  test('a human edit of a field karb owns is put back; a field karb does not own is left alone', async () => {
    await kubectlOk(cluster, ['scale', 'deployment', 'fraud-00001', '-n', NS, '--replicas=5']);
    await kubectlOk(cluster, ['annotate', 'deployment', 'fraud-00001', '-n', NS, 'team.example/owner=payments']);
    const back = await waitForObject(cluster, 'replicas put back to 2', ['deployment', 'fraud-00001', '-n', NS], (d: any) => d.spec.replicas === 2);
    assert.equal(back.metadata.annotations['team.example/owner'], 'payments');
  });

  test('kubectl scale on the InferenceService pins its replicas through the scale subresource', async () => {
    await kubectlOk(cluster, ['scale', 'inferenceservice', 'fraud', '-n', NS, '--replicas=3']);
    const isvc = await getJson(cluster, ['inferenceservice', 'fraud', '-n', NS]);
    assert.equal(isvc.spec.scaling.replicas, 3);
    await waitForObject(cluster, 'the Deployment at 3', ['deployment', 'fraud-00001', '-n', NS], (d: any) => d.spec.replicas === 3);
    const pinned = await waitForObject(cluster, 'the pin in status', ['inferenceservice', 'fraud', '-n', NS], (o: any) => o.status?.autoscaler?.reason === 'ReplicasPinned');
    assert.match(pinned.status.autoscaler.message, /→3: spec\.scaling\.replicas/);
    // Unpinned, the policy decides again; pinned at 2, the Deployment follows.
    await kubectlOk(cluster, ['patch', 'inferenceservice', 'fraud', '-n', NS, '--type=json', '-p', '[{"op":"remove","path":"/spec/scaling/replicas"}]']);
    await waitForObject(cluster, 'the policy deciding again', ['inferenceservice', 'fraud', '-n', NS], (o: any) => o.status?.autoscaler && o.status.autoscaler.reason !== 'ReplicasPinned');
    await kubectlOk(cluster, ['scale', 'inferenceservice', 'fraud', '-n', NS, '--replicas=2']);
    await waitForObject(cluster, 'the Deployment at 2', ['deployment', 'fraud-00001', '-n', NS], (d: any) => d.spec.replicas === 2);
  });

  test('a controller with nothing to do writes nothing and reads only its watch caches', async () => {
    // Settled first: what the earlier tests changed (a pin, pods the scheduler leaves Pending) has
    // been written once a whole autoscaler period and a resync pass go by without a write (a
    // shorter quiet spell can fall between two of the loop's ticks on a busy machine).
    let last = controller.client.calls().writes;
    await waitFor(
      'a settled controller',
      async () => {
        await new Promise((r) => setTimeout(r, AUTOSCALER_PERIOD_MS + 1_000));
        await controller.sync();
        const now = controller.client.calls().writes;
        const quiet = now === last;
        last = now;
        return quiet;
      },
      120_000,
    );
    const before = controller.client.calls();
    // Ten resync periods, each a full pass over every service.
    await new Promise((r) => setTimeout(r, 5_000));
    await controller.sync();
    const after = controller.client.calls();
    assert.equal(after.writes - before.writes, 0, `writes while idle: ${after.recentWrites.slice(-(after.writes - before.writes)).join(', ')}`);
    assert.equal((after.byVerb.get ?? 0) - (before.byVerb.get ?? 0), 0, 'no reads outside the caches');
    assert.equal((after.byVerb.list ?? 0) - (before.byVerb.list ?? 0), 0, 'no lists outside the caches');
  });

  test('a change of model makes the next revision and starts a canary; status and the revision history follow', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], fraud('pvc://models/fraud-v2.onnx'));
    await waitForObject(cluster, 'revision 2', ['controllerrevision', 'fraud-00002', '-n', NS], (r: any) => r.revision === 2 && r.data.template.model.uri === 'pvc://models/fraud-v2.onnx');
    await waitForObject(cluster, 'the canary’s Deployment', ['deployment', 'fraud-00002', '-n', NS], (d: any) => d.spec.replicas >= 1);
    const stable = await getJson(cluster, ['deployment', 'fraud-00001', '-n', NS]);
    assert.equal(stable.spec.replicas, 2, 'the stable revision keeps serving');
    const isvc = await waitForObject(cluster, 'status of the new generation', ['inferenceservice', 'fraud', '-n', NS], (o: any) => o.status?.observedGeneration === o.metadata.generation && o.status?.latestRevision === 'fraud-00002');
    assert.equal(isvc.status.stableRevision, 'fraud-00001');
    assert.equal(isvc.status.rollout.revision, 'fraud-00002');
    assert.ok(isvc.status.controllerState.rollout, 'the rollout’s state is in status, for a restarted controller');
  });

  test('the policy’s autoscaler objects pass the API server’s validation (KEDA’s own CRD for keda-queue); a policy change removes them', async () => {
    await installKedaCrd(cluster);
    const svc = (policy: string) => inferenceService('scaler', NS, { model: { uri: 'pvc://models/fraud-v1.onnx' }, scaling: { policy, minReplicas: 0, maxReplicas: 4 } });
    await kubectlOk(cluster, ['apply', '-f', '-'], svc('keda-queue'));
    const scaled = await waitForObject(cluster, 'the ScaledObject', ['scaledobject', 'scaler', '-n', NS], () => true);
    assert.equal(scaled.spec.scaleTargetRef.kind, 'InferenceService');
    assert.equal(scaled.spec.minReplicaCount, 0);
    await kubectlOk(cluster, ['apply', '-f', '-'], svc('hpa-service'));
    const hpa = await waitForObject(cluster, 'the HPA', ['hpa', 'scaler', '-n', NS], () => true);
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', name: 'scaler' });
    await waitFor('the ScaledObject gone', async () => (await cluster.kubectl(['get', 'scaledobject', 'scaler', '-n', NS])).code !== 0, 60_000, 250);
    // The policy changes while no controller runs: the next one finds the HPA and removes it.
    await controller.close();
    await kubectlOk(cluster, ['apply', '-f', '-'], svc('gascl'));
    controller = await startController({ kubeconfig, namespace: NS, resyncMs: 500, identity: 'controller-restarted', log: (r) => appendFileSync(join(dir, 'controller.log'), `${JSON.stringify(r)}\n`) });
    await waitFor('the HPA gone', async () => (await cluster.kubectl(['get', 'hpa', 'scaler', '-n', NS])).code !== 0, 60_000, 250);
    await kubectlOk(cluster, ['delete', 'inferenceservice', 'scaler', '-n', NS]);
  });

  test('a spec the CRD admits but karb refuses gets Ready=False saying how to fix it and a Warning event; nothing is created, nothing else disturbed', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('local-file', NS, { model: { uri: 'file://models/fraud-v1.onnx' } }));
    const refused = await waitForObject(cluster, 'the refusal in status', ['inferenceservice', 'local-file', '-n', NS], (o: any) => o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.reason === 'InvalidSpec'));
    const ready = refused.status.conditions.find((c: any) => c.type === 'Ready');
    assert.equal(ready.status, 'False');
    assert.match(ready.message, /spec\.model\.uri: .*pvc:\/\/claim\/path/);
    const warning = await waitForObject(cluster, 'the Warning event', ['events', '-n', NS, '--field-selector', 'reason=InvalidSpec'], (l: any) => l.items.length > 0);
    assert.equal(warning.items[0].type, 'Warning');
    const none = await cluster.kubectl(['get', 'deployment', 'local-file-00001', '-n', NS]);
    assert.notEqual(none.code, 0, 'no Deployment for a refused service');
    const fraudDeployment = await getJson(cluster, ['deployment', 'fraud-00001', '-n', NS]);
    assert.equal(fraudDeployment.spec.replicas, 2);
    await kubectlOk(cluster, ['delete', 'inferenceservice', 'local-file', '-n', NS]);

    // A running service updated to a spec karb refuses: what runs stays as it is until the spec is fixed.
    const before = await getJson(cluster, ['deployments', '-n', NS, '-l', 'karb.dev/service=fraud']);
    await kubectlOk(cluster, ['apply', '-f', '-'], fraud('file://models/fraud-v3.onnx'));
    await waitForObject(cluster, 'fraud refused', ['inferenceservice', 'fraud', '-n', NS], (o: any) => o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.reason === 'InvalidSpec'));
    await controller.sync();
    await controller.sync();
    const held = await getJson(cluster, ['deployments', '-n', NS, '-l', 'karb.dev/service=fraud']);
    assert.deepEqual(
      held.items.map((d: any) => [d.metadata.name, d.spec.replicas]).sort(),
      before.items.map((d: any) => [d.metadata.name, d.spec.replicas]).sort(),
      'no revision removed or rescaled',
    );
    assert.equal((await getJson(cluster, ['controllerrevisions', '-n', NS, '-l', 'karb.dev/service=fraud'])).items.length, 2, 'no revision made of the refused spec');
    await kubectlOk(cluster, ['apply', '-f', '-'], fraud('pvc://models/fraud-v2.onnx'));
    await waitForObject(cluster, 'fraud reconciled again', ['inferenceservice', 'fraud', '-n', NS], (o: any) => o.status?.observedGeneration === o.metadata.generation && o.status.conditions.some((c: any) => c.type === 'Ready' && c.reason !== 'InvalidSpec'));
  });

  test('an edited image is put back (the revision is immutable)', async () => {
    await kubectlOk(cluster, ['set', 'image', 'deployment/fraud-00001', '-n', NS, 'model-server=example.com/other:1']);
    await waitForObject(cluster, 'the image put back', ['deployment', 'fraud-00001', '-n', NS], (d: any) => d.spec.template.spec.containers[0].image.startsWith('ghcr.io/karb-dev/karb:'));
  });

  test('delete: the service’s revisions, Deployments, Services and policies all go', async () => {
    await kubectlOk(cluster, ['delete', 'inferenceservice', 'fraud', '-n', NS, '--wait=true']);
    await waitFor(
      'every object of fraud gone (garbage collected)',
      async () => {
        const left = await kubectlOk(cluster, ['get', 'deployments,services,serviceaccounts,poddisruptionbudgets,networkpolicies,controllerrevisions', '-n', NS, '-l', 'karb.dev/service=fraud', '-o', 'name']);
        return left.trim() === '';
      },
      90_000,
      500,
    );
  });
});

describe('karb controller with leader election, as processes', { timeout: 600_000 }, () => {
  let karb: KarbTestCluster;
  let cluster: TestCluster;
  let dir: string;
  let kubeconfig: string;
  const procs: ChildProcess[] = [];
  const NS2 = 'ml-ha';

  const startProcess = (identity: string): ChildProcess => {
    // Its log goes to a file (a pipe nobody reads would fill and stop it).
    const logFd = openSync(join(dir, `${identity}.log`), 'a');
    // controller-a is named by flag; controller-b as in its pod, by the environment karb install gives it.
    const byFlag = identity === 'controller-a';
    const child = spawn(process.execPath, [CLI, 'controller', '--kubeconfig', kubeconfig, '--namespace', NS2, '--leader-elect', '--lease-duration', '3s', '--port', '0', ...(byFlag ? ['--identity', identity] : [])], {
      stdio: ['ignore', logFd, logFd],
      env: byFlag ? process.env : { ...process.env, KARB_POD_NAME: identity, KARB_NAMESPACE: SYSTEM_NAMESPACE },
    });
    closeSync(logFd);
    procs.push(child);
    return child;
  };
  const holder = async () => (await getJson(cluster, ['lease', 'karb-controller', '-n', SYSTEM_NAMESPACE])).spec.holderIdentity as string;

  before(async () => {
    karb = await startKarbTestCluster();
    ({ cluster, dir, kubeconfig } = karb);
    await restrictedNamespace(cluster, NS2);
  });

  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await karb?.stop();
  });

  test('usage errors exit 2 with the flag named; an unreadable kubeconfig exits 1 in one line', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, 'controller', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (d) => (stderr += d));
        child.on('exit', (code) => resolve({ code, stderr }));
      });
    const badNs = await run(['--namespace', 'Not_A_Namespace']);
    assert.equal(badNs.code, 2);
    assert.match(badNs.stderr, /--namespace must be a namespace name \(lowercase letters, digits and "-", at most 63, e\.g\. karb-system\), got "Not_A_Namespace"/);
    const badLease = await run(['--lease-duration', '1s']);
    assert.equal(badLease.code, 2);
    assert.match(badLease.stderr, /--lease-duration/);
    const missing = await run(['--kubeconfig', join(dir, 'missing.kubeconfig'), '--port', '0']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
    assert.match(missing.stderr, /missing\.kubeconfig/);
    // The same credentials aimed at a port nobody listens on: one line saying so, exit 1, not a silent retry.
    const port = await freePort();
    const nowhere = join(dir, 'nowhere.kubeconfig');
    writeFileSync(nowhere, readFileSync(kubeconfig, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${port}`));
    const unreachable = await run(['--kubeconfig', nowhere, '--port', '0']);
    assert.equal(unreachable.code, 1);
    assert.equal(unreachable.stderr.trim().split('\n').length, 1, unreachable.stderr);
    assert.match(unreachable.stderr, new RegExp(`cannot reach the API server at https://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  });

  test('two controllers: one acts; killed, the other takes over within the lease, with no duplicate objects', async () => {
    const a = startProcess('controller-a');
    await waitFor('controller-a to lead', async () => (await holder()) === 'controller-a', 60_000, 200);
    const b = startProcess('controller-b');
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('ha', NS2, { model: { uri: 'pvc://models/fraud-v1.onnx' } }));
    await waitForObject(cluster, 'ha-00001', ['deployment', 'ha-00001', '-n', NS2], () => true);
    assert.equal(await holder(), 'controller-a', 'the standby did not take over while the leader renews');

    a.kill('SIGKILL');
    await waitFor('controller-b to take over', async () => (await holder()) === 'controller-b', 60_000, 200);
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('ha', NS2, { model: { uri: 'pvc://models/fraud-v2.onnx' } }));
    await waitForObject(cluster, 'ha-00002 made by the new leader', ['deployment', 'ha-00002', '-n', NS2], () => true);
    const revisions = await getJson(cluster, ['controllerrevisions', '-n', NS2, '-l', 'karb.dev/service=ha']);
    assert.deepEqual(revisions.items.map((r: any) => r.metadata.name).sort(), ['ha-00001', 'ha-00002']);
    const deployments = await getJson(cluster, ['deployments', '-n', NS2, '-l', 'karb.dev/service=ha']);
    assert.deepEqual(deployments.items.map((d: any) => d.metadata.name).sort(), ['ha-00001', 'ha-00002']);
    const lease = await getJson(cluster, ['lease', 'karb-controller', '-n', SYSTEM_NAMESPACE]);
    assert.ok(lease.spec.leaseTransitions >= 1);
    b.kill('SIGTERM');
    await new Promise((resolve) => b.once('exit', resolve));
    const released = await getJson(cluster, ['lease', 'karb-controller', '-n', SYSTEM_NAMESPACE]);
    assert.equal(released.spec.holderIdentity ?? '', '', 'a controller stopped cleanly hands the lease back');
  });
});

describe('karb controller with the test node agent: a service becomes Ready and its pods answer', { timeout: 600_000 }, () => {
  let karb: KarbTestCluster;
  let cluster: TestCluster;
  let controller: RunningController;
  const NS3 = 'serving';

  before(async () => {
    await ensureModels();
    // The node agent stands in for a kubelet: it runs karb's pods as processes of this checkout.
    karb = await startKarbTestCluster({ nodeAgent: true });
    cluster = karb.cluster;
    const kubeconfig = karb.kubeconfig;
    await restrictedNamespace(cluster, NS3);
    await modelsVolume(cluster, NS3);
    controller = await startController({ kubeconfig, namespace: NS3, resyncMs: 500, identity: 'controller-serving' });
  });

  after(async () => {
    await controller?.close();
    await karb?.stop();
  });

  test('apply → revision → Deployment → pods ready → Ready=True, and an OIP v2 request to a replica is answered by the model', async () => {
    await kubectlOk(cluster, ['apply', '-f', '-'], inferenceService('fraud', NS3, { model: { uri: 'pvc://models/fraud-v1.onnx' }, scaling: { minReplicas: 2, maxReplicas: 4 } }));
    const isvc = await waitForObject(
      cluster,
      'Ready=True with 2/2 replicas',
      ['inferenceservice', 'fraud', '-n', NS3],
      (o: any) => o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && o.status.summary?.replicas === '2/2',
      180_000,
    );
    assert.equal(isvc.status.conditions.find((c: any) => c.type === 'RevisionsReady').status, 'True');
    assert.equal(isvc.status.replicas, 2, 'the scale subresource’s ready count');
    const columns = await kubectlOk(cluster, ['get', 'kis', 'fraud', '-n', NS3]);
    assert.match(columns, /fraud\s+True\s+2\/2\s+00001=100%/);

    const endpoints = controller.runtime.endpoints({ namespace: NS3, service: 'fraud' });
    assert.equal(endpoints.length, 2);
    const request = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'examples', 'fraud-request.json'), 'utf8'));
    const answers = [];
    for (const e of endpoints) {
      const res = await fetch(`${e.url}/v2/models/fraud/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
      assert.equal(res.status, 200, `${e.replica} answers`);
      const body = (await res.json()) as { model_name: string; outputs: Array<{ data: number[] }> };
      assert.equal(body.model_name, 'fraud');
      answers.push(body.outputs.map((o) => o.data));
    }
    assert.deepEqual(answers[0], answers[1], 'both replicas run the same model');
    assert.ok(answers[0]!.flat().every((v) => Number.isFinite(v)));
  });
});
