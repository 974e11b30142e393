/**
 * The CustomResourceDefinition of inferenceservices.karb.dev, generated from the zod schema: the
 * spec's JSON Schema made structural (the dialect the API server accepts), the schema's cross-field
 * rules as CEL `x-kubernetes-validations` so the API server itself refuses them with the field's
 * path, the status and scale subresources, and the columns `kubectl get` prints.
 */
import { API_VERSION, KIND, MAX_NAME_LENGTH } from './schema.ts';
import { specOpenApiSchema } from './json-schema.ts';

export const CRD_GROUP = API_VERSION.slice(0, API_VERSION.indexOf('/'));
export const CRD_VERSION = API_VERSION.slice(API_VERSION.indexOf('/') + 1);
export const CRD_PLURAL = 'inferenceservices';
export const CRD_NAME = `${CRD_PLURAL}.${CRD_GROUP}`;

type Schema = Record<string, unknown>;

/** Formats the API server knows; any other (zod's `starts_with`) is dropped, its pattern kept. */
const KUBERNETES_FORMATS = new Set(['int32', 'int64', 'float', 'double', 'byte', 'date', 'date-time', 'password', 'uri', 'email', 'uuid', 'hostname', 'ipv4', 'ipv6']);

/**
 * A JSON Schema node as a structural schema: every node has a type; closed objects lose
 * `additionalProperties: false` (the API server prunes, and strict field validation refuses,
 * unknown fields instead); an object of anything keeps unknown fields; a quantity is an
 * int-or-string. Throws on a construct it has no mapping for, so a new kind of zod field
 * cannot reach the CRD unnoticed.
 */
export function toStructural(node: Schema, path = 'spec'): Schema {
  if (node['x-kubernetes-int-or-string'] === true) {
    const out: Schema = { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
    for (const key of ['pattern', 'default', 'description'] as const) if (node[key] !== undefined) out[key] = node[key];
    return out;
  }
  if (node.anyOf !== undefined || node.oneOf !== undefined || node.allOf !== undefined) {
    throw new Error(`${path}: a union has no structural form; mark it (x-kubernetes-int-or-string) or map it in src/api/crd.ts`);
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    switch (key) {
      case 'properties': {
        const props: Schema = {};
        for (const [name, child] of Object.entries(value as Record<string, Schema>)) props[name] = toStructural(child, `${path}.${name}`);
        out.properties = props;
        break;
      }
      case 'items':
        out.items = toStructural(value as Schema, `${path}[]`);
        break;
      case 'additionalProperties':
        if (value === false) break;
        if (isAnything(value as Schema)) out['x-kubernetes-preserve-unknown-fields'] = true;
        else out.additionalProperties = toStructural(value as Schema, `${path}.*`);
        break;
      case 'format':
        if (KUBERNETES_FORMATS.has(value as string)) out.format = value;
        break;
      default:
        out[key] = value;
    }
  }
  if (out.type === undefined) {
    if (isAnything(node)) return { 'x-kubernetes-preserve-unknown-fields': true };
    throw new Error(`${path}: a schema node without a type has no structural form`);
  }
  return out;
}

function isAnything(node: Schema): boolean {
  return Object.keys(node).every((k) => k === 'description');
}

interface Rule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueRequired';
}

/**
 * The zod schema's superRefine rules, as the API server checks them (CEL). Each guards its fields
 * with has(): the API server also checks the rules against the objects' defaults (`{}`), before
 * nested defaults are filled in.
 */
