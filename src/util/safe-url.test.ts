import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpUrlWithoutUserinfo, urlForLog } from './safe-url.ts';

test('a URL for a log keeps scheme, host, port and path; never userinfo, query or fragment', () => {
  const cases: Array<[string, string | undefined]> = [
    ['http://collector:4318/v1/traces', 'http://collector:4318/v1/traces'],
    ['https://user:s3cret@otlp.example/v1/traces?api_key=s3cret#frag', 'https://otlp.example/v1/traces'],
    ['https://:s3cret@otlp.example', 'https://otlp.example/'],
    ['not a url', undefined],
    ['collector:4318', undefined], // a scheme and a path, no host
  ];
  for (const [raw, want] of cases) assert.equal(urlForLog(raw), want, raw);
});

test('an http(s) URL handed on loses its userinfo and keeps the rest; anything else is not handed on', () => {
  const cases: Array<[string, string | undefined]> = [
    ['http://collector:4318', 'http://collector:4318'], // as given: no slash added
    ['https://user:s3cret@otlp.example:4318/otlp?tenant=a', 'https://otlp.example:4318/otlp?tenant=a'],
    ['http://tok3n@collector:4318', 'http://collector:4318/'],
    ['grpc://collector:4317', undefined],
    ['user:s3cret@collector:4318', undefined],
    ['', undefined],
  ];
  for (const [raw, want] of cases) assert.equal(httpUrlWithoutUserinfo(raw), want, raw);
});
