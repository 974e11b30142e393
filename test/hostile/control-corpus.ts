// Hostile requests for the control plane's /api/v1 (the runner adds the admin token when the plane has one).
// A manifest or key request a caller gets wrong is a 400 that names the problem, never a 500, and makes nothing:
// no service named lol or bomb-json, and no API key, exists after the corpus has run.
import type { HostileCase } from './hostile-case.ts';

/** "Billion laughs": nine aliases of nine aliases, nine levels deep, would expand to 9^9 strings. */
export const ALIAS_BOMB_YAML = `apiVersion: karb.dev/v1alpha1
kind: InferenceService
metadata: { name: lol }
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
spec:
  model: { uri: file://models/fraud-v1.onnx }
`;

const YAML = { 'content-type': 'application/yaml' };
const JSON_HEADERS = { 'content-type': 'application/json' };

function createKey(name: string, body: string, expectBodyIncludes: string): HostileCase {
  return { name, method: 'POST', path: '/api/v1/keys', headers: JSON_HEADERS, body, expectStatus: 400, expectBodyIncludes };
}

export const controlCorpus: HostileCase[] = [
  { name: 'a YAML alias bomb', method: 'PUT', path: '/api/v1/services/lol', headers: YAML, body: ALIAS_BOMB_YAML, expectStatus: 400, expectBodyIncludes: 'too many YAML aliases (an alias bomb?)' },
  { name: 'a YAML alias to no anchor', method: 'PUT', path: '/api/v1/services/lol', headers: YAML, body: 'apiVersion: karb.dev/v1alpha1\nkind: *nowhere\n', expectStatus: 400, expectBodyIncludes: 'invalid YAML' },
  {
    name: 'a JSON manifest nested 9,000 levels deep in an unknown field',
    method: 'PUT',
    path: '/api/v1/services/bomb-json',
    headers: JSON_HEADERS,
    body: `{"apiVersion":"karb.dev/v1alpha1","kind":"InferenceService","metadata":{"name":"bomb-json"},"spec":{"model":{"uri":"file://models/fraud-v1.onnx"}},"x":${'['.repeat(9000)}${']'.repeat(9000)}}`,
    expectStatus: 422,
    expectBodyIncludes: 'unknown field',
  },
  createKey('a key lifetime past what a date can hold', '{"namespace":"default","expires":"100000000d"}', 'expires: a duration from 1s to 36500d (100 years)'),
  createKey('a key lifetime just past 100 years', '{"namespace":"default","expires":"36501d"}', 'expires: a duration from 1s to 36500d (100 years)'),
  createKey('a key lifetime of 400 digits', `{"namespace":"default","expires":"${'9'.repeat(400)}w"}`, 'expires: a duration from 1s to 36500d (100 years)'),
  createKey('a key lifetime as a number', '{"namespace":"default","expires":30}', 'expires: a duration'),
  createKey('expiresAt, which the API does not take (the key would never expire)', '{"namespace":"default","expiresAt":"2020-01-01T00:00:00Z"}', "unknown field 'expiresAt' (did you mean 'expires'?)"),
  createKey('an unknown field', '{"namespace":"default","admin":true}', 'a key request takes namespace, services, rps, burst, expires, name'),
  createKey('a JSON array instead of an object', '[{"namespace":"default"}]', 'key request body must be a JSON object'),
  createKey('rps that JSON reads as Infinity', '{"namespace":"default","rps":1e999}', 'rps: a number greater than 0'),
  createKey('rps as a string', '{"namespace":"default","rps":"5"}', 'rps: a number greater than 0'),
  createKey('a name that is not a string', '{"namespace":"default","name":{"a":1}}', 'name: a label of at most 100 characters'),
];
