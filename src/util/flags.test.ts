import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../errors.ts';
import { durationFlag, httpUrlFlag, listFlag, numberFlag, parseFlags, portFlag } from './flags.ts';

function usage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof UsageError && err.exitCode === 2 && err.code === 'USAGE' && message.test(err.message));
}

test('parseArgs mistakes are usage errors with its own message', () => {
  const options = { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;
  assert.deepEqual({ ...parseFlags({ args: ['--port', '1', '-h'], options, strict: true }).values }, { port: '1', help: true });
  usage(() => parseFlags({ args: ['--bogus'], options, strict: true }), /Unknown option '--bogus'/);
  usage(() => parseFlags({ args: ['extra'], options, strict: true, allowPositionals: false }), /positional/);
});

test('numbers: the grammar first, then the range, each with its own message', () => {
  assert.equal(numberFlag('--n', undefined, 7), 7, 'not given: the fallback');
  assert.equal(numberFlag('--rate', ' 2.5 ', 0, { min: 0 }), 2.5);
  assert.equal(numberFlag('--jobs', '64', 1, { whole: true, min: 1, max: 64 }), 64);
  usage(() => numberFlag('--rate', '', 0), /^--rate must be a number, got ""$/);
  usage(() => numberFlag('--rate', '-3', 0, { min: 0 }), /^--rate must be 0 or more, got "-3"$/);
  usage(() => numberFlag('--scale', '0', 1, { above: 0 }), /^--scale must be more than 0, got "0"$/);
  usage(() => numberFlag('--seed', '1.5', 0, { whole: true, min: 0, max: 9 }), /^--seed must be a whole number, got "1.5"$/);
  usage(() => numberFlag('--jobs', '0', 1, { whole: true, min: 1, max: 64 }), /^--jobs must be a whole number from 1 to 64, got "0"$/);
  usage(() => numberFlag('--connections', '0', 1, { whole: true, min: 1 }), /^--connections must be a whole number of 1 or more, got "0"$/);
  usage(() => numberFlag('--cache', '-1', 1, { min: 0, expected: 'a number of milliseconds' }), /^--cache must be a number of milliseconds, got "-1"$/);
});

test('ports are whole numbers from 0 to 65535', () => {
  assert.equal(portFlag('--port', undefined, 8080), 8080);
  assert.equal(portFlag('--port', '0', 8080), 0);
  usage(() => portFlag('--port', '70000', 8080), /^--port must be a port number from 0 to 65535, got "70000"$/);
  usage(() => portFlag('--port', 'http', 8080), /^--port must be a whole number, got "http"$/);
});

test('durations: the one grammar, bare seconds where a command says so, and a floor', () => {
  assert.equal(durationFlag('--timeout', '90s', 0), 90_000);
  assert.equal(durationFlag('--timeout', undefined, undefined), undefined);
  assert.equal(durationFlag('--duration', '3', 0, { bareSeconds: true }), 3000);
  usage(() => durationFlag('--timeout', '3', 0), /^--timeout must be a duration such as 500ms, 30s, 5m or 1h, got "3"$/);
  usage(() => durationFlag('--duration', '0s', 0, { positive: true }), /^--duration must be longer than 0, got "0s"$/);
  usage(() => durationFlag('--headers-timeout', '500ms', 0, { min: 1000, minText: '1s' }), /^--headers-timeout must be at least 1s, got "500ms"$/);
  usage(() => durationFlag('--headers-timeout', 'soon', 0, { min: 1000, expected: 'a duration of at least 1s' }), /^--headers-timeout must be a duration of at least 1s, got "soon"$/);
});

test('URLs and lists', () => {
  assert.equal(httpUrlFlag('--url', 'http://127.0.0.1:8080'), 'http://127.0.0.1:8080/');
  usage(() => httpUrlFlag('--url', 'ftp://x'), /^--url must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x"$/);
  usage(() => httpUrlFlag('--url', 'nope'), /^--url must be a URL such as/);
  assert.deepEqual(listFlag(' a, b,,c '), ['a', 'b', 'c']);
  assert.equal(listFlag(undefined), undefined);
});
