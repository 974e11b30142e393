/**
 * Rollout safety end to end: a rollout survives karb being killed mid-way, an
 * apply during a rollout supersedes it without leaving replicas or routes
 * behind, and a canary that never becomes ready fails after its progress
 * deadline while stable keeps serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, isAlive, startKarbUp, startProbe, waitFor, workDir, type KarbUp } from './helpers.ts';

const BODY = readFileSync(join(ROOT, 'examples/fraud-request.json'), 'utf8');

interface RolloutView {
  stableRevision: string | null;
  revisions: Array<{ name: string; ready: number; desired: number; traffic: number }>;
  rollout: null | { phase: string; reason: string; message: string; revision: string; stable: string; step?: string; weight: number };
}

interface Replica {
  name: string;
  revision: string;
  phase: string;
  pid?: number;
}

function service(name: string, model: Record<string, unknown>, rollout: Record<string, unknown>) {
  return {
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name },
    spec: { model, scaling: { minReplicas: 1, maxReplicas: 1 }, rollout: { analysis: { interval: '2s', minRequests: 20 }, scaleDownDelay: '1s', ...rollout } },
  };
}

describe('rollout safety end to end', () => {
  let work: ReturnType<typeof workDir>;
  let up: KarbUp;

  before(async () => {
    work = workDir();
    up = await startKarbUp(work.dir);
  });

  after(async () => {
    const left = await replicas().catch(() => [] as Replica[]);
    await up?.stop();
    for (const r of left) if (r.pid && isAlive(r.pid)) process.kill(r.pid, 'SIGKILL');
    work?.cleanup();
  });

  const apply = async (doc: ReturnType<typeof service>) => {
    const res = await fetch(`${up.controlUrl}/api/v1/services/${doc.metadata.name}`, { method: 'PUT', headers: { ...up.admin, 'content-type': 'application/json' }, body: JSON.stringify(doc) });
    assert.ok(res.status === 200 || res.status === 201, `apply ${doc.metadata.name}: ${res.status} ${await res.text()}`);
  };
  const view = async (name: string) => (await (await fetch(`${up.controlUrl}/api/v1/services/${name}/rollout`, { headers: up.admin })).json()) as RolloutView;
  const replicas = async (name?: string) =>
    ((await (await fetch(`${up.controlUrl}/api/v1/replicas${name ? `?service=${name}` : ''}`, { headers: up.admin })).json()) as { items: Replica[] }).items.filter((r) => r.phase !== 'Stopped');
  const routes = async () => (await (await fetch(`${up.controlUrl}/api/v1/routes`, { headers: up.admin })).json()) as { items: Array<{ model: string; revisions: Array<{ revision: string; weight: number }> }> };
  const probe = (name: string) => startProbe(`${up.gatewayUrl}/v2/models/${name}/infer`, { headers: up.auth, body: BODY });
  const deploy = async (doc: ReturnType<typeof service>) => {
    await apply(doc);
    await waitFor(`${doc.metadata.name} to serve`, async () => (await view(doc.metadata.name)).revisions.some((r) => r.ready >= 1 && r.traffic === 100));
  };

  it('continues a canary after karb is killed mid-way and restarted', async () => {
    const name = 'restart-canary';
    const rollout = { steps: [{ weight: 20, pause: '4s' }, { weight: 60, pause: '2s' }] };
    await deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
    await apply(service(name, { uri: 'file://models/fraud-v2.onnx' }, rollout));
    await waitFor('the canary to progress', async () => (await view(name)).rollout?.phase === 'Progressing');

    up.process.kill('SIGKILL');
    await up.stop();
    up = await startKarbUp(work.dir, { control: Number(new URL(up.controlUrl).port), gateway: Number(new URL(up.gatewayUrl).port) });
    const resumed = await view(name);
    assert.equal(resumed.rollout?.revision, `${name}-00002`, 'the same rollout, read back from the store');
    assert.notEqual(resumed.rollout?.phase, 'Starting', 'it did not start over');

    const p = probe(name);
    const done = await waitFor(`${name} to succeed`, async () => {
      const v = await view(name);
      if (v.rollout?.phase === 'Failed') throw new Error(v.rollout.message);
      return v.rollout?.phase === 'Succeeded' ? v : undefined;
    }, 60_000, 200);
    const report = await p.stop();
    assert.equal(done.stableRevision, `${name}-00002`);
    assert.equal(report.statuses.get(200), report.sent, `every request answered: ${JSON.stringify([...report.statuses])}`);
    await waitFor('one replica of the new revision only', async () => {
      const rs = await replicas(name);
      return rs.length === 1 && rs[0]!.revision === `${name}-00002`;
    });
  });

  it('supersedes a canary with a newer apply: the middle revision leaves no replica or route behind', async () => {
    const name = 'supersede';
    const rollout = { steps: [{ weight: 30, pause: '60s' }] };
    await deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
    await apply(service(name, { uri: 'file://models/fraud-v2.onnx' }, rollout));
    await waitFor('the first canary to progress', async () => (await view(name)).rollout?.phase === 'Progressing');
    const p = probe(name);
    await apply(service(name, { uri: 'file://models/fraud-v1.onnx', batching: { maxBatchSize: 16 } }, rollout));
    const next = await waitFor('the newer canary to progress', async () => {
      const v = await view(name);
      return v.rollout?.revision === `${name}-00003` && v.rollout.phase === 'Progressing' ? v : undefined;
    });
    assert.equal(next.rollout!.stable, `${name}-00001`, 'still measured against the revision that served');
    await waitFor('the superseded canary to be gone', async () => (await replicas(name)).every((r) => r.revision !== `${name}-00002`));
    const route = (await routes()).items.find((r) => r.model === name)!;
    assert.deepEqual(route.revisions.map((r) => `${r.revision}=${r.weight}`), [`${name}-00001=70`, `${name}-00003=30`]);
    const report = await p.stop();
    assert.equal(report.statuses.get(200), report.sent, `every request answered: ${JSON.stringify([...report.statuses])}`);
  });

  it('fails a canary that never becomes ready after its progress deadline; stable keeps serving', async () => {
    const name = 'never-ready';
    const rollout = { progressDeadline: '4s' };
    await deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
    const p = probe(name);
    await apply(service(name, { format: 'oip', command: [process.execPath, '-e', 'process.exit(3)'], readinessPath: '/ready' }, rollout));
    const failed = await waitFor('the rollout to fail', async () => {
      const v = await view(name);
      return v.rollout?.phase === 'Failed' ? v : undefined;
    }, 30_000, 200);
    const report = await p.stop();
    assert.equal(failed.rollout!.reason, 'ProgressDeadlineExceeded');
    assert.match(failed.rollout!.message, new RegExp(`^${name}-00002 was not ready within 4s \\(0/1 replicas ready\\); ${name}-00001 keeps all traffic$`));
    assert.equal(failed.stableRevision, `${name}-00001`);
    assert.equal(report.statuses.get(200), report.sent, 'stable answered every request');
    await waitFor('the crashing canary to be removed', async () => (await replicas(name)).every((r) => r.revision === `${name}-00001`));
  });
});
