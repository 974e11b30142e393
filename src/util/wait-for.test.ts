import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './wait-for.ts';

test("returns the check's first truthy value", async () => {
  let calls = 0;
  const value = await waitFor('the third call', () => (++calls === 3 ? { calls } : undefined));
  assert.deepEqual(value, { calls: 3 });
  assert.equal(await waitFor('an async check', async () => 'ready'), 'ready');
});

test('a check that throws is tried again', async () => {
  let calls = 0;
  const value = await waitFor('a server that starts', async () => {
    if (++calls < 3) throw new Error('ECONNREFUSED');
    return true;
  });
  assert.equal(value, true);
});

test('runs out naming what it waited for and the last error', async () => {
  await assert.rejects(waitFor('nothing', () => false, 30), /^Error: timed out after 30 ms waiting for nothing$/);
  await assert.rejects(
    waitFor('a refusing server', () => {
      throw new Error('ECONNREFUSED');
    }, 30),
    /timed out after 30 ms waiting for a refusing server \(last error: ECONNREFUSED\)/,
  );
});
