import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from './duration.ts';

test('durations: one grammar for specs, scenario files and flags', () => {
  const table: Array<[string, number | undefined]> = [
    ['90s', 90_000],
    ['1.5m', 90_000],
    ['250ms', 250],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['.5s', 500],
    [' 30s ', 30_000],
    ['5 m', 300_000],
    ['3', undefined], // a bare number means seconds only where a flag says so
    ['soon', undefined],
    ['-1s', undefined],
    ['10 minutes', undefined],
    ['1w', undefined],
    ['', undefined],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text), ms, text);
});

test('durations: units and bare seconds (karb load)', () => {
  const table: Array<[string, number | undefined]> = [
    ['90s', 90_000],
    ['1.5m', 90_000],
    ['250ms', 250],
    ['2h', 7_200_000],
    ['3', 3000],
    ['.5', 500],
    ['soon', undefined],
    ['-1s', undefined],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text, { bareSeconds: true }), ms, text);
});
