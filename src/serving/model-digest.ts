/**
 * `karb serve --model-digest`: the model file's SHA-256, checked against the pin before anything
 * loads the file. The file is read as a stream, so a model of many gigabytes never sits in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { KarbError } from '../errors.ts';

/** Large reads: hashing, not the number of system calls, should bound the time a big model takes. */
const READ_CHUNK_BYTES = 1024 * 1024;

/** The file's digest in the form the pin takes: `sha256:` and 64 lowercase hex digits. */
export async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK_BYTES })) hash.update(chunk as Buffer);
  } catch (err) {
    throw new KarbError('MODEL_UNREADABLE', `cannot read model file ${file} to check its digest: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return `sha256:${hash.digest('hex')}`;
}

/** The model file is not the one its digest pins. */
export class ModelDigestMismatchError extends KarbError {
  readonly actual: string;
  readonly pinned: string;
  constructor(file: string, actual: string, pinned: string) {
    super('MODEL_DIGEST_MISMATCH', `model file ${file} has digest ${actual}, but --model-digest pins ${pinned}; the file changed or the pin is wrong`);
    this.actual = actual;
    this.pinned = pinned;
  }
}

/** Resolves when `file` has the `pinned` digest; throws ModelDigestMismatchError when not, a KarbError MODEL_UNREADABLE when it cannot be read. */
export async function verifyModelDigest(file: string, pinned: string): Promise<void> {
  const actual = await fileDigest(file);
  if (actual !== pinned) throw new ModelDigestMismatchError(file, actual, pinned);
}
