/**
 * The contract every JobStore keeps, as one suite each implementation's test
 * runs (`describeJobStore('sqlite', factory)`): the state machine, TTL expiry
 * on an injected clock, recovery after a crash, queue bounds.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../util/clock.ts';
import type { JobStore, NewJob } from './types.ts';

export interface StoreFactory {
  /** A fresh, empty store on `clock`. `reopen` gives a second store on the same data (a restarted process). */
  create(clock: ManualClock): Promise<{ store: JobStore; reopen(): Promise<JobStore>; cleanup(): Promise<void> }>;
}

const TTL = 60_000;

function newJob(over: Partial<NewJob> = {}): NewJob {
  return { owner: 'key-a', service: 'fraud', path: '/v2/models/fraud/infer', contentType: 'application/json', body: Buffer.from('{"x":1}'), ttlMs: TTL, ...over };
}

export function describeJobStore(name: string, factory: StoreFactory): void {
  describe(`JobStore conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c();
    });
    const open = async (clock = new ManualClock(1_000_000)) => {
      const made = await factory.create(clock);
      cleanups.push(async () => {
        await made.store.close();
        await made.cleanup();
      });
      return { clock, ...made };
    };

    it('enqueues a queued job with a random id and keeps the request', async () => {
      const { store, clock } = await open();
      const a = await store.enqueue(newJob(), 10);
      const b = await store.enqueue(newJob(), 10);
      assert.ok(a.accepted && b.accepted);
      assert.notEqual(a.job.id, b.job.id);
      assert.match(a.job.id, /^[A-Za-z0-9_-]{22}$/);
      const got = await store.get(a.job.id);
      assert.ok(got);
      assert.equal(got.state, 'queued');
      assert.equal(got.owner, 'key-a');
      assert.equal(got.service, 'fraud');
      assert.equal(got.path, '/v2/models/fraud/infer');
      assert.equal(got.contentType, 'application/json');
      assert.equal(got.body.toString(), '{"x":1}');
      assert.equal(got.createdAt, clock.now());
      assert.equal(got.expiresAt, clock.now() + TTL);
      assert.equal(got.attempts, 0);
      assert.equal(got.resultStatus, null);
      assert.equal(await store.get('AAAAAAAAAAAAAAAAAAAAAA'), undefined);
    });

    it('walks queued → running → succeeded once, oldest first', async () => {
      const { store, clock } = await open();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await store.enqueue(newJob({ body: Buffer.from(String(i)) }), 10);
        assert.ok(r.accepted);
        ids.push(r.job.id);
        clock.advance(1);
      }
      const claimed = await store.claim(2);
      assert.deepEqual(claimed.map((j) => j.id), ids.slice(0, 2));
      assert.ok(claimed.every((j) => j.state === 'running' && j.attempts === 1));
      assert.deepEqual((await store.claim(5)).map((j) => j.id), [ids[2]]);
      assert.deepEqual(await store.claim(5), []);

      const outcome = { state: 'succeeded' as const, status: 200, contentType: 'application/json', body: Buffer.from('{"ok":true}') };
      assert.equal(await store.complete(ids[0]!, outcome), true);
      // A terminal state is written once.
      assert.equal(await store.complete(ids[0]!, { ...outcome, state: 'failed', status: 500 }), false);
      const done = await store.get(ids[0]!);
      assert.equal(done?.state, 'succeeded');
      assert.equal(done?.resultStatus, 200);
      assert.equal(done?.resultContentType, 'application/json');
      assert.equal(done?.resultBody?.toString(), '{"ok":true}');

      assert.equal(await store.complete(ids[1]!, { state: 'failed', status: 400, contentType: 'application/json', body: Buffer.from('{"error":"bad"}') }), true);
      assert.equal((await store.get(ids[1]!))?.state, 'failed');
      assert.deepEqual(await store.counts(), { queued: 0, running: 1, succeeded: 1, failed: 1, expired: 0 });
    });

    it('does not complete a job that is not running', async () => {
      const { store } = await open();
      const r = await store.enqueue(newJob(), 10);
      assert.ok(r.accepted);
      assert.equal(await store.complete(r.job.id, { state: 'succeeded', status: 200, contentType: 'text/plain', body: Buffer.from('x') }), false);
      assert.equal((await store.get(r.job.id))?.state, 'queued');
    });

    it('releases a running job back to the queue, not before the given time', async () => {
      const { store, clock } = await open();
      const r = await store.enqueue(newJob(), 10);
      assert.ok(r.accepted);
      await store.claim(1);
      assert.equal(await store.release(r.job.id, clock.now() + 500), true);
      assert.equal((await store.get(r.job.id))?.state, 'queued');
      assert.deepEqual(await store.claim(1), []);
      clock.advance(500);
      const again = await store.claim(1);
      assert.equal(again[0]?.id, r.job.id);
      assert.equal(again[0]?.attempts, 2);
    });

    it('refuses past maxQueued unfinished jobs per service', async () => {
      const { store } = await open();
      assert.ok((await store.enqueue(newJob(), 2)).accepted);
      assert.ok((await store.enqueue(newJob(), 2)).accepted);
      const full = await store.enqueue(newJob(), 2);
      assert.deepEqual(full, { accepted: false, reason: 'QueueFull', queued: 2 });
      // Another service has its own bound.
      assert.ok((await store.enqueue(newJob({ service: 'other' }), 2)).accepted);
      assert.equal(store.queuedCount('fraud'), 2);
      assert.equal(store.queuedCount('other'), 1);
      // Running jobs still count; finished ones free a place.
      const [first] = await store.claim(1);
      assert.equal((await store.enqueue(newJob(), 2)).accepted, false);
      await store.complete(first!.id, { state: 'succeeded', status: 200, contentType: 'text/plain', body: Buffer.from('') });
      assert.ok((await store.enqueue(newJob(), 2)).accepted);
    });

    it('expires queued jobs whose TTL passed instead of running them', async () => {
      const { store, clock } = await open();
      const old = await store.enqueue(newJob({ ttlMs: 1_000 }), 10);
      clock.advance(600);
      const young = await store.enqueue(newJob({ ttlMs: 1_000 }), 10);
      assert.ok(old.accepted && young.accepted);
      clock.advance(400);
      const claimed = await store.claim(10);
      assert.deepEqual(claimed.map((j) => j.id), [young.job.id]);
      assert.equal((await store.get(old.job.id))?.state, 'expired');
      assert.deepEqual(await store.counts(), { queued: 0, running: 1, succeeded: 0, failed: 0, expired: 1 });
    });

    it('sweep expires queued jobs and forgets finished ones after their TTL', async () => {
      const { store, clock } = await open();
      const a = await store.enqueue(newJob({ ttlMs: 1_000 }), 10);
      const b = await store.enqueue(newJob({ ttlMs: 1_000 }), 10);
      assert.ok(a.accepted && b.accepted);
      const [running] = await store.claim(1);
      await store.complete(running!.id, { state: 'succeeded', status: 200, contentType: 'text/plain', body: Buffer.from('') });
      clock.advance(1_000);
      assert.deepEqual(await store.sweep(), { expired: 1, deleted: 1 });
      assert.equal(await store.get(a.job.id), undefined);
      assert.equal((await store.get(b.job.id))?.state, 'expired');
      clock.advance(1_000);
      assert.deepEqual(await store.sweep(), { expired: 0, deleted: 1 });
      assert.deepEqual(await store.counts(), { queued: 0, running: 0, succeeded: 0, failed: 0, expired: 0 });
    });

    it('after a crash, a restarted store puts running jobs back in the queue and expires overdue ones', async () => {
      const { store, clock, reopen } = await open();
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await store.enqueue(newJob({ ttlMs: i === 3 ? 500 : TTL }), 10);
        assert.ok(r.accepted);
        ids.push(r.job.id);
      }
      const claimed = await store.claim(4);
      assert.equal(claimed.length, 4);
      await store.complete(ids[0]!, { state: 'succeeded', status: 200, contentType: 'text/plain', body: Buffer.from('done') });
      clock.advance(500);

      // The first process is gone without a word; a second one opens the same data.
      const second = await reopen();
      cleanups.push(() => second.close());
      assert.deepEqual(await second.recover(), { requeued: 2, expired: 1 });
      assert.equal((await second.get(ids[0]!))?.state, 'succeeded');
      assert.equal((await second.get(ids[3]!))?.state, 'expired');
      const again = await second.claim(10);
      assert.deepEqual(again.map((j) => j.id).sort(), [ids[1], ids[2]].sort());
      assert.ok(again.every((j) => j.attempts === 2));
      for (const j of again) assert.equal(await second.complete(j.id, { state: 'succeeded', status: 200, contentType: 'text/plain', body: Buffer.from('') }), true);
      assert.deepEqual(await second.counts(), { queued: 0, running: 0, succeeded: 3, failed: 0, expired: 1 });
    });
  });
}
