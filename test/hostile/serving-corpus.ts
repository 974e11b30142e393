// Hostile OIP v2 infer requests for the model server (or a gateway in front of it) serving examples/fraud-v1
// under the name in the {model} placeholder: input 'features', FP32 [-1, 8], as in examples/fraud-request.json.
// expectBodyIncludes is plain text of the raw response body; each is a 400, never a 500, and the server stays up.
import type { HostileCase } from './hostile-case.ts';

const INFER = '/v2/models/{model}/infer';
const JSON_HEADERS = { 'content-type': 'application/json' };
const row = '[23.5, 13, 0.1, 3.2, 0, 0, 1, 1460]';

/** `[[[...[value]...]]]`, `depth` arrays deep: JSON.parse reads it fine, a recursive walk of it overflows the stack. */
export function nested(depth: number, value = '1'): string {
  return `${'['.repeat(depth)}${value}${']'.repeat(depth)}`;
}

/** An infer body for the fraud model with `data` written as given (raw JSON text, so 1e39 and 1e999 stay as sent). */
function features(shape: string, data: string): string {
  return `{"inputs":[{"name":"features","datatype":"FP32","shape":${shape},"data":${data}}]}`;
}

function infer(name: string, body: string, expectBodyIncludes: string): HostileCase {
  return { name, method: 'POST', path: INFER, headers: JSON_HEADERS, body, expectStatus: 400, expectBodyIncludes };
}

export const servingCorpus: HostileCase[] = [
  infer('data nested 9,000 levels deep', features('[1, 8]', nested(9000)), 'is nested deeper than 2 levels; shape [1, 8] nests at most 2'),
  infer('data nested 100,000 levels deep', features('[1, 8]', nested(100_000)), 'is nested deeper than 2 levels; shape [1, 8] nests at most 2'),
  infer('seven flat values, then one nested 9,000 levels deep', features('[1, 8]', `[0, 1, 2, 3, 4, 5, 6, ${nested(9000, '7')}]`), 'is nested deeper than 2 levels'),
  infer('data nested one level deeper than the shape', features('[1, 8]', `[[${row}]]`), 'is nested deeper than 2 levels'),
  infer('an FP32 value past float32 range (1e39)', features('[1, 8]', '[23.5, 13, 0.1, 1e39, 0, 0, 1, 1460]'), `input 'features': value 3 (in row-major order) is number 1e+39 beyond the range of FP32`),
  infer('a negative FP32 value past float32 range (-1e39)', features('[2, 8]', `[${row}, [0, 0, 0, 0, 0, 0, 0, -1e39]]`), `input 'features': value 15 (in row-major order) is number -1e+39 beyond the range of FP32`),
  infer('an FP32 value JSON reads as Infinity (1e999)', features('[1, 8]', '[1e999, 13, 0.1, 3.2, 0, 0, 1, 1460]'), `input 'features': value 0 (in row-major order) is a number beyond the range of FP32`),
  infer('the literal NaN, which JSON does not have', features('[1, 8]', '[NaN, 13, 0.1, 3.2, 0, 0, 1, 1460]'), 'request body is not valid JSON'),
  infer('the literal Infinity, which JSON does not have', features('[1, 8]', '[Infinity, 13, 0.1, 3.2, 0, 0, 1, 1460]'), 'request body is not valid JSON'),
];
