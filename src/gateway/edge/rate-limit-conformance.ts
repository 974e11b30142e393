/**
 * The contract every `RateLimiter` keeps, as one suite each implementation's
 * test runs (`describeRateLimiter('local', factory)`): a bucket admits its
 * burst and then refuses with a Retry-After, a request takes a token from
 * every bucket that applies or from none, and buckets are apart by key.
 * Buckets here refill at 0.001 tokens a second, so a refill never shows
 * within a test, whatever clock the limiter keeps (Redis keeps its own);
 * refill arithmetic is tested on the local limiter with a manual clock.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { BucketSpec, RateLimiter } from './rate-limit.ts';

export interface RateLimiterFactory {
  /** A limiter that has no bucket yet (a fresh store or key prefix); the suite closes it. */
  create(): Promise<RateLimiter>;
}

const SLOW_KEY: BucketSpec = { key: 'key:a', rate: 0.001, burst: 10, scope: 'key' };
const SLOW_SERVICE: BucketSpec = { key: 'svc:default/fraud', rate: 0.001, burst: 3, scope: 'service' };

export function describeRateLimiter(name: string, factory: RateLimiterFactory): void {
  describe(`RateLimiter conformance: ${name}`, () => {
    const open: RateLimiter[] = [];
    afterEach(async () => {
      for (const l of open.splice(0)) await l.close();
    });
    const limiter = async () => {
      const l = await factory.create();
      open.push(l);
      return l;
    };

    it('a full bucket admits its burst at once, counting down, then refuses with a Retry-After', async () => {
      const l = await limiter();
      for (let i = 0; i < SLOW_KEY.burst; i++) {
        const d = await l.take([SLOW_KEY]);
        assert.equal(d.allowed, true, `request ${i} within the burst`);
        assert.equal(d.remaining, SLOW_KEY.burst - 1 - i);
        assert.equal(d.retryAfterSeconds, 0);
        assert.deepEqual(d.limiting, SLOW_KEY);
      }
      const refused = await l.take([SLOW_KEY]);
      assert.equal(refused.allowed, false);
      assert.equal(refused.remaining, 0);
      assert.ok(refused.retryAfterSeconds >= 1, `Retry-After ${refused.retryAfterSeconds}`);
      assert.ok(refused.resetSeconds >= refused.retryAfterSeconds, 'full again no sooner than the next token');
    });

    it('a request takes from every bucket or from none', async () => {
      const l = await limiter();
      for (let i = 0; i < SLOW_SERVICE.burst; i++) assert.equal((await l.take([SLOW_KEY, SLOW_SERVICE])).allowed, true);
      const refused = await l.take([SLOW_KEY, SLOW_SERVICE]);
      assert.equal(refused.allowed, false);
      assert.equal(refused.limiting.scope, 'service', 'the service bucket refused');
      // The key bucket was not charged for the refused request: 3 of 10 taken, 6 left after this one.
      assert.equal((await l.take([SLOW_KEY])).remaining, 6);
    });

    it('when every bucket admits, the one with the fewest tokens left is the limiting one', async () => {
      const l = await limiter();
      const d = await l.take([SLOW_KEY, SLOW_SERVICE]);
      assert.equal(d.allowed, true);
      assert.equal(d.limiting.scope, 'service');
      assert.equal(d.remaining, SLOW_SERVICE.burst - 1);
    });

    it('buckets with different keys are apart', async () => {
      const l = await limiter();
      const other: BucketSpec = { ...SLOW_KEY, key: 'key:b', burst: 1 };
      assert.equal((await l.take([other])).allowed, true);
      assert.equal((await l.take([other])).allowed, false);
      assert.equal((await l.take([SLOW_KEY])).remaining, SLOW_KEY.burst - 1, 'key:a still full');
    });
  });
}
