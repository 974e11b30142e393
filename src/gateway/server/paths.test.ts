import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALLOWED_METHODS, allowHeader, isAllowedMethod, isVersionName, matchPath, upstreamPath, type PathMatch } from './paths.ts';

test('request paths map to operations', () => {
  const cases: Array<[string, PathMatch | undefined]> = [
    ['/v2/health/live', { kind: 'health-live', model: '', version: '' }],
    ['/v2/health/ready', { kind: 'health-ready', model: '', version: '' }],
    // Metrics are on the gateway's metrics listener, never on the port tenants call.
    ['/metrics', undefined],
    ['/v2/models/fraud', { kind: 'model-metadata', model: 'fraud', version: '' }],
    ['/v2/models/fraud/ready', { kind: 'model-ready', model: 'fraud', version: '' }],
    ['/v2/models/fraud/infer', { kind: 'model-infer', model: 'fraud', version: '' }],
    ['/v2/models/fraud/infer?trace=1', { kind: 'model-infer', model: 'fraud', version: '' }],
    ['/v2/models/fraud/versions/2/infer', { kind: 'model-infer', model: 'fraud', version: '2' }],
    // Not ours: unknown paths are 404s, never guessed at.
    ['/', undefined],
    ['/v2', undefined],
    ['/v2/models', undefined],
    ['/v2/models/', undefined],
    ['/v2/models//infer', undefined],
    ['/v2/models/fraud/', undefined],
    ['/v2/models/fraud/explain', undefined],
    ['/v2/models/fraud/versions//infer', undefined],
    ['/v2/models/fraud/versions/2', undefined],
    ['/v2/models/fraud/infer/extra', undefined],
    ['/v2/health/live/', undefined],
    ['http://elsewhere.example/v2/models/fraud/infer', undefined],
  ];
  for (const [url, want] of cases) assert.deepEqual(matchPath(url), want, url);
});

test('infer takes POST; everything else GET', () => {
  assert.deepEqual(ALLOWED_METHODS['model-infer'], ['POST']);
  for (const kind of ['health-live', 'health-ready', 'model-metadata', 'model-ready'] as const) {
    assert.deepEqual(ALLOWED_METHODS[kind], ['GET'], kind);
  }
});

test('the OpenAI API paths: GET /v1/models, POST for the rest; the model comes from the body later', () => {
  const cases: Array<[string, PathMatch | undefined]> = [
    ['/v1/models', { kind: 'openai-models', model: '', version: '' }],
    ['/v1/chat/completions', { kind: 'openai-chat', model: '', version: '' }],
    ['/v1/completions?x=1', { kind: 'openai-completions', model: '', version: '' }],
    ['/v1/embeddings', { kind: 'openai-embeddings', model: '', version: '' }],
    ['/v1/chat/completions/', undefined],
    ['/v1/engines/davinci/completions', undefined],
  ];
  for (const [url, want] of cases) assert.deepEqual(matchPath(url), want, url);
  assert.deepEqual(ALLOWED_METHODS['openai-models'], ['GET']);
  for (const kind of ['openai-chat', 'openai-completions', 'openai-embeddings'] as const) assert.deepEqual(ALLOWED_METHODS[kind], ['POST'], kind);
});

test('async jobs: GET|DELETE /v1/jobs/{id} (one segment; the id is read by the jobs step), GET /v1/jobs lists', () => {
  const cases: Array<[string, PathMatch | undefined]> = [
    ['/v1/jobs/3q2bX0c8k1QmZ9w7yV4TgA', { kind: 'async-job', model: '', version: '' }],
    ['/v1/jobs/abc?x=1', { kind: 'async-job', model: '', version: '' }],
    ['/v1/jobs', { kind: 'async-job-list', model: '', version: '' }],
    ['/v1/jobs?status=queued&limit=5', { kind: 'async-job-list', model: '', version: '' }],
    ['/v1/jobs/', undefined],
    ['/v1/jobs/abc/result', undefined],
    ['/v1/jobsx', undefined],
  ];
  for (const [url, want] of cases) assert.deepEqual(matchPath(url), want, url);
  assert.deepEqual(ALLOWED_METHODS['async-job'], ['GET', 'DELETE']);
  assert.deepEqual(ALLOWED_METHODS['async-job-list'], ['GET']);
});

test('a method is allowed only where listed; the 405 Allow header lists them all', () => {
  const cases: Array<[Parameters<typeof isAllowedMethod>[0], string, boolean]> = [
    ['async-job', 'GET', true],
    ['async-job', 'DELETE', true],
    ['async-job', 'POST', false],
    ['async-job', 'delete', false], // methods are case-sensitive (RFC 9110)
    ['async-job-list', 'GET', true],
    ['async-job-list', 'DELETE', false],
    ['async-job-list', 'POST', false],
    ['model-infer', 'POST', true],
    ['model-infer', 'GET', false],
    ['health-live', 'HEAD', false],
  ];
  for (const [kind, method, want] of cases) assert.equal(isAllowedMethod(kind, method), want, `${method} ${kind}`);
  assert.equal(allowHeader('async-job'), 'GET, DELETE');
  assert.equal(allowHeader('async-job-list'), 'GET');
  assert.equal(allowHeader('model-infer'), 'POST');
});

test('a version segment is a plain name; anything that could climb out of the model path is not', () => {
  for (const v of ['2', 'v1.3', '2024-06-01', 'rc_1', 'a'.repeat(64)]) assert.equal(isVersionName(v), true, v);
  for (const v of ['..%2F..%2Fadmin', '..', '.', '%2e%2e', '-1', 'a b', 'a'.repeat(65), 'v1;x', '']) assert.equal(isVersionName(v), false, v);
});

test('the path sent upstream is the matched path without its query', () => {
  assert.equal(upstreamPath('/v2/models/fraud/infer'), '/v2/models/fraud/infer');
  assert.equal(upstreamPath('/v2/models/fraud/infer?x=../../admin'), '/v2/models/fraud/infer');
  assert.equal(upstreamPath('/v1/chat/completions?'), '/v1/chat/completions');
});
