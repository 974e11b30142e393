/**
 * The README's resource example says its values under `spec` are the defaults:
 * every value it shows is what karb uses when the field is left out, and a field
 * without a default is marked `# optional` on its line, so no reader takes an
 * example value (a rate limit, say) for something karb applies by itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar, parseDocument, type Node } from 'yaml';
import { parseInferenceService } from './index.ts';

const README = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

function resourceExample(): string {
  const section = README.slice(README.indexOf('## The resource'));
  const match = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(match, 'README has a yaml block under "## The resource"');
  return match[1]!;
}

/** Paths of the example's leaves under `spec` (lists count as leaves), with the node that holds each value. */
function leaves(node: Node, path: string[]): Array<{ path: string[]; node: Node }> {
  if (isMap(node)) {
    return node.items.flatMap((pair) => (isScalar(pair.key) && pair.value ? leaves(pair.value as Node, [...path, String(pair.key.value)]) : []));
  }
  return [{ path, node }];
}

function valueAt(value: unknown, path: string[]): unknown {
  return path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), value);
}

test('every value the README resource example shows under spec is the default, or its line says optional', () => {
  const text = resourceExample();
  const doc = parseDocument(text);
  const example = parseInferenceService(doc.toJS());
  // Only the model's location is required; everything else comes from defaults.
  const defaults = parseInferenceService({ ...doc.toJS(), spec: { model: { uri: example.spec.model.uri } } }).spec;
  const lines = text.split('\n');
  const spec = doc.get('spec', true) as Node;
  const checked: string[] = [];
  for (const leaf of leaves(spec, [])) {
    const where = `spec.${leaf.path.join('.')}`;
    const line = lines[text.slice(0, leaf.node.range![0]).split('\n').length - 1]!;
    const shown = valueAt(example.spec, leaf.path);
    const byDefault = valueAt(defaults, leaf.path);
    if (byDefault === undefined) assert.match(line, /# optional/, `${where} has no default, so its line must say "# optional": ${line.trim()}`);
    else assert.deepEqual(shown, byDefault, `${where}: the README shows ${JSON.stringify(shown)}, the default is ${JSON.stringify(byDefault)}`);
    checked.push(where);
  }
  assert.ok(checked.includes('spec.traffic.rateLimit.requestsPerSecond'), `the example shows the per-service rate limit (checked: ${checked.join(', ')})`);
});
