import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateInferenceService, parseInferenceService, SpecValidationError } from './validate.ts';
import { specOpenApiSchema, inferenceServiceJsonSchema } from './json-schema.ts';

const base = () => ({
  apiVersion: 'karb.dev/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'fraud-detector' },
  spec: { model: { uri: 'file://models/fraud-v1.onnx' } } as Record<string, unknown>,
});

function errorsOf(mutate: (doc: ReturnType<typeof base>) => void): string[] {
  const doc = base();
  mutate(doc);
  const result = validateInferenceService(doc);
  assert.equal(result.ok, false, 'expected the spec to be rejected');
  return result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('InferenceService schema', () => {
  it('fills every default the design names', () => {
    const svc = parseInferenceService(base());
    assert.equal(svc.metadata.namespace, 'default');
    assert.deepEqual(svc.spec.model.batching, { maxBatchSize: 32, maxDelayMs: 4 });
    assert.equal(svc.spec.model.format, 'onnx');
    assert.equal(svc.spec.scaling.policy, 'gascl');
    assert.deepEqual(svc.spec.scaling.stabilization, { upSeconds: 0, downSeconds: 300 });
    assert.deepEqual(svc.spec.slo, { latencyP95Ms: 250, errorRate: 0.01, coldStartMs: 2000 });
    assert.equal(svc.spec.rollout.strategy, 'canary');
    assert.equal(svc.spec.rollout.analysis.minRequests, 50);
    assert.equal(svc.spec.traffic.async.enabled, false);
    assert.deepEqual(svc.spec.resources.requests, { cpu: '1', memory: '1Gi' });
  });

  it('accepts the full resource of the design', () => {
    const doc = base();
    doc.metadata = { name: 'fraud-detector', namespace: 'payments', labels: { team: 'payments' } } as never;
    doc.spec = {
      model: { format: 'onnx', uri: 'file://models/fraud-v1.onnx', image: 'ghcr.io/example/karb-serve', batching: { maxBatchSize: 32, maxDelayMs: 4 } },
      resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' }, accelerator: { kind: 'nvidia.com/gpu', count: 1, sharing: 'time-slice' } },
      placement: { pools: ['onprem-a100', 'cloud-a100'], tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }], nodeSelector: { zone: 'a' } },
      slo: { latencyP95Ms: 250, errorRate: 0.01, coldStartMs: 2000 },
      scaling: { policy: 'keda-queue', minReplicas: 0, maxReplicas: 30, targetConcurrency: 8, scaleToZeroAfter: '5m', stabilization: { upSeconds: 0, downSeconds: 300 } },
      rollout: { strategy: 'canary', steps: [{ weight: 5, pause: '30s' }, { weight: 25, pause: '60s' }, { weight: 50, pause: '60s' }], analysis: { interval: '10s', minRequests: 50, maxErrorRateDelta: 0.005, maxLatencyP95Ratio: 1.2 } },
      traffic: { rateLimit: { requestsPerSecond: 500, burst: 1000 }, async: { enabled: true, maxQueued: 10000, ttl: '10m' }, fallback: ['fraud-detector-cpu'] },
    };
    const result = validateInferenceService(doc);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
    assert.equal(result.value.spec.resources.accelerator?.sharing, 'time-slice');
  });

  const rejected: Array<[string, (d: ReturnType<typeof base>) => void, string]> = [
    ['max below min', (d) => (d.spec.scaling = { minReplicas: 2, maxReplicas: 1 }), 'spec.scaling.maxReplicas: must be >= minReplicas (got 1 < 2)'],
    ['unknown field with a hint', (d) => (d.spec.scalng = {}), "spec.scalng: unknown field (did you mean 'scaling'?)"],
    ['wrong type', (d) => (d.spec.slo = { latencyP95Ms: 'fast' }), 'spec.slo.latencyP95Ms: must be a number (got "fast")'],
    ['bad enum', (d) => (d.spec.scaling = { policy: 'magic' }), 'spec.scaling.policy: must be one of "gascl", "hpa-cpu", "hpa-service", "keda-queue" (got "magic")'],
    ['bad name', (d) => (d.metadata.name = 'Fraud_Detector'), 'metadata.name: must be lowercase letters'],
    ['missing model', (d) => delete d.spec.model, 'spec.model: is required'],
    ['onnx without uri', (d) => (d.spec.model = { format: 'onnx' }), 'spec.model.uri: is required for format onnx'],
    ['openai without command', (d) => (d.spec.model = { format: 'openai' }), 'spec.model.command: is required for format openai'],
    ['bad uri', (d) => (d.spec.model = { uri: 'https://example.com/m.onnx' }), 'spec.model.uri: must be a URI such as file://'],
    ['bad duration', (d) => (d.spec.scaling = { scaleToZeroAfter: 'soon' }), 'spec.scaling.scaleToZeroAfter: must be a duration'],
    ['steps not increasing', (d) => (d.spec.rollout = { steps: [{ weight: 50 }, { weight: 20 }] }), "spec.rollout.steps[1].weight: must be greater than the previous step's weight (got 20 after 50)"],
    ['limit below request', (d) => (d.spec.resources = { requests: { cpu: '4' }, limits: { cpu: '500m' } }), 'spec.resources.limits.cpu: must be >= resources.requests.cpu (got 500m < 4)'],
    ['bad memory', (d) => (d.spec.resources = { requests: { memory: 'lots' } }), 'spec.resources.requests.memory: must be a memory quantity'],
    ['negative min', (d) => (d.spec.scaling = { minReplicas: -1 }), 'spec.scaling.minReplicas: must be >= 0 (got number -1)'],
    ['fractional batch', (d) => (d.spec.model = { uri: 'file://m.onnx', batching: { maxBatchSize: 1.5 } }), 'spec.model.batching.maxBatchSize: must be an int'],
    ['wrong kind', (d) => (d.kind = 'Deployment'), 'kind: must be InferenceService'],
    ['wrong apiVersion', (d) => (d.apiVersion = 'v1'), 'apiVersion: must be karb.dev/v1alpha1'],
  ];
  for (const [name, mutate, expected] of rejected) {
    it(`rejects ${name} with the exact path`, () => {
      const errors = errorsOf(mutate);
      assert.ok(errors.some((e) => e.startsWith(expected)), `expected an error starting with\n  ${expected}\ngot\n  ${errors.join('\n  ')}`);
    });
  }

  it('throws one error that lists every problem with status 422', () => {
    const doc = base();
    doc.spec.slo = { latencyP95Ms: -1 };
    doc.spec.scaling = { policy: 'x' };
    assert.throws(
      () => parseInferenceService(doc, 'svc.yaml'),
      (err: unknown) =>
        err instanceof SpecValidationError &&
        err.status === 422 &&
        err.code === 'INVALID_SPEC' &&
        err.errors.length === 2 &&
        err.message.startsWith('svc.yaml: invalid InferenceService'),
    );
  });

  it('exports JSON Schema and an OpenAPI schema for the CRD', () => {
    const json = inferenceServiceJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    assert.deepEqual(Object.keys(json.properties).sort(), ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
    const spec = specOpenApiSchema() as { properties: { scaling: { properties: { policy: { enum: string[]; default: string } } } } };
    assert.deepEqual(spec.properties.scaling.properties.policy.enum, ['gascl', 'hpa-cpu', 'hpa-service', 'keda-queue']);
    assert.equal(spec.properties.scaling.properties.policy.default, 'gascl');
  });
});
