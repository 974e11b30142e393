import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KarbError, MethodNotAllowedError, QueueFullError } from '../errors.ts';
import { OpenAIRequestError, openAIErrorJson } from './openai-errors.ts';

function decode(err: KarbError): Record<string, unknown> {
  return (JSON.parse(openAIErrorJson(err)) as { error: Record<string, unknown> }).error;
}

test('every error becomes message, type, param and a lower-case code', () => {
  assert.deepEqual(decode(new OpenAIRequestError("'temperature' must be at most 2", { param: 'temperature' })), {
    message: "'temperature' must be at most 2",
    type: 'invalid_request_error',
    param: 'temperature',
    code: 'invalid_value',
  });
  assert.deepEqual(decode(new MethodNotAllowedError('PUT', '/v1/models', 'GET')), {
    message: 'PUT is not allowed on /v1/models; use GET',
    type: 'invalid_request_error',
    param: null,
    code: 'method_not_allowed',
  });
});

test('the type follows the status', () => {
  const cases: Array<[number, string]> = [
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [403, 'permission_error'],
    [404, 'invalid_request_error'],
    [429, 'rate_limit_error'],
    [500, 'server_error'],
    [503, 'server_error'],
  ];
  for (const [status, type] of cases) assert.equal(decode(new KarbError('X', 'x', { status })).type, type, String(status));
  assert.equal(decode(new QueueFullError('full', { status: 429 })).type, 'rate_limit_error');
});
