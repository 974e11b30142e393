import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpiringCache } from './expiring-cache.ts';
import type { Clock } from './clock.ts';

test('a value is kept for ttlMs after it was set, and the cache never holds more than maxEntries', () => {
  let now = 1000;
  const clock = { now: () => now } as Clock;
  const cache = new ExpiringCache<string>({ ttlMs: 100, maxEntries: 2, clock });
  cache.set('a', 'A');
  now = 1099;
  assert.equal(cache.get('a'), 'A');
  now = 1100;
  assert.equal(cache.get('a'), undefined, 'expired at ttlMs');
  cache.set('a', 'A2');
  cache.set('b', 'B');
  cache.set('c', 'C');
  assert.equal(cache.get('a'), undefined, 'full: it started over');
  assert.equal(cache.get('c'), 'C');
});
