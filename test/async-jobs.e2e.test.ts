/**
 * Durable async jobs on a real `karb up`: 1,000 jobs accepted with
 * `Prefer: respond-async` while the replica is paused (SIGSTOP), so that at the
 * kill every job is queued or in the middle of a dispatch; karb killed with
 * SIGKILL, the replica resumed, karb started again on the same state directory:
 * every job ends in exactly one terminal state, and the key that created them
 * can read every result.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fraudRequest, isAlive, karb, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';
import { startRedis, type TestRedis } from '../src/gateway/edge/test-redis.ts';
import { RedisJobStore } from '../src/gateway/buffer/jobs/redis-store.ts';
import { systemClock } from '../src/util/clock.ts';

const JOBS = 1_000;
const ROW = [1890, 3, 0.9, 850, 7, 1, 0, 20];
const SERVICE = `
apiVersion: karb.dev/v1alpha1
kind: InferenceService
metadata: { name: fraud-async }
spec:
  model: { format: onnx, uri: file://models/fraud-v1.onnx, batching: { maxBatchSize: 32, maxDelayMs: 4 } }
  scaling: { minReplicas: 1, maxReplicas: 1, targetConcurrency: 8 }
  # A lax latency target: a try waits 4 × p95 before it is timed out, so while the replica is
  # paused the worker's dispatches hang (as the kill needs) instead of failing after a second.
  slo: { latencyP95Ms: 30000 }
  traffic: { async: { enabled: true, maxQueued: 5000, ttl: 10m } }
`;

interface JobView {
  id: string;
  status: string;
  attempts: number;
  result?: { status: number; body: { outputs?: unknown[] } };
}

async function inParallel<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

function sqliteCounts(dbFile: string): Record<string, number> {
  const db = new DatabaseSync(dbFile, { readOnly: true });
  try {
    const rows = db.prepare('SELECT state, count(*) AS n FROM jobs GROUP BY state').all() as Array<{ state: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  } finally {
    db.close();
  }
}

/** Jobs per state, read from the store itself (only states that have jobs). */
async function storeCounts(kind: 'sqlite' | 'redis', dir: string, redis: TestRedis | undefined): Promise<Record<string, number>> {
  if (kind === 'sqlite') return sqliteCounts(join(dir, '.karb', 'jobs.db'));
  const store = new RedisJobStore({ url: redis!.url, clock: systemClock, consumer: 'test-reader' });
  try {
    return Object.fromEntries(Object.entries(await store.counts()).filter(([, n]) => n > 0));
  } finally {
    await store.close();
  }
}

for (const kind of ['sqlite', 'redis'] as const) describe(`async jobs survive SIGKILL (${kind} store)`, () => {
  const work = workDir('karb-async-e2e-');
  const ups: KarbUp[] = [];
  const replicaPids = new Set<number>();
  let redis: TestRedis | undefined;
  const extraArgs = (): string[] => (redis ? ['--redis', redis.url] : []);

  after(async () => {
    for (const up of ups) {
      const rs = await fetch(`${up.controlUrl}/api/v1/replicas`, { headers: up.admin }).then((r) => r.json() as Promise<{ items: Array<{ pid?: number }> }>).catch(() => ({ items: [] }));
      for (const r of rs.items) if (r.pid) replicaPids.add(r.pid);
      await up.stop();
    }
    for (const pid of replicaPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await redis?.close();
    work.cleanup();
  });

  it('ends every one of 1,000 jobs in exactly one terminal state after a restart', async () => {
    if (kind === 'redis') redis = await startRedis();
    const first = await startKarbUp(work.dir, {}, extraArgs());
    ups.push(first);
    writeFileSync(join(work.dir, 'fraud-async.yaml'), SERVICE);
    const applied = await karb(['apply', '-f', 'fraud-async.yaml', '--server', first.controlUrl], { cwd: work.dir });
    assert.equal(applied.code, 0, applied.stderr);
    const infer = `${first.gatewayUrl}/v2/models/fraud-async/infer`;
    await waitFor('a synchronous answer', async () => (await fetch(infer, { method: 'POST', headers: first.auth, body: fraudRequest([ROW]) })).status === 200);

    const replicas = (await (await fetch(`${first.controlUrl}/api/v1/replicas`, { headers: first.admin })).json()) as { items: Array<{ service: string; pid?: number }> };
    const replicaPid = replicas.items.find((r) => r.service === 'fraud-async')?.pid;
    assert.ok(replicaPid);
    replicaPids.add(replicaPid);
    // Paused, the replica accepts connections but answers nothing: the worker's dispatches hang.
    process.kill(replicaPid, 'SIGSTOP');

    const body = fraudRequest(Array.from({ length: 16 }, () => ROW));
    const ids = await inParallel(JOBS, 32, async () => {
      const r = await fetch(infer, { method: 'POST', headers: { ...first.auth, prefer: 'respond-async', 'content-type': 'application/json' }, body });
      assert.equal(r.status, 202, await r.clone().text());
      const { id } = (await r.json()) as { id: string };
      assert.equal(r.headers.get('location'), `/v1/jobs/${id}`);
      return id;
    });
    assert.equal(new Set(ids).size, JOBS);

    await waitFor('the worker to have jobs in flight', async () => ((await storeCounts(kind, work.dir, redis)).running ?? 0) > 0);
    first.process.kill('SIGKILL');
    await first.stop();
    process.kill(replicaPid, 'SIGCONT');
    const atKill = await storeCounts(kind, work.dir, redis);
    const unfinishedAtKill = (atKill.queued ?? 0) + (atKill.running ?? 0);
    assert.equal(unfinishedAtKill, JOBS);
    console.log(`${kind}: at SIGKILL: ${JSON.stringify(atKill)}`);

    const second = await startKarbUp(work.dir, {}, extraArgs());
    ups.push(second);
    const restartedAt = Date.now();
    // The key that created the jobs lives in the state directory too.
    const views = await inParallel(JOBS, 16, (i) =>
      waitFor(`job ${i} to finish`, async () => {
        const r = await fetch(`${second.gatewayUrl}/v1/jobs/${ids[i]}`, { headers: first.auth });
        if (r.status !== 200) return undefined;
        const v = (await r.json()) as JobView;
        return v.status === 'queued' || v.status === 'running' ? undefined : v;
      }, 45_000, 200),
    );
    const drainSeconds = (Date.now() - restartedAt) / 1000;

    const byState: Record<string, number> = {};
    for (const v of views) byState[v.status] = (byState[v.status] ?? 0) + 1;
    const rerun = views.filter((v) => v.attempts > 1).length;
    console.log(`${kind}: after restart: ${JSON.stringify(byState)}; unfinished at the kill ${unfinishedAtKill}; run more than once ${rerun}; drained in ${drainSeconds.toFixed(1)} s`);
    assert.deepEqual(byState, { succeeded: JOBS });
    for (const v of views) {
      assert.equal(v.result?.status, 200);
      assert.equal(v.result?.body.outputs?.length, 1);
    }
    // Exactly one record per job, each terminal.
    assert.deepEqual(await storeCounts(kind, work.dir, redis), { succeeded: JOBS });
    const recovered = second.output().match(/"msg":"recovered async jobs"[^\n]*/);
    assert.ok(recovered, 'the restarted gateway logs what it recovered');
    assert.match(recovered[0], new RegExp(`"requeued":${atKill.running}`));
  });
});
