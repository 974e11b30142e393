import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eachLimited } from './each-limited.ts';

test('every item runs, never more than the limit at once, started in order', async () => {
  let running = 0;
  let most = 0;
  const started: number[] = [];
  await eachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    started.push(n);
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, n % 3));
    running--;
  });
  assert.deepEqual(started, [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(most, 3);
});

test('a task that throws rejects the whole, and no new task starts after it', async () => {
  const started: number[] = [];
  await assert.rejects(
    eachLimited([1, 2, 3, 4], 1, async (n) => {
      started.push(n);
      if (n === 2) throw new Error('two failed');
    }),
    /two failed/,
  );
  assert.deepEqual(started, [1, 2]);
});

test('no items: resolves at once', async () => {
  await eachLimited([], 4, async () => assert.fail('no task runs'));
});
