import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonLogger, silentLogger } from './log.ts';

function capture(level: string) {
  const lines: string[] = [];
  const logger = jsonLogger({ write: (line) => void lines.push(line), level, now: () => Date.UTC(2025, 0, 2, 3, 4, 5) });
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('one JSON object per line: time, level, msg, then the fields', () => {
  const { logger, lines } = capture('info');
  logger.log('info', 'listening', { port: 8000, host: '127.0.0.1' });
  logger({ level: 'warn', msg: 'request', status: 503 });
  logger({ msg: 'no level given' });
  assert.deepEqual(lines, [
    '{"time":"2025-01-02T03:04:05.000Z","level":"info","msg":"listening","port":8000,"host":"127.0.0.1"}\n',
    '{"time":"2025-01-02T03:04:05.000Z","level":"warn","msg":"request","status":503}\n',
    '{"time":"2025-01-02T03:04:05.000Z","level":"info","msg":"no level given"}\n',
  ]);
});

test("a record's own time wins (the gateway stamps its records from its clock)", () => {
  const { logger, parsed } = capture('info');
  logger({ time: '2030-01-01T00:00:00.000Z', level: 'info', msg: 'request' });
  assert.equal(parsed()[0]!.time, '2030-01-01T00:00:00.000Z');
});

test('nothing is built for a level that is off: fields thunks are not called', () => {
  const { logger, parsed } = capture('warn');
  let built = 0;
  const fields = () => {
    built++;
    return { heavy: true };
  };
  logger.log('debug', 'generated', fields);
  logger.log('info', 'generated', fields);
  logger({ level: 'info', msg: 'request' });
  assert.equal(built, 0);
  assert.deepEqual(parsed(), []);
  assert.equal(logger.enabled('info'), false);
  assert.equal(logger.enabled('warn'), true);
  logger.log('error', 'failed', fields);
  assert.equal(built, 1);
  assert.deepEqual(parsed().map((r) => [r.level, r.msg, r.heavy]), [['error', 'failed', true]]);
});

test('the level comes from the option, else KARB_LOG_LEVEL, and an unknown name means info', () => {
  assert.equal(capture('debug').logger.enabled('debug'), true);
  assert.equal(capture('loud').logger.enabled('debug'), false);
  assert.equal(capture('loud').logger.enabled('info'), true);
  const saved = process.env.KARB_LOG_LEVEL;
  try {
    process.env.KARB_LOG_LEVEL = 'error';
    assert.equal(jsonLogger({ write: () => {} }).enabled('warn'), false);
  } finally {
    if (saved === undefined) delete process.env.KARB_LOG_LEVEL;
    else process.env.KARB_LOG_LEVEL = saved;
  }
});

test('the silent logger writes and builds nothing', () => {
  let built = 0;
  silentLogger.log('error', 'x', () => {
    built++;
    return {};
  });
  silentLogger({ level: 'error', msg: 'x' });
  assert.equal(built, 0);
  assert.equal(silentLogger.enabled('error'), false);
});
