import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CRD_NAME, crdSpecSchema, inferenceServiceCrd, toStructural } from './crd.ts';
import { parseInferenceService } from './validate.ts';

type Node = Record<string, unknown>;

/** Walks every schema node with its path. */
function* nodes(node: Node, path = 'spec'): Generator<[string, Node]> {
  yield [path, node];
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, Node>)) yield* nodes(child, `${path}.${name}`);
  if (node.items) yield* nodes(node.items as Node, `${path}[]`);
  if (typeof node.additionalProperties === 'object') yield* nodes(node.additionalProperties as Node, `${path}.*`);
}

test('every node of the CRD’s spec schema is structural: a type, an int-or-string, or open to anything', () => {
  for (const [path, node] of nodes(crdSpecSchema())) {
    const structural = typeof node.type === 'string' || node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'] === true;
    assert.ok(structural, `${path} has no type`);
    assert.notEqual(node.additionalProperties, false, `${path} keeps additionalProperties: false`);
    if (node.anyOf) assert.equal(node['x-kubernetes-int-or-string'], true, `${path}: a union that is not an int-or-string`);
    if (node.format !== undefined) assert.notEqual(node.format, 'starts_with', `${path}: a format the API server does not know`);
  }
});

test('the CRD’s defaults are the resource’s defaults', () => {
  const spec = crdSpecSchema();
  const prop = (...names: string[]) => names.reduce<Node>((n, name) => (n.properties as Record<string, Node>)[name]!, spec);
  const parsed = parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'a' }, spec: { model: { uri: 'file://m.onnx' } } }).spec;
  assert.equal(prop('scaling', 'minReplicas').default, parsed.scaling.minReplicas);
  assert.equal(prop('scaling', 'maxReplicas').default, parsed.scaling.maxReplicas);
  assert.equal(prop('scaling', 'policy').default, parsed.scaling.policy);
  assert.equal(prop('slo', 'latencyP95Ms').default, parsed.slo.latencyP95Ms);
  assert.deepEqual(prop('resources', 'requests').default, parsed.resources.requests);
  assert.deepEqual(prop('rollout', 'steps').default, parsed.rollout.steps);
  assert.equal(prop('scaling', 'scaleToZeroAfter').pattern !== undefined, true, 'durations carry their pattern');
  assert.ok(new RegExp(prop('scaling', 'scaleToZeroAfter').pattern as string).test(parsed.scaling.scaleToZeroAfter));
  assert.ok(!new RegExp(prop('scaling', 'scaleToZeroAfter').pattern as string).test('30'), 'a bare number is no duration in a spec');
});

test('the cross-field rules sit on the objects they read, naming the field they are about', () => {
  const props = crdSpecSchema().properties as Record<string, Node>;
  const rules = (field: string) => props[field]!['x-kubernetes-validations'] as Array<{ rule: string; fieldPath?: string }>;
  assert.deepEqual(rules('scaling').map((r) => r.fieldPath), ['.maxReplicas']);
  assert.deepEqual(rules('model').map((r) => r.fieldPath), ['.uri', '.command']);
  assert.deepEqual(rules('resources').map((r) => r.fieldPath), ['.limits.cpu', '.limits.memory']);
  assert.equal((props.rollout!.properties as Record<string, Node>).steps!.maxItems, 20, 'a bounded list keeps the rule’s cost estimate finite');
});

test('the CRD has the status and scale subresources and the columns karb get prints', () => {
  const crd = inferenceServiceCrd() as { metadata: { name: string }; spec: { versions: Array<Record<string, any>> } };
  assert.equal(crd.metadata.name, CRD_NAME);
  const [version] = crd.spec.versions;
  assert.deepEqual(version!.subresources.scale, { specReplicasPath: '.spec.scaling.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' });
  assert.deepEqual(
    version!.additionalPrinterColumns.map((c: { name: string }) => c.name),
    ['Ready', 'Replicas', 'Traffic', 'Rollout', 'Policy', 'SLO-P95', 'Age'],
  );
});

test('a union with no structural form is refused with its path, not passed to the API server', () => {
  assert.throws(
    () => toStructural({ type: 'object', properties: { x: { anyOf: [{ type: 'string' }, { type: 'boolean' }] } } }),
    /spec\.x: a union has no structural form/,
  );
  assert.throws(() => toStructural({ type: 'object', properties: { y: { minimum: 1 } } }), /spec\.y: a schema node without a type/);
  assert.deepEqual(toStructural({ type: 'object', additionalProperties: {} }), { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
});
