/**
 * Progressive delivery end to end: real `karb up`, real replicas, a steady
 * probe through the gateway. A canary that fails (injected errors, injected
 * latency) is rolled back by analysis; a healthy one is promoted; a manual
 * abort, a blue-green switch and its rollback lose no request.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { karb, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';
import { FRAUD_REQUEST, RolloutClient, TEST_ANALYSIS, errorsOf, rolloutService as service, servedBy as served } from './rollout-support.ts';

describe('rollouts end to end', () => {
  let work: ReturnType<typeof workDir>;
  let up: KarbUp;
  const rollouts = new RolloutClient(() => up);

  before(async () => {
    work = workDir();
    up = await startKarbUp(work.dir);
  });

  after(async () => {
    await up?.stop();
    work?.cleanup();
  });

  it('rolls a canary with 20% errors back at its first judged window; clients see at most its share of errors', async () => {
    const name = 'canary-errors';
    const rollout = { steps: [{ weight: 20, pause: '60s' }] };
    await rollouts.deploy(service(name, served(name, 'fraud-v1.onnx'), rollout));
    const p = rollouts.probe(name);
    await rollouts.apply(service(name, served(name, 'fraud-v1.onnx', ['--inject-error-rate', '0.2']), rollout));
    // Like `kubectl rollout status`: waits, a line per change, and exits 1 when the rollout fails.
    const watched = await karb(['rollout', 'status', name, '--watch', '--timeout', '60s', '--server', up.controlUrl, '--token', up.adminToken]);
    assert.equal(watched.code, 1, watched.stdout + watched.stderr);
    assert.match(watched.stdout, /Progressing step 1\/1, 20% to canary-errors-00002/);
    assert.match(watched.stdout, /Failed( step 1\/1)?, 0% to canary-errors-00002: analysis failed: error rate/);
    const failed = await rollouts.phase(name, 'Failed');
    const report = await p.stop();
    assert.equal(failed.rollout!.reason, 'AnalysisFailed', failed.rollout!.message);
    assert.match(failed.rollout!.message, /^analysis failed: error rate \d+\.\d+% over \d+ requests vs stable 0\.00%/);
    assert.equal(failed.rollout!.judgements, 1, 'failed at the first judged window');
    assert.deepEqual(failed.revisions.find((r) => r.name === `${name}-00001`)?.traffic, 100);
    assert.equal(failed.stableRevision, `${name}-00001`);
    // Only the canary's share saw errors: ≤ 20% weight × 20% error rate of requests, with room for chance.
    const canaryServed = report.revisions.get(`${name}-00002`) ?? 0;
    assert.ok(canaryServed > 0, 'the canary took traffic before it was judged');
    assert.ok(errorsOf(report) <= 0.2 * report.sent, `${errorsOf(report)} errors of ${report.sent} exceed the canary's 20% share`);
    // After the abort nothing reaches the canary: every further answer is from stable.
    const afterwards = await rollouts.probeFor(name, 1000);
    assert.equal(afterwards.revisions.get(`${name}-00002`) ?? 0, 0);
    assert.equal(errorsOf(afterwards), 0);
    const events = await karb(['get', 'events', name, '--server', up.controlUrl, '--token', up.adminToken]);
    assert.match(events.stdout, /RolloutFailed/);
    const status = await karb(['rollout', 'status', name, '--server', up.controlUrl, '--token', up.adminToken]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`canary rollout of ${name}-00002 \\(replacing ${name}-00001\\) — Failed`));
    assert.match(status.stdout, /last analysis .*: Fail — error rate/);
    const services = await karb(['get', 'services', name, '--server', up.controlUrl, '--token', up.adminToken]);
    assert.match(services.stdout, /^NAME\s+NAMESPACE\s+READY\s+REPLICAS\s+TRAFFIC\s+ROLLOUT/);
    assert.match(services.stdout, new RegExp(`${name}\\s+default\\s+True\\s+1/1\\s+00001=100%\\s+Failed\\s`));
  });

  it('rolls a canary with four times the model time back the same way', async () => {
    const name = 'canary-slow';
    // Its own bound (2×), far below the injected regression (10 → 40 ms per request) and far above the noise.
    const rollout = { steps: [{ weight: 30, pause: '60s' }], analysis: { ...TEST_ANALYSIS, maxLatencyP95Ratio: 2 } };
    await rollouts.deploy(service(name, served(name, 'fraud-v1.onnx', ['--inject-latency-ms', '10']), rollout));
    const p = rollouts.probe(name);
    await rollouts.apply(service(name, served(name, 'fraud-v1.onnx', ['--inject-latency-ms', '40']), rollout));
    const failed = await rollouts.phase(name, 'Failed');
    const report = await p.stop();
    assert.equal(failed.rollout!.reason, 'AnalysisFailed');
    assert.match(failed.rollout!.message, /^analysis failed: p95 [\d.]+ ms over \d+ requests vs stable [\d.]+ ms/);
    assert.equal(errorsOf(report), 0, 'a slow canary costs latency, not errors');
  });

  it('fails a canary whose answers diverge from stable on the output check, with no error or latency to show for it', async () => {
    const name = 'canary-outputs';
    const rollout = { steps: [{ weight: 20, pause: '60s' }], analysis: { ...TEST_ANALYSIS, outputCheck: { request: JSON.parse(FRAUD_REQUEST), maxDelta: 0.001 } } };
    await rollouts.deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
    const p = rollouts.probe(name);
    await rollouts.apply(service(name, { uri: 'file://models/fraud-v2.onnx' }, rollout));
    const failed = await rollouts.phase(name, 'Failed');
    const report = await p.stop();
    assert.equal(failed.rollout!.reason, 'OutputsDiverged', failed.rollout!.message);
    assert.match(failed.rollout!.message, /^output check failed: outputs differ by up to [\d.]+ \(probability\[\d\]: [\d.e-]+ vs stable [\d.e-]+; allowed 0\.001\)/);
    assert.equal(errorsOf(report), 0, 'the canary answered every request');
    const status = await karb(['rollout', 'status', name, '--server', up.controlUrl, '--token', up.adminToken]);
    assert.match(status.stdout, /last output check .*: Fail — outputs differ by up to/);
  });

  it('promotes a healthy canary step by step with every probe request answered', async () => {
    const name = 'canary-good';
    const rollout = { steps: [{ weight: 20, pause: '2s' }, { weight: 50, pause: '2s' }] };
    await rollouts.deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
    const p = rollouts.probe(name);
    await rollouts.apply(service(name, { uri: 'file://models/fraud-v2.onnx' }, rollout));
    const watched = await karb(['rollout', 'status', name, '-w', '--server', up.controlUrl, '--token', up.adminToken]);
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    assert.match(watched.stdout, /Succeeded( step 2\/2)?, 100% to canary-good-00002/);
    const done = await rollouts.phase(name, 'Succeeded');
    await waitFor('the old revision to be gone', async () => (await rollouts.view(name)).revisions.length === 1);
    const report = await p.stop();
    assert.equal(done.stableRevision, `${name}-00002`);
    assert.ok(done.rollout!.judgements >= 2, 'a window passed in each step');
    assert.equal(errorsOf(report), 0, `every request answered: ${JSON.stringify([...report.statuses])}`);
    assert.ok((report.revisions.get(`${name}-00001`) ?? 0) > 0 && (report.revisions.get(`${name}-00002`) ?? 0) > 0, 'both revisions served along the way');
  });

  it('aborts by hand mid-canary without losing a request', async () => {
    const name = 'canary-abort';
    const rollout = { steps: [{ weight: 50, pause: '60s' }] };
    await rollouts.deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
    const p = rollouts.probe(name);
    await rollouts.apply(service(name, { uri: 'file://models/fraud-v2.onnx' }, rollout));
    await rollouts.phase(name, 'Progressing');
    await waitFor('the canary to serve', () => (p.report().revisions.get(`${name}-00002`) ?? 0) > 10);
    const during = await karb(['get', 'services', name, '--server', up.controlUrl, '--token', up.adminToken]);
    assert.match(during.stdout, /00001=50%,00002=50%\s+Progressing 1\/1\s/);
    const aborted = await karb(['rollout', 'abort', name, '--server', up.controlUrl, '--token', up.adminToken]);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, /Aborted/);
    await waitFor('the canary to be scaled down', async () => (await rollouts.view(name)).revisions.length === 1, 30_000);
    const report = await p.stop();
    assert.equal(errorsOf(report), 0, `every request answered: ${JSON.stringify([...report.statuses])}`);
    const again = await karb(['rollout', 'abort', name, '--server', up.controlUrl, '--token', up.adminToken]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /nothing to abort/);
  });

  it('switches blue-green atomically after a mirrored preview, and rolls back at once, losing nothing', async () => {
    const name = 'blue-green';
    const rollout = { strategy: 'blue-green', previewFor: '2s', mirrorPercent: 100, scaleDownDelay: '60s' };
    await rollouts.deploy(service(name, { uri: 'file://models/fraud-v1.onnx' }, rollout));
    const p = rollouts.probe(name);
    await rollouts.apply(service(name, { uri: 'file://models/fraud-v2.onnx' }, rollout));
    await rollouts.phase(name, 'Previewing');
    const preview = await fetch(`${up.gatewayUrl}/v2/models/${name}/infer`, { method: 'POST', headers: { ...up.auth, 'x-karb-revision': `${name}-00002` }, body: FRAUD_REQUEST });
    assert.equal(preview.status, 200);
    assert.equal(preview.headers.get('x-karb-revision'), `${name}-00002`, 'the preview route reaches green before it takes traffic');
    const beforeSwitch = p.report().revisions.get(`${name}-00002`) ?? 0;
    assert.equal(beforeSwitch, 0, 'no client request reached green before the switch');
    const switched = await rollouts.phase(name, 'Succeeded');
    assert.equal(switched.stableRevision, `${name}-00002`);
    assert.ok(switched.revisions.some((r) => r.name === `${name}-00001` && r.ready >= 1 && r.traffic === 0), 'blue stays warm');
    await waitFor('green to serve', () => (p.report().revisions.get(`${name}-00002`) ?? 0) > 20);
    const back = await karb(['rollout', 'abort', name, '--server', up.controlUrl, '--token', up.adminToken]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /RolledBack/);
    const rolledBack = await rollouts.view(name);
    assert.equal(rolledBack.stableRevision, `${name}-00001`);
    const report = await p.stop();
    assert.equal(errorsOf(report), 0, `every request answered: ${JSON.stringify([...report.statuses])}`);
    const afterwards = await rollouts.probeFor(name, 500);
    assert.equal(afterwards.revisions.get(`${name}-00002`) ?? 0, 0, 'the rollback moved every request back at once');
  });
});
