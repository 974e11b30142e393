/** Every manifest under examples/ is a valid resource: the examples users copy never drift from the schema. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifestText, validateInferenceService } from './index.ts';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');

for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'))) {
  test(`examples/${file} validates`, () => {
    const docs = parseManifestText(readFileSync(join(EXAMPLES, file), 'utf8'), file);
    assert.ok(docs.length >= 1);
    for (const doc of docs) {
      const result = validateInferenceService(doc);
      assert.ok(result.ok, `${file}: ${JSON.stringify(result.ok ? [] : result.errors)}`);
    }
  });
}
