import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, decideRestart, type BackoffPolicy } from './backoff.ts';

const policy: BackoffPolicy = { initialMs: 200, maxMs: 10_000, resetAfterMs: 30_000 };

test('delay doubles per consecutive crash and stops at the maximum', () => {
  const delays = [1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => backoffDelay(policy, n));
  assert.deepEqual(delays, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]);
});

test('decideRestart', async (t) => {
  const cases: Array<{ name: string; previous: number; readySince: number | undefined; now: number; want: { consecutiveCrashes: number; delayMs: number } }> = [
    { name: 'first crash, never ready', previous: 0, readySince: undefined, now: 1000, want: { consecutiveCrashes: 1, delayMs: 200 } },
    { name: 'crash loop keeps growing', previous: 3, readySince: undefined, now: 1000, want: { consecutiveCrashes: 4, delayMs: 1600 } },
    { name: 'ready only briefly: still a crash loop', previous: 3, readySince: 0, now: 29_999, want: { consecutiveCrashes: 4, delayMs: 1600 } },
    { name: 'ready long enough: count resets', previous: 6, readySince: 0, now: 30_000, want: { consecutiveCrashes: 1, delayMs: 200 } },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      assert.deepEqual(decideRestart(policy, c.previous, c.readySince, c.now), c.want);
    });
  }
});
