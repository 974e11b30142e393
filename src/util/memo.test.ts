import { test } from 'node:test';
import assert from 'node:assert/strict';
import { oncePerObject } from './memo.ts';

test('oncePerObject makes a value once per object, null included, and apart for each object', () => {
  const calls: string[] = [];
  const limitOf = oncePerObject((route: { name: string; rps?: number }) => {
    calls.push(route.name);
    return route.rps === undefined ? null : { rate: route.rps };
  });
  const limited = { name: 'a', rps: 5 };
  const open = { name: 'b' };
  assert.equal(limitOf(limited), limitOf(limited), 'the same object back');
  assert.deepEqual(limitOf(limited), { rate: 5 });
  assert.equal(limitOf(open), null);
  assert.equal(limitOf(open), null);
  assert.deepEqual(calls, ['a', 'b'], 'one make per object, a null result remembered too');
  assert.deepEqual(limitOf({ name: 'a', rps: 7 }), { rate: 7 }, 'an equal-looking new object is made anew');
});
