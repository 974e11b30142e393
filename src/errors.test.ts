import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidRequestError, KarbError, MethodNotAllowedError, NotFoundError, PayloadTooLargeError, QueueFullError, UnavailableError, UsageError } from './errors.ts';

test('each error brings the response headers it implies, and no others', () => {
  assert.deepEqual(new KarbError('X', 'x').headers(), {});
  assert.deepEqual(new InvalidRequestError('bad').headers(), {});
  assert.deepEqual(new NotFoundError('gone').headers(), {});
  assert.deepEqual(new UnavailableError('busy', { retryAfterSeconds: 5 }).headers(), { 'retry-after': '5' });
  assert.deepEqual(new QueueFullError('full', { status: 429 }).headers(), { 'retry-after': '1' });
  assert.deepEqual(new MethodNotAllowedError('PUT', '/v2/health/ready', 'GET').headers(), { allow: 'GET' });
  assert.ok(Object.isFrozen(new KarbError('X', 'x').headers()), 'the shared empty headers cannot be written into');
});

test('shared failures keep one code wherever they are raised', () => {
  const full = new QueueFullError('inference queue is full');
  assert.equal(full.code, 'QUEUE_FULL');
  assert.equal(full.status, 503);
  assert.ok(full instanceof UnavailableError);

  const large = new PayloadTooLargeError(1024);
  assert.equal(large.code, 'PAYLOAD_TOO_LARGE');
  assert.equal(large.status, 413);
  assert.equal(large.message, 'request body is larger than the limit of 1024 bytes');
  assert.equal(new PayloadTooLargeError(10, "over the gateway's limit").message, "over the gateway's limit");

  const method = new MethodNotAllowedError('DELETE', `/${'x'.repeat(300)}`, 'GET, POST');
  assert.equal(method.status, 405);
  assert.equal(method.code, 'METHOD_NOT_ALLOWED');
  assert.match(method.message, /^DELETE is not allowed on \/x{199}…; use GET, POST$/);

  const usage = new UsageError('--port must be a whole number, got "http"');
  assert.equal(usage.code, 'USAGE');
  assert.equal(usage.exitCode, 2);
});
