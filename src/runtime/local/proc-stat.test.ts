import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProcStat, readProcessCpuSeconds, readProcStat } from './proc-stat.ts';

// A real line from Linux, and the same with a command name made to confuse a naive split.
const LINE = '4242 (node) S 4200 4242 4200 0 -1 4194560 1520 0 0 0 250 75 0 0 20 0 11 0 987654 1234567 8901 18446744073709551615 1 1 0 0 0 0 0 16781312 134234626 0 0 0 17 1 0 0 0 0 0';
const TRICKY = LINE.replace('(node)', '(a) b) S 1 (c)');

test('reads state, parent, CPU ticks and start time from the fields after the command name', () => {
  const expected = { state: 'S', ppid: 4200, utimeTicks: 250, stimeTicks: 75, startTime: '987654' };
  assert.deepEqual(parseProcStat(LINE), expected);
  assert.deepEqual(parseProcStat(TRICKY), expected, 'spaces and parentheses in the command name');
  assert.deepEqual(parseProcStat(`${LINE}\n`), expected, 'the trailing newline of the file');
});

test('text that is not a stat line is refused, not misread', () => {
  assert.equal(parseProcStat(''), undefined);
  assert.equal(parseProcStat('4242 (node) S'), undefined, 'cut short');
  assert.equal(parseProcStat('no parentheses here'), undefined);
});

test("this process's own stat file parses, and a pid that does not exist reads as missing", () => {
  const own = readProcStat(process.pid);
  assert.ok(own, 'this test runs on Linux with /proc');
  assert.equal(own.ppid, process.ppid);
  assert.ok(readProcessCpuSeconds(process.pid)! >= 0);
  assert.equal(readProcStat(2 ** 30), undefined);
  assert.equal(readProcessCpuSeconds(2 ** 30), undefined);
});