const RULES: Record<string, Rule[]> = {
  scaling: [
    { rule: '!has(self.minReplicas) || !has(self.maxReplicas) || self.maxReplicas >= self.minReplicas', message: 'must be >= minReplicas', fieldPath: '.maxReplicas' },
  ],
  model: [
    {
      rule: "self.format != 'onnx' || has(self.uri) || has(self.command)",
      message: 'is required for format onnx (e.g. uri: pvc://models/fraud-v1.onnx), unless a custom command serves the model',
      fieldPath: '.uri',
      reason: 'FieldValueRequired',
    },
    {
      rule: "self.format == 'onnx' || has(self.command) || has(self.image) || (self.format == 'openai' && has(self.uri))",
      message: 'is required for formats openai and oip: name the server to run, or an image (or, for openai, a uri for the built-in server)',
      fieldPath: '.command',
      reason: 'FieldValueRequired',
    },
  ],
  rollout: [
    {
      // Strictly increasing: sorted, and no weight twice.
      rule: '!has(self.steps) || (self.steps.map(s, s.weight).isSorted() && self.steps.all(a, self.steps.exists_one(b, b.weight == a.weight)))',
      message: "each step's weight must be greater than the previous step's",
      fieldPath: '.steps',
    },
  ],
  resources: (['cpu', 'memory'] as const).map((kind) => ({
    rule: `!has(self.requests) || !has(self.limits) || !has(self.requests.${kind}) || !has(self.limits.${kind}) || quantity(string(self.requests.${kind})).compareTo(quantity(string(self.limits.${kind}))) <= 0`,
    message: `must be >= resources.requests.${kind}`,
    fieldPath: `.limits.${kind}`,
  })),
};

/** The spec's schema for the CRD: structural, with the cross-field rules on the objects they read. */
export function crdSpecSchema(): Schema {
  const spec = toStructural(specOpenApiSchema());
  const props = spec.properties as Record<string, Schema>;
  for (const [field, rules] of Object.entries(RULES)) {
    const target = props[field];
    if (target === undefined) throw new Error(`spec.${field}: a CEL rule names a field the schema does not have`);
    target['x-kubernetes-validations'] = rules;
  }
  return spec;
}

/** What karb writes in status; kept open so that a newer karb's fields survive an older one. */
const STATUS_SCHEMA: Schema = {
  type: 'object',
  'x-kubernetes-preserve-unknown-fields': true,
  properties: {
    observedGeneration: { type: 'integer', format: 'int64' },
    replicas: { type: 'integer', format: 'int32', description: 'Ready replicas of the serving revision (the scale subresource reads it).' },
    selector: { type: 'string', description: 'Label selector of the serving revision’s pods (the scale subresource reads it).' },
    conditions: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: {
        type: 'object',
        required: ['type', 'status'],
        properties: {
          type: { type: 'string' },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          reason: { type: 'string' },
          message: { type: 'string' },
          lastTransitionTime: { type: 'string', format: 'date-time' },
          observedGeneration: { type: 'integer', format: 'int64' },
        },
      },
    },
    summary: {
      type: 'object',
      description: 'The columns `kubectl get` prints, as `karb get services` prints them.',
      properties: { replicas: { type: 'string' }, traffic: { type: 'string' }, rollout: { type: 'string' } },
    },
  },
};

/** The CustomResourceDefinition karb installs, as an object ready to be applied or printed. */
export function inferenceServiceCrd(): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME, labels: { 'app.kubernetes.io/name': 'karb', 'app.kubernetes.io/component': 'crd' } },
    spec: {
      group: CRD_GROUP,
      scope: 'Namespaced',
      names: { kind: KIND, listKind: `${KIND}List`, plural: CRD_PLURAL, singular: KIND.toLowerCase(), shortNames: ['kis'], categories: ['karb'] },
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: { specReplicasPath: '.spec.scaling.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
          },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Replicas', type: 'string', jsonPath: '.status.summary.replicas' },
            { name: 'Traffic', type: 'string', jsonPath: '.status.summary.traffic' },
            { name: 'Rollout', type: 'string', jsonPath: '.status.summary.rollout' },
            { name: 'Policy', type: 'string', jsonPath: '.spec.scaling.policy', priority: 1 },
            { name: 'SLO-P95', type: 'number', jsonPath: '.spec.slo.latencyP95Ms', description: 'p95 latency objective (ms)' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              required: ['spec'],
              'x-kubernetes-validations': [
                {
                  rule: `self.metadata.name.size() <= ${MAX_NAME_LENGTH}`,
                  message: `metadata.name must be at most ${MAX_NAME_LENGTH} characters (revision names append -00001)`,
                },
              ],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: crdSpecSchema(),
                status: STATUS_SCHEMA,
              },
            },
          },
        },
      ],
    },
  };
}
