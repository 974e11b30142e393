/**
 * Failure and change, end to end: a replica killed with SIGKILL comes back; a
 * new model version becomes a new revision that takes over; karb itself killed
 * with SIGKILL and started again adopts its replicas instead of duplicating them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fraudRequest, isAlive, karb, ROOT, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

interface Replica {
  name: string;
  revision: string;
  phase: string;
  pid?: number;
  restarts: number;
}

const ROW = [1890, 3, 0.9, 850, 7, 1, 0, 20];

describe('recovery and revisions', () => {
  const work = workDir();
  let up: KarbUp;
  const replicas = async (u = up) => ((await (await fetch(`${u.controlUrl}/api/v1/replicas`, { headers: u.admin })).json()) as { items: Replica[] }).items;
  const infer = async (u = up) => {
    const res = await fetch(`${u.gatewayUrl}/v2/models/fraud-detector/infer`, { method: 'POST', headers: u.auth, body: fraudRequest([ROW]) });
    const body = (await res.json()) as { outputs?: Array<{ data: number[] }> };
    return { status: res.status, revision: res.headers.get('x-karb-revision'), p: body.outputs?.[0]?.data[0] };
  };
  const apply = async (file: string) => {
    const r = await karb(['apply', '-f', join(ROOT, 'examples', file), '--server', up.controlUrl], { cwd: work.dir });
    assert.equal(r.code, 0, r.stderr);
  };

  before(async () => {
    up = await startKarbUp(work.dir);
    await apply('fraud-detector.yaml');
    await waitFor('first answer', async () => (await infer()).status === 200);
  });

  after(async () => {
    const left = await replicas().catch(() => [] as Replica[]);
    await up?.stop();
    for (const r of left) if (r.pid && isAlive(r.pid)) process.kill(r.pid, 'SIGKILL');
    work.cleanup();
  });

  it('restarts a replica killed with SIGKILL and serves again', async () => {
    const [before] = await replicas();
    assert.ok(before?.pid);
    process.kill(before.pid, 'SIGKILL');
    const after = await waitFor('the replica to be restarted and Ready', async () => {
      const [r] = await replicas();
      return r && r.phase === 'Ready' && r.pid !== before.pid ? r : undefined;
    });
    assert.equal(after.restarts, 1);
    assert.equal(after.name, before.name);
    await waitFor('answers after the restart', async () => (await infer()).status === 200);
  });

  it('moves traffic to a new revision promoted by hand once it is ready, and stops the old one', async () => {
    const v1 = await infer();
    await apply('fraud-detector-v2.yaml');
    // The example rolls out as a canary over 90 s; promoting skips its steps.
    const promoted = await karb(['rollout', 'promote', 'fraud-detector', '--server', up.controlUrl], { cwd: work.dir });
    assert.equal(promoted.code, 0, promoted.stderr);
    // Promoting, or already Succeeded: with the canary ready at full count, the same pass may switch.
    assert.match(promoted.stdout, /canary rollout of fraud-detector-00002 \(replacing fraud-detector-00001\) — (Promoting|Succeeded)/);
    const v2 = await waitFor('revision 00002 to serve', async () => {
      const r = await infer();
      return r.revision === 'fraud-detector-00002' ? r : undefined;
    });
    assert.notEqual(v2.p, v1.p, 'the new model answers differently');
    await waitFor('the old revision to be gone', async () => (await replicas()).every((r) => r.revision === 'fraud-detector-00002'));
    const revisions = await karb(['get', 'revisions', 'fraud-detector', '--server', up.controlUrl], { cwd: work.dir });
    assert.match(revisions.stdout, /fraud-detector-00001\s+0\s+0%/);
    assert.match(revisions.stdout, /fraud-detector-00002\s+1\s+100%/);
  });

  it('adopts its replicas after being killed with SIGKILL, never duplicating them', async () => {
    const beforeKill = await replicas();
    assert.equal(beforeKill.length, 1);
    up.process.kill('SIGKILL');
    await up.stop();
    assert.ok(isAlive(beforeKill[0]!.pid!), 'the replica outlives karb');

    up = await startKarbUp(work.dir, { control: Number(new URL(up.controlUrl).port), gateway: Number(new URL(up.gatewayUrl).port) });
    const adopted = await waitFor('the replica to be adopted and Ready', async () => {
      const rs = await replicas();
      return rs.length === 1 && rs[0]!.phase === 'Ready' ? rs : undefined;
    });
    assert.equal(adopted[0]!.pid, beforeKill[0]!.pid, 'same process, adopted');
    const r = await waitFor('answers after the restart', async () => {
      const x = await infer();
      return x.status === 200 ? x : undefined;
    });
    assert.equal(r.revision, 'fraud-detector-00002');
    // Give the reconciler a few resync passes to prove it does not start another replica.
    await new Promise((res) => setTimeout(res, 3000));
    assert.equal((await replicas()).length, 1);
  });
});
