/**
 * The contract every JobStore keeps, as one suite each implementation's test
 * runs (`describeJobStore('sqlite', factory)`): the state machine, TTL expiry
 * on an injected clock, recovery after a crash, queue bounds, listing an
 * owner's jobs and cancelling them.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../util/clock.ts';
import type { JobOutcome, JobStore, NewJob } from './types.ts';

export interface StoreFactory {
  /** A fresh, empty store on `clock`. `reopen` gives a second store on the same data (a restarted process). */
  create(clock: ManualClock): Promise<{ store: JobStore; reopen(): Promise<JobStore>; cleanup(): Promise<void> }>;
}

const TTL = 60_000;
const OK: JobOutcome = { state: 'succeeded', status: 200, contentType: 'application/json', body: Buffer.from('{"ok":true}') };

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
      assert.deepEqual(await store.counts(), { queued: 0, running: 1, succeeded: 1, failed: 1, expired: 0, cancelled: 0 });
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
      assert.deepEqual(await store.counts(), { queued: 0, running: 1, succeeded: 0, failed: 0, expired: 1, cancelled: 0 });
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
      assert.deepEqual(await store.counts(), { queued: 0, running: 0, succeeded: 0, failed: 0, expired: 0, cancelled: 0 });
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
      assert.deepEqual(await second.counts(), { queued: 0, running: 0, succeeded: 3, failed: 0, expired: 1, cancelled: 0 });
    });

    /** Enqueues `n` jobs of `owner` (all in the same millisecond: order must not depend on the clock). */
    const enqueueMany = async (store: JobStore, n: number, over: Partial<NewJob> = {}): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await store.enqueue(newJob({ body: Buffer.from(String(i)), ...over }), 100);
        assert.ok(r.accepted);
        ids.push(r.job.id);
      }
      return ids;
    };
    const listIds = async (store: JobStore, owner: string, query: Parameters<JobStore['list']>[1]) => {
      const page = await store.list(owner, query);
      return { ids: page.jobs.map((j) => j.id), next: page.next };
    };

    it("lists an owner's jobs newest first, a page at a time; new jobs do not move later pages", async () => {
      const { store } = await open();
      const a = await enqueueMany(store, 3);
      const b = await enqueueMany(store, 2, { owner: 'key-b' });
      a.push(...(await enqueueMany(store, 2)));

      const first = await listIds(store, 'key-a', { limit: 2 });
      assert.deepEqual(first.ids, [a[4], a[3]]);
      assert.notEqual(first.next, null);
      // A job arriving between pages shows on a new first page, never on the next ones.
      const late = await enqueueMany(store, 1);
      const second = await listIds(store, 'key-a', { limit: 2, after: first.next! });
      assert.deepEqual(second.ids, [a[2], a[1]]);
      const third = await listIds(store, 'key-a', { limit: 2, after: second.next! });
      assert.deepEqual(third, { ids: [a[0]], next: null });
      assert.deepEqual((await listIds(store, 'key-a', { limit: 100 })).ids, [late[0], ...[...a].reverse()]);

      // Only the owner's jobs, and a page that ends exactly at the last job has no next.
      assert.deepEqual(await listIds(store, 'key-b', { limit: 2 }), { ids: [b[1], b[0]], next: null });
      assert.deepEqual(await listIds(store, 'nobody', { limit: 20 }), { ids: [], next: null });
    });

    it('lists jobs as summaries: state, times and result status, no bodies', async () => {
      const { store, clock } = await open();
      const [id] = await enqueueMany(store, 1);
      clock.advance(5);
      await store.claim(1);
      await store.complete(id!, OK);
      const { jobs } = await store.list('key-a', { limit: 1 });
      const job = await store.get(id!);
      assert.ok(job);
      const { body: _body, resultBody: _resultBody, ...summary } = job;
      assert.deepEqual(jobs, [summary]);
      assert.equal('body' in jobs[0]!, false);
      assert.equal('resultBody' in jobs[0]!, false);
    });

    it('filters a listing by state, pages included', async () => {
      const { store } = await open();
      const ids = await enqueueMany(store, 6);
      await store.claim(2);
      await store.complete(ids[0]!, OK);
      assert.equal((await store.cancel(ids[5]!, 'key-a')).outcome, 'cancelled');
      assert.deepEqual((await listIds(store, 'key-a', { limit: 20, state: 'succeeded' })).ids, [ids[0]]);
      assert.deepEqual((await listIds(store, 'key-a', { limit: 20, state: 'running' })).ids, [ids[1]]);
      assert.deepEqual((await listIds(store, 'key-a', { limit: 20, state: 'cancelled' })).ids, [ids[5]]);
      assert.deepEqual((await listIds(store, 'key-a', { limit: 20, state: 'failed' })).ids, []);
      const queued = await listIds(store, 'key-a', { limit: 2, state: 'queued' });
      assert.deepEqual(queued.ids, [ids[4], ids[3]]);
      assert.deepEqual(await listIds(store, 'key-a', { limit: 2, state: 'queued', after: queued.next! }), { ids: [ids[2]], next: null });
      assert.deepEqual((await listIds(store, 'key-b', { limit: 20, state: 'queued' })).ids, []);
    });

    it('cancels a queued job: it is never claimed, and it frees its place in the queue', async () => {
      const { store, clock } = await open();
      const [a, b] = await enqueueMany(store, 2);
      clock.advance(10);
      const r = await store.cancel(a!, 'key-a');
      assert.equal(r.outcome, 'cancelled');
      assert.ok(r.outcome === 'cancelled');
      assert.equal(r.job.state, 'cancelled');
      assert.equal(r.job.updatedAt, clock.now());
      assert.equal(r.job.resultStatus, null);
      assert.deepEqual((await store.claim(10)).map((j) => j.id), [b]);
      assert.deepEqual(await store.claim(10), []);
      assert.equal((await store.get(a!))?.state, 'cancelled');
      // Unfinished jobs are bounded per service; a cancelled one no longer counts.
      assert.ok((await store.enqueue(newJob(), 2)).accepted);
      assert.deepEqual(await store.counts(), { queued: 1, running: 1, succeeded: 0, failed: 0, expired: 0, cancelled: 1 });
    });

    it('cancels a job released to wait: it is not claimed when its wait is over', async () => {
      const { store, clock } = await open();
      const [id] = await enqueueMany(store, 1);
      await store.claim(1);
      assert.equal(await store.release(id!, clock.now() + 500), true);
      assert.equal((await store.cancel(id!, 'key-a')).outcome, 'cancelled');
      clock.advance(500);
      assert.deepEqual(await store.claim(10), []);
      assert.equal((await store.get(id!))?.state, 'cancelled');
    });

    it("cancels a running job: the worker's later answer changes nothing", async () => {
      const { store } = await open();
      const [id] = await enqueueMany(store, 1);
      const [running] = await store.claim(1);
      assert.equal(running?.id, id);
      assert.equal((await store.cancel(id!, 'key-a')).outcome, 'cancelled');
      assert.equal(await store.complete(id!, OK), false);
      assert.equal(await store.release(id!, 0), false);
      const job = await store.get(id!);
      assert.equal(job?.state, 'cancelled');
      assert.equal(job?.resultStatus, null);
      assert.equal(job?.resultBody, null);
      assert.deepEqual(await store.claim(10), []);
      assert.deepEqual(await store.counts(), { queued: 0, running: 0, succeeded: 0, failed: 0, expired: 0, cancelled: 1 });
    });

    it("does not cancel a finished job, and another owner's job is not found", async () => {
      const { store, clock } = await open();
      const ids = await enqueueMany(store, 3, { ttlMs: 1_000 });
      const expiring = await enqueueMany(store, 1, { ttlMs: 10 });
      await store.claim(2);
      await store.complete(ids[0]!, OK);
      await store.complete(ids[1]!, { ...OK, state: 'failed', status: 400 });
      await store.cancel(ids[2]!, 'key-a');
      clock.advance(10);
      await store.sweep();
      assert.deepEqual(await store.cancel(ids[0]!, 'key-a'), { outcome: 'finished', state: 'succeeded' });
      assert.deepEqual(await store.cancel(ids[1]!, 'key-a'), { outcome: 'finished', state: 'failed' });
      assert.deepEqual(await store.cancel(ids[2]!, 'key-a'), { outcome: 'finished', state: 'cancelled' });
      assert.deepEqual(await store.cancel(expiring[0]!, 'key-a'), { outcome: 'finished', state: 'expired' });

      const [queued] = await enqueueMany(store, 1);
      assert.deepEqual(await store.cancel(queued!, 'key-b'), { outcome: 'not-found' });
      assert.deepEqual(await store.cancel(ids[0]!, 'key-b'), { outcome: 'not-found' });
      assert.deepEqual(await store.cancel('AAAAAAAAAAAAAAAAAAAAAA', 'key-a'), { outcome: 'not-found' });
      assert.equal((await store.get(queued!))?.state, 'queued');
      assert.equal((await store.claim(1))[0]?.id, queued);
    });

    it('keeps a cancelled job for its TTL after the cancel, then deletes it like other finished jobs', async () => {
      const { store, clock } = await open();
      const [id] = await enqueueMany(store, 1, { ttlMs: 1_000 });
      clock.advance(100);
      await store.cancel(id!, 'key-a');
      clock.advance(999);
      assert.deepEqual(await store.sweep(), { expired: 0, deleted: 0 });
      assert.equal((await store.get(id!))?.state, 'cancelled');
      clock.advance(1);
      assert.deepEqual(await store.sweep(), { expired: 0, deleted: 1 });
      assert.equal(await store.get(id!), undefined);
      assert.deepEqual(await listIds(store, 'key-a', { limit: 20 }), { ids: [], next: null });
      assert.deepEqual(await listIds(store, 'key-a', { limit: 20, state: 'cancelled' }), { ids: [], next: null });
      assert.deepEqual(await store.counts(), { queued: 0, running: 0, succeeded: 0, failed: 0, expired: 0, cancelled: 0 });
      // Positions are not reused after deletion: an old cursor still means "older than what I saw".
      const [next] = await enqueueMany(store, 1);
      assert.deepEqual((await listIds(store, 'key-a', { limit: 20 })).ids, [next]);
    });

    it("cancels racing the worker's claims: each job is cancelled once and never completed", async () => {
      const { store } = await open();
      const ids = await enqueueMany(store, 40);
      const [claimed, cancels] = await Promise.all([
        Promise.all([store.claim(15), store.claim(15)]).then((pages) => pages.flat()),
        Promise.all(ids.map((id) => store.cancel(id, 'key-a'))),
      ]);
      // Every job was queued or running at its cancel: all are cancelled, however the two interleaved.
      assert.ok(cancels.every((c) => c.outcome === 'cancelled'));
      for (const job of claimed) assert.equal(await store.complete(job.id, OK), false);
      assert.deepEqual(await store.claim(100), []);
      assert.deepEqual(await store.counts(), { queued: 0, running: 0, succeeded: 0, failed: 0, expired: 0, cancelled: 40 });
      assert.equal((await store.list('key-a', { limit: 100, state: 'cancelled' })).jobs.length, 40);
      assert.ok((await store.enqueue(newJob(), 1)).accepted, 'no unfinished job is left counted against maxQueued');
    });

    it('a restarted store never puts a cancelled job back in the queue', async () => {
      const { store, reopen } = await open();
      const ids = await enqueueMany(store, 3);
      await store.claim(2);
      await store.cancel(ids[0]!, 'key-a'); // was running
      await store.cancel(ids[2]!, 'key-a'); // was queued

      const second = await reopen();
      cleanups.push(() => second.close());
      assert.deepEqual(await second.recover(), { requeued: 1, expired: 0 });
      assert.deepEqual((await second.claim(10)).map((j) => j.id), [ids[1]]);
      assert.equal((await second.get(ids[0]!))?.state, 'cancelled');
      assert.equal((await second.get(ids[2]!))?.state, 'cancelled');
      assert.deepEqual(await second.counts(), { queued: 0, running: 1, succeeded: 0, failed: 0, expired: 0, cancelled: 2 });
    });
  });
}
