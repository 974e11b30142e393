/**
 * `spec.model.digest`: optional (a spec without it keeps its revision), part of the revision when
 * set, refused with the field and the fix when malformed, and checked by the CRD too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService, validateInferenceService } from './validate.ts';
import { revisionHash } from './revision.ts';
import { crdSpecSchema } from './crd.ts';

/** The revision hash of `doc()` as karb computed it before digests existed: existing services keep their revisions. */
const NO_DIGEST_HASH = 'd5956c1a241eea32';
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

const doc = (digest?: unknown) => ({
  apiVersion: 'karb.dev/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'fraud-detector' },
  spec: { model: { uri: 'file://models/fraud-v1.onnx', ...(digest === undefined ? {} : { digest }) } },
});

describe('spec.model.digest', () => {
  it('is optional: a spec without it parses as before and keeps its revision hash', () => {
    const svc = parseInferenceService(doc());
    assert.equal(svc.spec.model.digest, undefined);
    assert.equal(revisionHash(svc.spec), NO_DIGEST_HASH);
  });

  it('is part of the revision: setting or changing it makes a new one', () => {
    const hash = (digest?: string) => revisionHash(parseInferenceService(doc(digest)).spec);
    assert.equal(parseInferenceService(doc(DIGEST)).spec.model.digest, DIGEST);
    assert.notEqual(hash(DIGEST), NO_DIGEST_HASH);
    assert.notEqual(hash(DIGEST), hash(`sha256:${'f'.repeat(64)}`));
    assert.equal(hash(DIGEST), hash(DIGEST));
  });

  const bad: Array<[string, unknown]> = [
    ['uppercase hex', `sha256:${'0123456789ABCDEF'.repeat(4)}`],
    ['no algorithm', '0123456789abcdef'.repeat(4)],
    ['another algorithm', `sha512:${'0'.repeat(64)}`],
    ['too few digits', `sha256:${'0'.repeat(63)}`],
    ['a number', 42],
  ];
  for (const [what, digest] of bad) {
    it(`refuses ${what} at spec.model.digest, saying what a digest is`, () => {
      const result = validateInferenceService(doc(digest));
      assert.equal(result.ok, false);
      const errors = result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`);
      const expected = typeof digest === 'string' ? /^spec\.model\.digest: must be sha256: followed by 64 lowercase hex digits: sha256:<the hash `sha256sum model\.onnx` prints>$/ : /^spec\.model\.digest: must be a string/;
      assert.ok(errors.some((e) => expected.test(e)), errors.join('\n'));
    });
  }

  it('is in the CRD with its pattern, so the API server refuses a malformed digest too', () => {
    const model = (crdSpecSchema().properties as Record<string, { properties: Record<string, { type?: string; pattern?: string }> }>).model!;
    const field = model.properties.digest!;
    assert.equal(field.type, 'string');
    const pattern = new RegExp(field.pattern!);
    assert.ok(pattern.test(DIGEST));
    assert.ok(!pattern.test(DIGEST.toUpperCase()));
    assert.ok(!pattern.test(`${DIGEST}0`));
  });
});
