import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALLOWED_METHOD, matchPath, type PathMatch } from './paths.ts';

test('request paths map to operations', () => {
  const cases: Array<[string, PathMatch | undefined]> = [
    ['/v2/health/live', { kind: 'health-live', model: '', version: '' }],
    ['/v2/health/ready', { kind: 'health-ready', model: '', version: '' }],
    ['/metrics', { kind: 'metrics', model: '', version: '' }],
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
  assert.equal(ALLOWED_METHOD['model-infer'], 'POST');
  for (const kind of ['health-live', 'health-ready', 'metrics', 'model-metadata', 'model-ready'] as const) {
    assert.equal(ALLOWED_METHOD[kind], 'GET', kind);
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
  assert.equal(ALLOWED_METHOD['openai-models'], 'GET');
  for (const kind of ['openai-chat', 'openai-completions', 'openai-embeddings'] as const) assert.equal(ALLOWED_METHOD[kind], 'POST', kind);
});

test('async job status: GET /v1/jobs/{id}, one segment; the id is read by the jobs step', () => {
  const cases: Array<[string, PathMatch | undefined]> = [
    ['/v1/jobs/3q2bX0c8k1QmZ9w7yV4TgA', { kind: 'async-job', model: '', version: '' }],
    ['/v1/jobs/abc?x=1', { kind: 'async-job', model: '', version: '' }],
    ['/v1/jobs/', undefined],
    ['/v1/jobs', undefined],
    ['/v1/jobs/abc/result', undefined],
  ];
  for (const [url, want] of cases) assert.deepEqual(matchPath(url), want, url);
  assert.equal(ALLOWED_METHOD['async-job'], 'GET');
});
