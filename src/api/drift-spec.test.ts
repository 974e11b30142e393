/** `spec.model.drift`: optional, no defaults (a spec without it keeps its revision), and clear errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService, validateInferenceService } from './validate.ts';
import { revisionHash } from './revision.ts';
import { specOpenApiSchema } from './json-schema.ts';

const doc = (drift?: unknown) => ({
  apiVersion: 'karb.dev/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'fraud-detector' },
  spec: { model: { uri: 'file://models/fraud-v1.onnx', ...(drift === undefined ? {} : { drift }) } },
});

function errors(drift: unknown): string[] {
  const result = validateInferenceService(doc(drift));
  assert.equal(result.ok, false, 'expected the spec to be rejected');
  return result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('spec.model.drift', () => {
  it('is optional and adds nothing when unset, so existing revisions keep their hash', () => {
    const svc = parseInferenceService(doc());
    assert.equal(svc.spec.model.drift, undefined);
    assert.equal(revisionHash(svc.spec), revisionHash(parseInferenceService(doc()).spec));
  });

  it('accepts a reference, learn and window rows and a threshold', () => {
    const svc = parseInferenceService(doc({ reference: 'file://models/fraud-v1.reference.json', learnRows: 500, windowRows: 1000, threshold: 0.2 }));
    assert.deepEqual(svc.spec.model.drift, { reference: 'file://models/fraud-v1.reference.json', learnRows: 500, windowRows: 1000, threshold: 0.2 });
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['a reference that is not a file:// JSON URI', { reference: 'models/ref.txt' }, /^spec\.model\.drift\.reference: must be a file:\/\/ URI of a drift reference JSON file, e\.g\. file:\/\/models\/fraud-v1\.reference\.json/],
    ['a threshold of 0', { threshold: 0 }, /^spec\.model\.drift\.threshold: must be greater than 0 \(0\.1 watch, 0\.25 drift/],
    ['a threshold that is a string', { threshold: 'high' }, /^spec\.model\.drift\.threshold: must be a number/],
    ['too few learn rows', { learnRows: 5 }, /^spec\.model\.drift\.learnRows: must be at least 10 rows/],
    ['a fractional window', { windowRows: 1000.5 }, /^spec\.model\.drift\.windowRows: must be/],
    ['an unknown field, with the closest known one', { treshold: 0.3 }, /^spec\.model\.drift.*treshold.*threshold/],
  ];
  for (const [what, drift, message] of bad) {
    it(`refuses ${what}, saying how to fix it`, () => {
      const found = errors(drift);
      assert.ok(found.some((e) => message.test(e)), found.join('\n'));
    });
  }

  it('is in the CRD schema with its fields', () => {
    const schema = JSON.stringify(specOpenApiSchema());
    for (const field of ['learnRows', 'windowRows', 'threshold']) assert.ok(schema.includes(`"${field}"`), field);
  });
});
