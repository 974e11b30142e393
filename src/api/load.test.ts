import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadInferenceServices, ManifestParseError } from './load.ts';
import { SpecValidationError } from './validate.ts';
import { revisionHash, revisionName, revisionNumber, canonicalJson } from './revision.ts';
import { parseInferenceService } from './validate.ts';
import { ALIAS_BOMB_YAML } from '../../test/hostile/control-corpus.ts';

const doc = (name: string, extra = '') => `apiVersion: karb.dev/v1alpha1
kind: InferenceService
metadata: { name: ${name} }
spec:
  model: { uri: file://models/fraud-v1.onnx }
${extra}`;

describe('manifest loading', () => {
  it('reads several YAML documents and skips empty ones', () => {
    const docs = loadInferenceServices(`${doc('a')}---\n---\n${doc('b')}`);
    assert.deepEqual(docs.map((d) => [d.index, d.value.metadata.name]), [[1, 'a'], [2, 'b']]);
  });

  it('reads JSON objects, arrays and Lists', () => {
    const one = { apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'a' }, spec: { model: { uri: 'file://m.onnx' } } };
    assert.equal(loadInferenceServices(JSON.stringify(one)).length, 1);
    assert.equal(loadInferenceServices(JSON.stringify([one, { ...one, metadata: { name: 'b' } }])).length, 2);
    assert.equal(loadInferenceServices(JSON.stringify({ kind: 'List', items: [one] })).length, 1);
  });

  it('says where invalid YAML is broken', () => {
    assert.throws(() => loadInferenceServices('metadata: {name: a\nspec: [', 'bad.yaml'), (err: unknown) => {
      assert.ok(err instanceof ManifestParseError);
      assert.equal(err.status, 400);
      assert.match(err.message, /^bad\.yaml: invalid YAML at line \d+, column \d+/);
      return true;
    });
  });

  it('refuses a YAML alias bomb with a 400 that names it', () => {
    assert.throws(() => loadInferenceServices(ALIAS_BOMB_YAML, 'bomb.yaml'), (err: unknown) => {
      assert.ok(err instanceof ManifestParseError, String(err));
      assert.equal(err.status, 400);
      assert.match(err.message, /^bomb\.yaml: the manifest uses too many YAML aliases \(an alias bomb\?\): Excessive alias count/);
      return true;
    });
  });

  it('refuses an alias to an anchor that is not there', () => {
    assert.throws(() => loadInferenceServices(doc('a', '  x: *missing'), 'alias.yaml'), (err: unknown) => {
      assert.ok(err instanceof ManifestParseError, String(err));
      assert.match(err.message, /^alias\.yaml: invalid YAML: .*missing/);
      return true;
    });
  });

  it('still resolves a few aliases', () => {
    const [svc] = loadInferenceServices(`${doc('a', '  resources:\n    requests: &r { cpu: "1" }\n    limits: *r')}`);
    assert.deepEqual(svc!.value.spec.resources?.limits, { cpu: '1' });
  });

  it('says where invalid JSON is broken', () => {
    assert.throws(() => loadInferenceServices('{"a": ', 'x.json'), /x\.json: invalid JSON/);
  });

  it('names the document of each error when there are several', () => {
    assert.throws(
      () => loadInferenceServices(`${doc('a')}---\n${doc('b', '  scaling: { maxReplicas: 0 }')}`, 'two.yaml'),
      (err: unknown) => err instanceof SpecValidationError && err.errors[0]!.path === 'document 2 spec.scaling.maxReplicas',
    );
  });

  it('refuses an empty file', () => {
    assert.throws(() => loadInferenceServices('\n---\n', 'empty.yaml'), /empty\.yaml: no InferenceService found/);
  });
});

describe('revision identity', () => {
  const svc = (extra: Record<string, unknown> = {}, model: Record<string, unknown> = {}) =>
    parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'a' }, spec: { model: { uri: 'file://m.onnx', ...model }, ...extra } }).spec;

  it('changes when model or resources change', () => {
    assert.notEqual(revisionHash(svc()), revisionHash(svc({}, { uri: 'file://m2.onnx' })));
    assert.notEqual(revisionHash(svc()), revisionHash(svc({ resources: { limits: { cpu: '4' } } })));
    assert.notEqual(revisionHash(svc()), revisionHash(svc({}, { batching: { maxBatchSize: 8 } })));
  });

  it('does not change for scaling, SLO, rollout or traffic', () => {
    const h = revisionHash(svc());
    assert.equal(revisionHash(svc({ scaling: { maxReplicas: 3 } })), h);
    assert.equal(revisionHash(svc({ slo: { latencyP95Ms: 100 } })), h);
    assert.equal(revisionHash(svc({ rollout: { strategy: 'immediate' } })), h);
    assert.equal(revisionHash(svc({ traffic: { fallback: ['b'] } })), h);
  });

  it('is independent of key order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 0 }] } }), canonicalJson({ a: { c: [3, { e: 0, f: 1 }], d: 2 }, b: 1 }));
  });

  it('names revisions with five digits', () => {
    assert.equal(revisionName('fraud-detector', 2), 'fraud-detector-00002');
    assert.equal(revisionNumber('fraud-detector-00012'), 12);
  });
});
