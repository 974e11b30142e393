import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GiveUp, waitFor } from './wait-for.ts';

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

test('a check that throws GiveUp ends the wait at once, with its reason', async () => {
  let calls = 0;
  await assert.rejects(
    waitFor('a process that exited', () => {
      calls++;
      throw new GiveUp('it exited 1');
    }, 60_000),
    /^Error: gave up waiting for a process that exited: it exited 1$/,
  );
  assert.equal(calls, 1);
});
