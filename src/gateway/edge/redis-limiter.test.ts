/**
 * The Redis limiter against a real redis-server: the rate-limiter conformance
 * suite, buckets shared by limiter instances (as by gateway processes), the
 * script reloaded after SCRIPT FLUSH, and both failure modes when Redis is
 * unreachable.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RateLimitBackendError, RedisRateLimiter } from './redis-limiter.ts';
import type { BucketSpec } from './rate-limit.ts';
import { describeRateLimiter } from './rate-limit-conformance.ts';
import { freePort, startRedis, type TestRedis } from './test-redis.ts';

const SLOW: BucketSpec = { key: 'key:shared', rate: 0.001, burst: 10, scope: 'key' };

// One redis-server for the suite; each limiter it makes has a key prefix of its own, so no bucket is shared.
let conformanceRedis: TestRedis | undefined;
let madeLimiters = 0;
after(() => conformanceRedis?.close());
describeRateLimiter('redis', {
  async create() {
    conformanceRedis ??= await startRedis();
    return new RedisRateLimiter({ url: conformanceRedis.url, prefix: `conformance${process.pid}-${++madeLimiters}:` });
  },
});

test('limiters pointed at one Redis share a bucket', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const limiters = [0, 1, 2].map(() => new RedisRateLimiter({ url: redis.url, prefix: `t${process.pid}:` }));
  t.after(() => Promise.all(limiters.map((l) => l.close())));

  // A bucket of 10 that practically never refills: exactly 10 admitted across the three.
  let admitted = 0;
  const decisions = await Promise.all(Array.from({ length: 30 }, (_, i) => limiters[i % 3]!.take([SLOW])));
  for (const d of decisions) if (d.allowed) admitted++;
  assert.equal(admitted, 10);
  const refused = decisions.find((d) => !d.allowed)!;
  assert.equal(refused.remaining, 0);
  assert.ok(refused.retryAfterSeconds >= 1);

  // All or none holds across instances too: a refusal by the shared service bucket takes nothing from the key bucket.
  const tiny: BucketSpec = { key: 'svc:default/x', rate: 0.001, burst: 1, scope: 'service' };
  const wide: BucketSpec = { key: 'key:wide', rate: 0.001, burst: 5, scope: 'key' };
  assert.equal((await limiters[0]!.take([wide, tiny])).allowed, true);
  const both = await limiters[1]!.take([wide, tiny]);
  assert.equal(both.allowed, false);
  assert.equal((await limiters[2]!.take([wide])).remaining, 3, 'the refused request took nothing from the key bucket');
});

test('the script is loaded again when Redis lost it (EVALSHA falls back to EVAL)', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const limiter = new RedisRateLimiter({ url: redis.url });
  t.after(() => limiter.close());
  const admin = new Redis(redis.url);
  t.after(() => admin.disconnect());
  assert.equal((await limiter.take([SLOW])).allowed, true);
  await admin.script('FLUSH');
  const d = await limiter.take([SLOW]);
  assert.equal(d.allowed, true);
  assert.equal(d.remaining, 8);
});

test('unreachable Redis: fail open admits and counts; fail closed refuses with 503', async (t) => {
  const port = await freePort(); // nothing listens here
  let errors = 0;
  const logs: string[] = [];
  const open = new RedisRateLimiter({ url: `redis://127.0.0.1:${port}`, failure: 'open', onBackendError: () => errors++, log: (r) => logs.push(String(r.msg)) });
  const closed = new RedisRateLimiter({ url: `redis://127.0.0.1:${port}`, failure: 'closed', onBackendError: () => errors++ });
  t.after(() => Promise.all([open.close(), closed.close()]));

  for (let i = 0; i < 3; i++) assert.equal((await open.take([SLOW])).allowed, true);
  assert.equal(errors, 3);
  assert.deepEqual(logs, ['rate-limit store unreachable; failing open'], 'one log line per outage window, not per request');
  await assert.rejects(() => closed.take([SLOW]) as Promise<unknown>, (err: unknown) => {
    assert.ok(err instanceof RateLimitBackendError);
    assert.equal(err.status, 503);
    return true;
  });
  assert.equal(errors, 4);
});

test('Redis going away mid-run switches to the failure mode', async (t) => {
  const redis = await startRedis();
  let errors = 0;
  const limiter = new RedisRateLimiter({ url: redis.url, failure: 'closed', onBackendError: () => errors++ });
  t.after(() => limiter.close());
  assert.equal((await limiter.take([SLOW])).allowed, true);
  await redis.close();
  await assert.rejects(async () => limiter.take([SLOW]), RateLimitBackendError);
  assert.ok(errors >= 1);
});
