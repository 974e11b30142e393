import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { parseInferenceService, SpecValidationError } from '../api/index.ts';
import { admitEmbedded, isUnderModelsRoot } from './admission.ts';
import { SqliteStore } from './sqlite-store.ts';

describe('admission confines file:// model URIs to the models root', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'karb-admission-'));
  const root = join(scratch, 'root');
  const elsewhere = join(scratch, 'elsewhere');
  mkdirSync(join(root, 'models'), { recursive: true });
  mkdirSync(elsewhere);
  writeFileSync(join(root, 'models', 'm.onnx'), 'onnx');
  writeFileSync(join(elsewhere, 'secret.onnx'), 'not yours');
  // An operator links a model directory kept elsewhere into the root.
  symlinkSync(elsewhere, join(root, 'linked'));
  const store = new SqliteStore(':memory:');
  after(() => {
    store.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  const svc = (model: Record<string, unknown>) =>
    parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'svc' }, spec: { model } });
  /** The spec.model.uri message of the refusal, or undefined when admitted. */
  const refusal = (model: Record<string, unknown>): string | undefined => {
    try {
      admitEmbedded(svc(model), store, root);
      return undefined;
    } catch (err) {
      assert.ok(err instanceof SpecValidationError, String(err));
      assert.equal(err.status, 422);
      return err.errors.find((e) => e.path === 'spec.model.uri')?.message;
    }
  };

  it('admits relative and absolute URIs under the root, and links placed in it', () => {
    assert.equal(refusal({ uri: 'file://models/m.onnx' }), undefined);
    assert.equal(refusal({ uri: pathToFileURL(join(root, 'models', 'm.onnx')).href }), undefined);
    assert.equal(refusal({ uri: 'file://linked/secret.onnx' }), undefined);
  });

  it('refuses a file outside the root with one message, whether or not it exists', () => {
    const existing = refusal({ uri: 'file:///etc/passwd' });
    assert.equal(existing, `file:///etc/passwd is outside the models root ${root}; put the model under it or start karb up with --models-root`);
    const missing = refusal({ uri: 'file:///etc/no-such-file-karb' });
    assert.equal(missing, `file:///etc/no-such-file-karb is outside the models root ${root}; put the model under it or start karb up with --models-root`);
    // An existing model file elsewhere is refused exactly like a missing one.
    const real = refusal({ uri: pathToFileURL(join(elsewhere, 'secret.onnx')).href });
    const absent = refusal({ uri: pathToFileURL(join(elsewhere, 'absent.onnx')).href });
    assert.equal(real?.replace('secret', 'X'), absent?.replace('absent', 'X'));
  });

  it('refuses escapes through .., encoded or not', () => {
    for (const uri of ['file://../elsewhere/secret.onnx', 'file://models/../../elsewhere/secret.onnx', 'file://..%2Felsewhere%2Fsecret.onnx', `file://${root}/../elsewhere/secret.onnx`]) {
      assert.match(refusal({ uri }) ?? 'admitted', /is outside the models root/, uri);
    }
  });

  it('confines the URI of a service with its own command too', () => {
    assert.match(refusal({ format: 'oip', uri: 'file:///etc/passwd', command: ['server', '--port', '$PORT'] }) ?? 'admitted', /is outside the models root/);
    assert.equal(refusal({ format: 'oip', uri: 'file://models/not-yet.bin', command: ['server', '--port', '$PORT'] }), undefined);
  });

  it('still says which file is missing under the root', () => {
    assert.match(refusal({ uri: 'file://models/nope.onnx' }) ?? 'admitted', new RegExp(`^no model file at ${join(root, 'models', 'nope.onnx')}`));
  });

  it('confines a drift reference to the root and says when it is missing', () => {
    const referenceRefusal = (reference: string): string | undefined => {
      try {
        admitEmbedded(svc({ uri: 'file://models/m.onnx', drift: { reference } }), store, root);
        return undefined;
      } catch (err) {
        assert.ok(err instanceof SpecValidationError, String(err));
        return err.errors.find((e) => e.path === 'spec.model.drift.reference')?.message;
      }
    };
    writeFileSync(join(root, 'models', 'm.reference.json'), '{}');
    assert.equal(referenceRefusal('file://models/m.reference.json'), undefined);
    assert.match(referenceRefusal('file:///etc/ref.json') ?? 'admitted', /is outside the models root/);
    assert.match(referenceRefusal('file://models/none.json') ?? 'admitted', /^no drift reference file at /);
  });

  it('answers a URI that is no file path with a 422, not a crash', () => {
    assert.match(refusal({ uri: 'file://%E0%A4%A' }) ?? 'admitted', /is not a file path karb can read/);
  });

  it('counts the root under its real path as well as the path it was given', () => {
    const alias = join(scratch, 'alias');
    symlinkSync(root, alias);
    assert.equal(isUnderModelsRoot(join(root, 'models', 'm.onnx'), alias), true);
    assert.equal(isUnderModelsRoot(join(alias, 'models', 'm.onnx'), alias), true);
    assert.equal(isUnderModelsRoot(join(scratch, 'rootless', 'm.onnx'), alias), false);
    assert.equal(isUnderModelsRoot(root, root), true);
  });
});
