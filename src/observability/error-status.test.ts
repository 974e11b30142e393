import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isErrorStatus } from './error-status.ts';

test('status classes: no response, shed and server errors count; client errors do not', () => {
  const table: [number, boolean][] = [
    [200, false], [204, false], [304, false], [400, false], [404, false], [413, false],
    [499, false], // the caller left: not the service's failure
    [0, true], [429, true], [500, true], [502, true], [503, true], [504, true],
  ];
  for (const [status, error] of table) assert.equal(isErrorStatus(status), error, `status ${status}`);
});
