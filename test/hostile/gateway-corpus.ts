// Hostile requests for the gateway of a karb up serving fraud-detector (OIP) and tiny-lm (OpenAI), both in
// namespace default. Placeholders the runner fills in: {key} (namespace default), {lmKey} (tiny-lm only),
// {otherKey} (namespace other). Each is refused precisely, reaches no model it was not allowed to, never a 500.
import type { HostileCase } from './hostile-case.ts';

const bearer = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });
const CHAT = '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4';

export const gatewayCorpus: HostileCase[] = [
  {
    name: "a second 'model' after the one the key may call",
    method: 'POST',
    path: '/v1/chat/completions',
    headers: bearer('{lmKey}'),
    body: `{"model":"tiny-lm",${CHAT.slice(1)},"model":"fraud-detector"}`,
    expectStatus: 400,
    expectBodyIncludes: "'model' is given more than once",
  },
  {
    name: "a second 'model' spelled with escapes",
    method: 'POST',
    path: '/v1/chat/completions',
    headers: bearer('{lmKey}'),
    body: `{"model":"tiny-lm",${CHAT.slice(1)},"\\u006dodel":"fraud-detector"}`,
    expectStatus: 400,
    expectBodyIncludes: 'duplicate_parameter',
  },
  {
    name: 'a body with a second object after the first',
    method: 'POST',
    path: '/v1/completions',
    headers: bearer('{lmKey}'),
    body: '{"model":"tiny-lm","prompt":"hi"}{"model":"fraud-detector"}',
    expectStatus: 400,
    expectBodyIncludes: 'invalid_json',
  },
  {
    name: "readiness of a model in another key's namespace",
    method: 'GET',
    path: '/v2/models/fraud-detector/ready',
    headers: bearer('{otherKey}'),
    body: '',
    expectStatus: 403,
    expectBodyIncludes: "'fraud-detector'",
  },
  {
    name: 'readiness of a model outside the key\'s service allowlist',
    method: 'GET',
    path: '/v2/models/fraud-detector/ready',
    headers: bearer('{lmKey}'),
    body: '',
    expectStatus: 403,
  },
  {
    name: 'a version segment that climbs out of the model path',
    method: 'POST',
    path: '/v2/models/fraud-detector/versions/..%2F..%2Fadmin/infer',
    headers: bearer('{key}'),
    body: '{"inputs":[]}',
    expectStatus: 400,
    expectBodyIncludes: 'is not a version name',
  },
  { name: "the metrics on the tenants' port", method: 'GET', path: '/metrics', headers: bearer('{key}'), body: '', expectStatus: 404 },
  { name: 'the metrics without a key', method: 'GET', path: '/metrics', body: '', expectStatus: 404 },
  { name: 'infer with GET', method: 'GET', path: '/v2/models/fraud-detector/infer', body: '', expectStatus: 405, expectBodyIncludes: 'use POST' },
  { name: 'no key at all', method: 'POST', path: '/v2/models/fraud-detector/infer', body: '{"inputs":[]}', expectStatus: 401 },
  {
    name: 'a body over the 8 MiB limit',
    method: 'POST',
    path: '/v2/models/fraud-detector/infer',
    headers: bearer('{key}'),
    body: Buffer.alloc(9 * 1024 * 1024, 0x20),
    expectStatus: 413,
    expectBodyIncludes: "larger than the gateway's limit",
  },
];
