/**
 * Rollout safety end to end: a rollout survives karb being killed mid-way, an
 * apply during a rollout supersedes it without leaving replicas or routes
 * behind, and a canary that never becomes ready fails after its progress
 * deadline while stable keeps serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAlive, startGatewayProcess, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';
import { RolloutClient, TEST_ANALYSIS, rolloutService, type Replica } from './rollout-support.ts';

const service = (name: string, model: Record<string, unknown>, rollout: Record<string, unknown>) =>
  rolloutService(name, model, { scaleDownDelay: '1s', ...rollout }, { ...TEST_ANALYSIS, minRequests: 20 });

describe('rollout safety end to end', () => {
  let work: ReturnType<typeof workDir>;
  let up: KarbUp;
  const rollouts = new RolloutClient(() => up);

  before(async () => {
    work = workDir();
    up = await startKarbUp(work.dir);
  });

  after(async () => {
    const left = await rollouts.replicas().catch(() => [] as Replica[]);
    await up?.stop();
    for (const r of left) if (r.pid && isAlive(r.pid)) process.kill(r.pid, 'SIGKILL');
    work?.cleanup();
  });

  it('continues a canary after karb is killed mid-way and restarted', async () => {
    const name = 'restart-canary';
    const rollout = { steps: [{ weight: 20, pause: '4s' }, { weight: 60, pause: '2s' }] };
    await rollouts.deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
    await rollouts.apply(service(name, { uri: 'file://models/fraud-v2.onnx' }, rollout));
    await waitFor('the canary to progress', async () => (await rollouts.view(name)).rollout?.phase === 'Progressing');

    up.process.kill('SIGKILL');
    await up.stop();
    up = await startKarbUp(work.dir, { control: Number(new URL(up.controlUrl).port), gateway: Number(new URL(up.gatewayUrl).port) });
    const resumed = await rollouts.view(name);
    assert.equal(resumed.rollout?.revision, `${name}-00002`, 'the same rollout, read back from the store');
    assert.notEqual(resumed.rollout?.phase, 'Starting', 'it did not start over');

    const p = rollouts.probe(name);
    const done = await waitFor(`${name} to succeed`, async () => {
      const v = await rollouts.view(name);
      if (v.rollout?.phase === 'Failed') throw new Error(v.rollout.message);
      return v.rollout?.phase === 'Succeeded' ? v : undefined;
    }, 60_000, 200);
    const report = await p.stop();
    assert.equal(done.stableRevision, `${name}-00002`);
    assert.equal(report.statuses.get(200), report.sent, `every request answered: ${JSON.stringify([...report.statuses])}`);
    await waitFor('one replica of the new revision only', async () => {
      const rs = await rollouts.replicas(name);
      return rs.length === 1 && rs[0]!.revision === `${name}-00002`;
    });
  });

  it('supersedes a canary with a newer apply: the middle revision leaves no replica or route behind', async () => {
    const name = 'supersede';
    const rollout = { steps: [{ weight: 30, pause: '60s' }] };
    await rollouts.deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
    await rollouts.apply(service(name, { uri: 'file://models/fraud-v2.onnx' }, rollout));
    await waitFor('the first canary to progress', async () => (await rollouts.view(name)).rollout?.phase === 'Progressing');
    const p = rollouts.probe(name);
    await rollouts.apply(service(name, { uri: 'file://models/fraud-v1.onnx', batching: { maxBatchSize: 16 } }, rollout));
    const next = await waitFor('the newer canary to progress', async () => {
      const v = await rollouts.view(name);
      return v.rollout?.revision === `${name}-00003` && v.rollout.phase === 'Progressing' ? v : undefined;
    });
    assert.equal(next.rollout!.stable, `${name}-00001`, 'still measured against the revision that served');
    await waitFor('the superseded canary to be gone', async () => (await rollouts.replicas(name)).every((r) => r.revision !== `${name}-00002`));
    const route = (await rollouts.routes()).find((r) => r.model === name)!;
    assert.deepEqual(route.revisions.map((r) => `${r.revision}=${r.weight}`), [`${name}-00001=70`, `${name}-00003=30`]);
    const report = await p.stop();
    assert.equal(report.statuses.get(200), report.sent, `every request answered: ${JSON.stringify([...report.statuses])}`);
  });

  it('judges a canary on traffic that only a standalone karb gateway routes, and promotes it', async () => {
    const name = 'via-standalone';
    const rollout = { steps: [{ weight: 50, pause: '2s' }] };
    const gateway = await startGatewayProcess(work.dir, up.controlUrl, up.adminToken, []);
    try {
      await rollouts.deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
      await waitFor('the standalone gateway to route the service', async () => (await fetch(`${gateway.url}/v2/models/${name}/ready`, { headers: up.auth })).ok);
      const p = rollouts.probe(name, gateway.url);
      await rollouts.apply(service(name, { uri: 'file://models/fraud-v2.onnx' }, rollout));
      const done = await rollouts.phase(name, 'Succeeded');
      const report = await p.stop();
      assert.ok(done.rollout!.judgements >= 1, 'a window was judged on the standalone gateway’s reports');
      assert.equal(report.statuses.get(200), report.sent, `every request answered: ${JSON.stringify([...report.statuses])}`);
    } finally {
      await gateway.stop();
    }
  });

  it('refuses rollout commands that do not apply, with clear errors and nothing changed', async () => {
    const name = 'commands';
    await rollouts.deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, { steps: [{ weight: 20, pause: '60s' }] }));
    const post = (path: string, method = 'POST') => fetch(`${up.controlUrl}/api/v1/services/${path}`, { method, headers: up.admin });
    const error = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

    const none = await post(`${name}/rollout/promote`);
    assert.equal(none.status, 404);
    assert.deepEqual(await error(none), { code: 'NO_ROLLOUT', message: `service ${name} has no rollout: one revision serves all traffic; apply a new model or resources to start one` });
    const unknown = await post(`${name}/rollout/explode`);
    assert.equal(unknown.status, 404);
    assert.match((await error(unknown)).message, /no rollout command explode; use promote, abort, pause or resume/);
    assert.equal((await post(`${name}/rollout/pause`, 'GET')).status, 405);
    assert.equal((await post('nobody/rollout/pause')).status, 404);

    await rollouts.apply(service(name, { uri: 'file://models/fraud-v2.onnx' }, { steps: [{ weight: 20, pause: '60s' }] }));
    await rollouts.phase(name, 'Progressing');
    const resume = await post(`${name}/rollout/resume`);
    assert.equal(resume.status, 409);
    assert.match((await error(resume)).message, /^the rollout of commands-00002 is Progressing: it is not paused$/);
    assert.equal((await post(`${name}/rollout/pause`)).status, 200);
    const again = await post(`${name}/rollout/pause`);
    assert.equal(again.status, 409);
    assert.equal((await rollouts.view(name)).rollout?.paused, true, 'the refused command changed nothing');
  });

  it('refuses a malformed gateway report with 400 naming the field', async () => {
    const res = await fetch(`${up.controlUrl}/api/v1/signals`, { method: 'POST', headers: { ...up.admin, 'content-type': 'application/json' }, body: JSON.stringify({ gateway: 'g', revisions: [{ service: 's', revision: 'r', requests: -1 }], services: [] }) });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /^gateway report: revisions\.0\.requests: /);
    const anonymous = await fetch(`${up.controlUrl}/api/v1/signals`, { method: 'POST', body: '{}' });
    assert.equal(anonymous.status, 401, 'reports need the admin token');
  });

  it('fails a canary that never becomes ready after its progress deadline; stable keeps serving', async () => {
    const name = 'never-ready';
    const rollout = { progressDeadline: '4s' };
    await rollouts.deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
    const p = rollouts.probe(name);
    await rollouts.apply(service(name, { format: 'oip', command: [process.execPath, '-e', 'process.exit(3)'], readinessPath: '/ready' }, rollout));
    const failed = await waitFor('the rollout to fail', async () => {
      const v = await rollouts.view(name);
      return v.rollout?.phase === 'Failed' ? v : undefined;
    }, 30_000, 200);
    const report = await p.stop();
    assert.equal(failed.rollout!.reason, 'ProgressDeadlineExceeded');
    assert.match(failed.rollout!.message, new RegExp(`^${name}-00002 was not ready within 4s \\(0/1 replicas ready\\); ${name}-00001 keeps all traffic$`));
    assert.equal(failed.stableRevision, `${name}-00001`);
    assert.equal(report.statuses.get(200), report.sent, 'stable answered every request');
    await waitFor('the crashing canary to be removed', async () => (await rollouts.replicas(name)).every((r) => r.revision === `${name}-00001`));
  });
});
