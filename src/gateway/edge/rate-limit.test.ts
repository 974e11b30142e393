import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../util/clock.ts';
import { defaultBurst, LocalRateLimiter, type BucketSpec } from './rate-limit.ts';
import { describeRateLimiter } from './rate-limit-conformance.ts';

const KEY: BucketSpec = { key: 'key:a', rate: 10, burst: 20, scope: 'key' };

// Burst, all-or-none and separate keys: rate-limit-conformance.ts, shared with the Redis limiter.
describeRateLimiter('local', { create: async () => new LocalRateLimiter(new ManualClock(0)) });

test('after its burst, a bucket admits one request per 1/rate seconds and refills up to the burst', () => {
  const clock = new ManualClock(1_000_000);
  const limiter = new LocalRateLimiter(clock);
  for (let i = 0; i < 20; i++) limiter.take([KEY]);
  const refused = limiter.take([KEY]);
  assert.equal(refused.allowed, false);
  assert.equal(refused.retryAfterSeconds, 1);
  assert.equal(refused.resetSeconds, 2, 'an empty bucket of 20 at 10/s is full after 2 s');
  clock.advance(100);
  assert.equal(limiter.take([KEY]).allowed, true, 'one token back after 100 ms');
  assert.equal(limiter.take([KEY]).allowed, false);
  clock.advance(10_000);
  assert.equal(limiter.take([KEY]).remaining, 19, 'refill stops at the burst');
});

test('accuracy: 50 req/s offered for 10 s at a 10 req/s limit admits burst + rate·T, no more', () => {
  const clock = new ManualClock(0);
  const limiter = new LocalRateLimiter(clock);
  let admitted = 0;
  const perSecond: number[] = [];
  for (let second = 0; second < 10; second++) {
    let thisSecond = 0;
    for (let i = 0; i < 50; i++) {
      if (limiter.take([KEY]).allowed) thisSecond++;
      clock.advance(20);
    }
    perSecond.push(thisSecond);
    admitted += thisSecond;
  }
  // Bucket starts full (20), refills 10/s over the 10 s: at most 20 + 100.
  assert.ok(admitted <= 120, `admitted ${admitted}`);
  assert.ok(admitted >= 118, `admitted ${admitted}: the limit does not starve either`);
  assert.ok(perSecond.slice(1).every((n) => n <= 10), `after the burst, at most the rate each second: ${perSecond}`);
});

test('the default burst is twice the rate, at least one', () => {
  assert.equal(defaultBurst(10), 20);
  assert.equal(defaultBurst(0.2), 1);
});
