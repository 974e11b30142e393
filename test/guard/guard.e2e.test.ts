/**
 * The guard after promotion end to end: real `karb up`, real model servers, a
 * steady probe through the gateway. A canary passes analysis and is promoted;
 * then its replicas start answering 500 (fault injection switched on by a file),
 * and karb rolls back to the previous revision by itself within the guard window,
 * saying why in status and in a Warning event. A promoted revision that stays
 * healthy is watched to the end of the window and keeps all traffic.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { karb, startKarbUp, waitFor, workDir, type KarbUp } from '../helpers.ts';
import { RolloutClient, errorsOf, rolloutService, servedBy, type RolloutDoc, type RolloutView } from '../rollout-support.ts';

interface GuardView {
  phase: string;
  since: string;
  until: string;
  lastEvaluation?: { verdict: string; sli?: string; message: string; long?: { requests: number; burnRates: Record<string, number> }; short?: { requests: number; burnRates: Record<string, number> } };
}

type View = RolloutView & { rollout: (NonNullable<RolloutView['rollout']> & { finishedAt?: string; guard?: GuardView }) | null };

/** A one-step canary (judged fast) whose promoted revision is guarded for `window`; a loose latency SLO, as the machine is shared. */
function guarded(name: string, model: Record<string, unknown>, window: string): RolloutDoc {
  const doc = rolloutService(name, model, { steps: [{ weight: 50, pause: '2s' }], guard: { window, minRequests: 30 } });
  return { ...doc, spec: { ...doc.spec, slo: { latencyP95Ms: 2000 } } } as RolloutDoc;
}

describe('the guard after promotion, end to end', () => {
  let work: ReturnType<typeof workDir>;
  let up: KarbUp;
  const rollouts = new RolloutClient(() => up);
  const view = async (name: string) => (await rollouts.view(name)) as View;
  const events = async (name: string) => (await karb(['get', 'events', name, '--server', up.controlUrl, '--token', up.adminToken])).stdout;

  before(async () => {
    work = workDir();
    up = await startKarbUp(work.dir);
  });

  after(async () => {
    await up?.stop();
    work?.cleanup();
  });

  /** Deploys v1, starts the probe, rolls v2 out through a canary and waits for its promotion. */
  async function promote(name: string, v2Flags: string[], window: string): Promise<ReturnType<RolloutClient['probe']>> {
    await rollouts.deploy(guarded(name, servedBy(name, 'fraud-v1.onnx'), window));
    const probe = rollouts.probe(name);
    await rollouts.apply(guarded(name, servedBy(name, 'fraud-v1.onnx', v2Flags), window));
    const promoted = (await rollouts.phase(name, 'Succeeded', 90_000)) as View;
    assert.equal(promoted.rollout!.revision, `${name}-00002`);
    assert.equal(promoted.rollout!.reason, 'Promoted', 'promoted by analysis, not by a zero-replica shortcut');
    assert.ok(promoted.rollout!.judgements >= 1, 'analysis judged the canary');
    assert.equal(promoted.rollout!.guard?.phase, 'Watching');
    return probe;
  }

  it('rolls a promoted revision that starts failing back to the previous one by itself, saying why', async () => {
    const name = 'guard-fires';
    const faults = join(work.dir, 'guard-fires.faults-on');
    // v2 answers half its requests 500 once the file exists; until then it is healthy and passes analysis.
    const probe = await promote(name, ['--inject-error-rate', '0.5', '--inject-while', faults], '5m');
    try {
      writeFileSync(faults, '');
      const back = await waitFor(`${name} to be rolled back by the guard`, async () => {
        const v = await view(name);
        return v.rollout?.phase === 'RolledBack' ? v : undefined;
      }, 90_000, 200);
      const r = back.rollout!;
      assert.equal(r.reason, 'GuardFastBurn');
      assert.match(r.message, new RegExp(`^rolled back by the guard: ${name}-00002's availability burn rate [\\d.]+× over \\d+s \\(\\d+ requests\\) and [\\d.]+× over \\d+s \\(\\d+ requests\\), at or above 14\\.4× \\(budget 1\\.00% of requests answered 5xx\\); ${name}-00001 serves 100% of traffic again$`));
      assert.equal(r.guard?.phase, 'Fired');
      assert.equal(r.guard?.lastEvaluation?.verdict, 'Fire');
      assert.equal(r.guard?.lastEvaluation?.sli, 'availability');
      assert.ok(r.guard!.lastEvaluation!.long!.requests >= 30 && r.guard!.lastEvaluation!.short!.requests >= 30, 'both windows had enough requests');
      assert.ok(r.guard!.lastEvaluation!.short!.burnRates.availability! >= 14.4);
      assert.ok(Date.parse(r.finishedAt!) < Date.parse(r.guard!.until), 'rolled back within the guard window');
      assert.equal(back.stableRevision, `${name}-00001`);

      // The previous revision was scaled down after the canary; it is started again and takes all traffic.
      await waitFor(`${name}-00001 to serve again`, async () => (await view(name)).revisions.some((v) => v.name === `${name}-00001` && v.ready >= 1 && v.traffic === 100), 60_000);
      const afterwards = await rollouts.probeFor(name, 1000);
      assert.ok(afterwards.sent > 0);
      assert.equal(afterwards.revisions.get(`${name}-00002`) ?? 0, 0, 'nothing reaches the failing revision');
      assert.equal(errorsOf(afterwards), 0);

      const log = await events(name);
      assert.match(log, /Warning\s+GuardRolledBack\s/);
      const status = await karb(['get', 'services', name, '-o', 'yaml', '--server', up.controlUrl, '--token', up.adminToken]);
      assert.match(status.stdout, /reason: GuardFastBurn/);
      const described = await karb(['rollout', 'status', name, '--server', up.controlUrl, '--token', up.adminToken]);
      assert.match(described.stdout, new RegExp(`canary rollout of ${name}-00002 \\(replacing ${name}-00001\\) — RolledBack`));
      assert.match(described.stdout, /GuardFastBurn: rolled back by the guard: /);
      assert.match(described.stdout, /guard after promotion: Fired until \S+ — Fire: availability burn rate/);
    } finally {
      await probe.stop();
    }
  });

  it('leaves a promoted revision that stays healthy alone, and stops watching at the end of the window', async () => {
    const name = 'guard-holds';
    const faults = join(work.dir, 'guard-holds.faults-on'); // never created: v2 stays healthy
    const probe = await promote(name, ['--inject-error-rate', '0.5', '--inject-while', faults], '20s');
    try {
      const afterPromotion = probe.report().sent;
      const passed = await waitFor(`${name}'s guard to end`, async () => {
        const v = await view(name);
        if (v.rollout?.phase !== 'Succeeded') throw new Error(`${name} left Succeeded: ${v.rollout?.phase} ${v.rollout?.message}`);
        return v.rollout.guard?.phase === 'Passed' ? v : undefined;
      }, 90_000, 200);
      assert.equal(passed.stableRevision, `${name}-00002`);
      assert.equal(passed.rollout!.guard!.lastEvaluation?.verdict, 'Ended');
      const report = await probe.stop();
      assert.ok(report.sent - afterPromotion >= 100, 'the guard watched a revision under load');
      const log = await events(name);
      assert.match(log, /Normal\s+GuardPassed\s+/);
      assert.doesNotMatch(log, /GuardRolledBack/);
    } finally {
      await probe.stop();
    }
  });
});
