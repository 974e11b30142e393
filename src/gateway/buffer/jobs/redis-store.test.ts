import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../util/clock.ts';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { startRedis, type TestRedis } from '../../edge/test-redis.ts';
import { RedisJobStore } from './redis-store.ts';
import { describeJobStore } from './store-conformance.ts';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.close();
});

describeJobStore('redis streams', {
  async create(clock) {
    // Each case gets its own key space on the shared server.
    const prefix = `karb:test:${randomBytes(6).toString('hex')}:`;
    const open = () => new RedisJobStore({ url: redis.url, clock, prefix, consumer: 'gateway-0' });
    return { store: open(), reopen: async () => open(), cleanup: async () => {} };
  },
});

describe('RedisJobStore across gateway replicas', () => {
  const stores: RedisJobStore[] = [];
  after(async () => {
    for (const s of stores) await s.close();
  });
  const open = (prefix: string, consumer: string, clock: ManualClock, claimIdleMs?: number) => {
    const s = new RedisJobStore({ url: redis.url, clock, prefix, consumer, ...(claimIdleMs !== undefined ? { claimIdleMs } : {}) });
    stores.push(s);
    return s;
  };
  const job = { owner: 'k', service: 'fraud', path: '/v2/models/fraud/infer', contentType: 'application/json', body: Buffer.from('{}'), ttlMs: 600_000 };

  it('hands each job to one gateway only', async () => {
    const clock = new ManualClock(1_000);
    const prefix = `karb:test:${randomBytes(6).toString('hex')}:`;
    const [a, b] = [open(prefix, 'gw-a', clock), open(prefix, 'gw-b', clock)];
    for (let i = 0; i < 20; i++) assert.ok((await a.enqueue(job, 100)).accepted);
    const claimed = [...(await a.claim(7)), ...(await b.claim(7)), ...(await a.claim(7)), ...(await b.claim(7))];
    assert.equal(claimed.length, 20);
    assert.equal(new Set(claimed.map((j) => j.id)).size, 20);
    assert.deepEqual(await b.counts(), { queued: 0, running: 20, succeeded: 0, failed: 0, expired: 0, cancelled: 0 });
  });

  it('puts back a job its gateway read from the stream but died before claiming', async () => {
    const clock = new ManualClock(1_000);
    const prefix = `karb:test:${randomBytes(6).toString('hex')}:`;
    const first = open(prefix, 'gw-a', clock);
    const queued = await first.enqueue(job, 100);
    assert.ok(queued.accepted);
    // What a gateway killed between XREADGROUP and its claim script leaves behind.
    const raw = new Redis(redis.url);
    try {
      await raw.xreadgroup('GROUP', 'workers', 'gw-a', 'COUNT', 10, 'STREAMS', `${prefix}stream`, '>');
    } finally {
      raw.disconnect();
    }
    const restarted = open(prefix, 'gw-a', clock);
    assert.deepEqual(await restarted.recover(), { requeued: 0, expired: 0 });
    const claimed = await restarted.claim(10);
    assert.deepEqual(claimed.map((j) => j.id), [queued.job.id]);
  });

  it('takes over the jobs of a gateway that died, once they were idle for claimIdleMs', async () => {
    const clock = new ManualClock(1_000);
    const prefix = `karb:test:${randomBytes(6).toString('hex')}:`;
    const dead = open(prefix, 'gw-dead', clock);
    for (let i = 0; i < 3; i++) assert.ok((await dead.enqueue(job, 100)).accepted);
    assert.equal((await dead.claim(3)).length, 3);
    // Redis measures idle time itself (real milliseconds).
    await new Promise((r) => setTimeout(r, 60));
    const survivor = open(prefix, 'gw-live', clock, 50);
    assert.deepEqual(await survivor.recover(), { requeued: 3, expired: 0 });
    const again = await survivor.claim(10);
    assert.equal(again.length, 3);
    for (const j of again) assert.ok(await survivor.complete(j.id, { state: 'succeeded', status: 200, contentType: 'text/plain', body: Buffer.from('') }));
    // The dead gateway's late answers change nothing: a terminal state is written once.
    assert.equal(await dead.complete(again[0]!.id, { state: 'failed', status: 500, contentType: 'text/plain', body: Buffer.from('') }), false);
    assert.deepEqual(await survivor.counts(), { queued: 0, running: 0, succeeded: 3, failed: 0, expired: 0, cancelled: 0 });
  });

  it('does not take over a job its owner cancelled while a gateway that died was running it', async () => {
    const clock = new ManualClock(1_000);
    const prefix = `karb:test:${randomBytes(6).toString('hex')}:`;
    const dead = open(prefix, 'gw-dead', clock);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await dead.enqueue(job, 100);
      assert.ok(r.accepted);
      ids.push(r.job.id);
    }
    assert.equal((await dead.claim(2)).length, 2);
    const survivor = open(prefix, 'gw-live', clock, 50);
    assert.equal((await survivor.cancel(ids[0]!, 'k')).outcome, 'cancelled');
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(await survivor.recover(), { requeued: 1, expired: 0 });
    assert.deepEqual((await survivor.claim(10)).map((j) => j.id), [ids[1]]);
    assert.equal((await dead.get(ids[0]!))?.state, 'cancelled');
  });

  it('removes a deleted job from its owner indexes, leaving no keys behind', async () => {
    const clock = new ManualClock(1_000);
    const prefix = `karb:test:${randomBytes(6).toString('hex')}:`;
    const store = open(prefix, 'gw-a', clock);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await store.enqueue({ ...job, ttlMs: 1_000 }, 100);
      assert.ok(r.accepted);
      ids.push(r.job.id);
    }
    await store.claim(1);
    await store.complete(ids[0]!, { state: 'succeeded', status: 200, contentType: 'text/plain', body: Buffer.from('') });
    await store.cancel(ids[1]!, 'k');
    clock.advance(1_000);
    assert.deepEqual(await store.sweep(), { expired: 1, deleted: 2 });
    clock.advance(1_000);
    assert.deepEqual(await store.sweep(), { expired: 0, deleted: 1 });
    const raw = new Redis(redis.url);
    try {
      const left = (await raw.keys(`${prefix}by-owner*`)).sort();
      assert.deepEqual(left, []);
      assert.equal(await raw.hget(`${prefix}owner-seq`, 'k'), '3');
    } finally {
      raw.disconnect();
    }
  });
});
