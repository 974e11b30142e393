/**
 * `spec.model.drift`: optional, no defaults (a spec without it keeps its revision), the threshold
 * outside the revision, and clear errors.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService, validateInferenceService } from './validate.ts';
import { revisionHash } from './revision.ts';
import { specOpenApiSchema } from './json-schema.ts';

/** The revision hash of `doc()`, as karb computed it before drift existed: existing services keep their revisions. */
const NO_DRIFT_HASH = 'd5956c1a241eea32';

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

  it('accepts a reference, learn and window rows, a column cap and a threshold', () => {
    const svc = parseInferenceService(doc({ reference: 'file://models/fraud-v1.reference.json', learnRows: 500, windowRows: 1000, maxColumns: 1024, threshold: 0.2 }));
    assert.deepEqual(svc.spec.model.drift, { reference: 'file://models/fraud-v1.reference.json', learnRows: 500, windowRows: 1000, maxColumns: 1024, threshold: 0.2 });
  });

  it('keeps the revision hash of a spec without drift as it was', () => {
    assert.equal(revisionHash(parseInferenceService(doc()).spec), NO_DRIFT_HASH);
  });

  it('leaves the threshold out of the revision: the control plane judges with it, the replica never sees it', () => {
    const hash = (drift?: unknown) => revisionHash(parseInferenceService(doc(drift)).spec);
    assert.equal(hash({ windowRows: 1000, threshold: 0.2 }), hash({ windowRows: 1000, threshold: 0.3 }), 'a new threshold is no new revision');
    assert.equal(hash({ windowRows: 1000, threshold: 0.2 }), hash({ windowRows: 1000 }));
    assert.equal(hash({ threshold: 0.2 }), NO_DRIFT_HASH, 'a drift with only a threshold is no drift to the replica');
    assert.notEqual(hash({ windowRows: 1000, threshold: 0.2 }), hash({ windowRows: 2000, threshold: 0.2 }), 'what the replica measures is');
    assert.notEqual(hash({ maxColumns: 512 }), NO_DRIFT_HASH);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['a reference that is not a file:// JSON URI', { reference: 'models/ref.txt' }, /^spec\.model\.drift\.reference: must be a file:\/\/ URI of a drift reference JSON file, e\.g\. file:\/\/models\/fraud-v1\.reference\.json/],
    ['a threshold of 0', { threshold: 0 }, /^spec\.model\.drift\.threshold: must be greater than 0 \(0\.1 watch, 0\.25 drift/],
    ['a threshold that is a string', { threshold: 'high' }, /^spec\.model\.drift\.threshold: must be a number/],
    ['too few learn rows', { learnRows: 5 }, /^spec\.model\.drift\.learnRows: must be at least 10 rows/],
    ['a fractional window', { windowRows: 1000.5 }, /^spec\.model\.drift\.windowRows: must be/],
    ['a window too small to be judged', { windowRows: 399 }, /^spec\.model\.drift\.windowRows: must be at least 400 rows: the window keeps as few as half of them, and drift is judged only from 200 rows/],
    ['no columns to watch', { maxColumns: 0 }, /^spec\.model\.drift\.maxColumns: must be at least 1 column/],
    ['a fractional column cap', { maxColumns: 2.5 }, /^spec\.model\.drift\.maxColumns: must be an int \(got number 2\.5\)/],
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
    for (const field of ['learnRows', 'windowRows', 'maxColumns', 'threshold']) assert.ok(schema.includes(`"${field}"`), field);
  });
});
