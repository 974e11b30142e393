import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isKarbError } from '../errors.ts';
import { fileDigest, ModelDigestMismatchError, verifyModelDigest } from './model-digest.ts';

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-digest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('model digest', () => {
  it('is sha256: and the hex sha256sum prints', async (t) => {
    const file = path.join(scratch(t), 'abc.onnx');
    writeFileSync(file, 'abc');
    // The SHA-256 test vector of "abc" (FIPS 180-2).
    assert.equal(await fileDigest(file), 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('hashes a file of several read chunks whole, as one hash of its bytes', async (t) => {
    const file = path.join(scratch(t), 'big.onnx');
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(file, bytes);
    assert.equal(await fileDigest(file), `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  });

  it('accepts the file its pin names and refuses another, naming both digests', async (t) => {
    const file = path.join(scratch(t), 'm.onnx');
    writeFileSync(file, 'abc');
    const right = 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    await verifyModelDigest(file, right);
    const wrong = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(verifyModelDigest(file, wrong), (err: unknown) => {
      assert.ok(err instanceof ModelDigestMismatchError);
      assert.equal(err.code, 'MODEL_DIGEST_MISMATCH');
      assert.equal(err.message, `model file ${file} has digest ${right}, but --model-digest pins ${wrong}; the file changed or the pin is wrong`);
      return true;
    });
  });

  it('says which file it cannot read', async (t) => {
    const file = path.join(scratch(t), 'missing.onnx');
    await assert.rejects(verifyModelDigest(file, `sha256:${'0'.repeat(64)}`), (err: unknown) => {
      assert.ok(isKarbError(err));
      assert.equal(err.code, 'MODEL_UNREADABLE');
      assert.match(err.message, /^cannot read model file .*missing\.onnx to check its digest: ENOENT/);
      return true;
    });
  });
});
