import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationMs, parseDuration } from './quantity.ts';

test('the resource reads durations with the one grammar; durationMs is for values the schema already validated', () => {
  assert.equal(parseDuration('1.5m'), 90_000);
  assert.equal(parseDuration('30'), undefined, 'a bare number is no duration in a spec');
  assert.equal(durationMs('5m'), 300_000);
  assert.throws(() => durationMs('soon'), RangeError);
});
