import { PoolSpec } from '../../api/pool.ts';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService, type InferenceService } from '../../api/index.ts';
import type { RevisionTemplate } from '../types.ts';
import { buildDeployment, acceleratorResource } from './deployment.ts';
import { buildServiceObjects, type KubernetesObject } from './objects.ts';
import { DEFAULT_CLUSTER_OPTIONS, KARB_VERSION } from './options.ts';
import { modelSource } from './model-source.ts';
import { restrictedContainerSecurity } from './security.ts';

const options = DEFAULT_CLUSTER_OPTIONS;

function service(spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): InferenceService {
  return parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'fraud', namespace: 'payments', ...metadata }, spec });
}

function template(s: InferenceService, revision = `${s.metadata.name}-00001`): RevisionTemplate {
  const m = s.spec.model;
  return {
    revision,
    service: s.metadata.name,
    namespace: s.metadata.namespace,
    model: { format: m.format, name: s.metadata.name, ...(m.uri ? { uri: m.uri } : {}), ...(m.digest ? { digest: m.digest } : {}), ...(m.image ? { image: m.image } : {}), ...(m.command ? { command: m.command } : {}), ...(m.env ? { env: m.env } : {}), ...(m.readinessPath ? { readinessPath: m.readinessPath } : {}), batching: m.batching },
    resources: s.spec.resources,
    placement: s.spec.placement,
    drainSeconds: 30,
  };
}

type Any = Record<string, any>;
const podSpec = (d: Any): Any => d.spec.template.spec;
const container = (d: Any): Any => podSpec(d).containers[0];

test('a revision’s Deployment runs karb serve on the model from its claim, restricted, probed, draining', () => {
  const s = service({ model: { uri: 'pvc://models/fraud-v1.onnx', batching: { maxBatchSize: 16 } } });
  const d: Any = buildDeployment(template(s), 3, options);
  assert.equal(d.metadata.name, 'fraud-00001');
  assert.equal(d.spec.replicas, 3);
  assert.deepEqual(d.spec.selector, { matchLabels: { 'karb.dev/revision': 'fraud-00001' } });
  assert.equal(container(d).image, options.image);
  assert.deepEqual(container(d).args, ['serve', '--model', '/mnt/models/fraud-v1.onnx', '--name', 'fraud', '--port', '8080', '--host', '0.0.0.0', '--max-batch-size', '16', '--max-delay-ms', '4']);
  assert.deepEqual(podSpec(d).volumes[0], { name: 'model', persistentVolumeClaim: { claimName: 'models', readOnly: true } });
  assert.deepEqual(container(d).securityContext, restrictedContainerSecurity());
  assert.equal(podSpec(d).securityContext.runAsNonRoot, true);
  assert.deepEqual(podSpec(d).securityContext.seccompProfile, { type: 'RuntimeDefault' });
  assert.equal(podSpec(d).automountServiceAccountToken, false);
  assert.equal(container(d).readinessProbe.httpGet.path, '/v2/health/ready');
  assert.equal(container(d).livenessProbe.httpGet.path, '/v2/health/live');
  assert.deepEqual(container(d).lifecycle.preStop, { sleep: { seconds: 5 } });
  assert.equal(podSpec(d).terminationGracePeriodSeconds, 35);
  assert.deepEqual(container(d).resources, { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } });
});

test('a custom command runs in its image with $PORT filled in; without an image it is refused with the field to set', () => {
  const s = service({ model: { format: 'oip', image: 'ghcr.io/acme/srv:1', command: ['srv', '--port', '$PORT'], readinessPath: '/ready', env: { B: '2', A: '1', PORT: '9' } } });
  const d: Any = buildDeployment(template(s), 1, options);
  assert.equal(container(d).image, 'ghcr.io/acme/srv:1');
  assert.deepEqual(container(d).command, ['srv', '--port', '8080']);
  assert.equal(container(d).args, undefined);
  assert.equal(container(d).readinessProbe.httpGet.path, '/ready');
  assert.deepEqual(container(d).livenessProbe.tcpSocket, { port: 'http' });
  const env = container(d).env.map((e: Any) => e.name);
  assert.deepEqual(env, ['PORT', 'KARB_NAMESPACE', 'KARB_SERVICE', 'KARB_REVISION', 'KARB_REPLICA', 'A', 'B'], 'karb’s PORT wins; the spec’s env follows in name order');
  const noImage = service({ model: { format: 'oip', command: ['srv'] } });
  assert.throws(() => buildDeployment(template(noImage), 1, options), (e: Any) => e.code === 'MODEL_IMAGE_REQUIRED' && /spec\.model\.image/.test(e.message));
});

test('model URIs: s3 through an init container, oci as an image volume, file:// refused with what to use instead', () => {
  const security = restrictedContainerSecurity();
  const o = { fetcherImage: 'aws-cli', credentialsSecret: 'fraud-model-credentials', securityContext: security };
  const s3 = modelSource('s3://bucket/models/fraud-v1.onnx', o);
  assert.equal(s3.path, '/mnt/models/fraud-v1.onnx');
  assert.deepEqual(s3.initContainers[0]!.command, ['aws', 's3', 'cp', 's3://bucket/models/fraud-v1.onnx', '/mnt/models/fraud-v1.onnx']);
  assert.deepEqual(s3.initContainers[0]!.envFrom, [{ secretRef: { name: 'fraud-model-credentials', optional: true } }]);
  const oci = modelSource('oci://ghcr.io/acme/fraud-model:v1', o);
  assert.deepEqual(oci.volumes[0], { name: 'model', image: { reference: 'ghcr.io/acme/fraud-model:v1', pullPolicy: 'IfNotPresent' } });
  assert.equal(oci.path, '/mnt/models/model.onnx');
  assert.throws(() => modelSource('file://models/fraud-v1.onnx', o), (e: Any) => e.code === 'MODEL_URI_UNSUPPORTED' && e.status === 422 && /pvc:\/\/claim\/path/.test(e.message));
  for (const bad of ['pvc://models', 'pvc://Bad_Claim/x.onnx', 'pvc://models/../etc/passwd', 's3://bucket', 'oci://nothing']) {
    assert.throws(() => modelSource(bad, o), (e: Any) => e.code === 'MODEL_URI_INVALID' && e.message.includes(bad), bad);
  }
});

test('accelerators become extended resources and a toleration; pools a required node affinity', () => {
  assert.equal(acceleratorResource({ kind: 'nvidia.com/gpu', sharing: 'none' }), 'nvidia.com/gpu');
  assert.equal(acceleratorResource({ kind: 'nvidia.com/gpu', sharing: 'time-slice' }), 'nvidia.com/gpu.shared');
  assert.equal(acceleratorResource({ kind: 'nvidia.com/gpu', sharing: 'mig-1g.10gb' }), 'nvidia.com/mig-1g.10gb');
  const s = service({
    model: { uri: 'pvc://models/m.onnx' },
    resources: { accelerator: { count: 2, sharing: 'mig-3g.40gb' } },
    placement: { pools: ['gpu-a100', 'gpu-h100'], nodeSelector: { zone: 'a' }, tolerations: [{ key: 'dedicated', value: 'ml', effect: 'NoSchedule' }] },
  });
  const d: Any = buildDeployment(template(s), 1, options);
  assert.equal(container(d).resources.limits['nvidia.com/mig-3g.40gb'], '2');
  assert.equal(container(d).resources.requests['nvidia.com/mig-3g.40gb'], '2');
  assert.deepEqual(podSpec(d).nodeSelector, { zone: 'a' });
  const poolTerm = (name: string) => ({ matchExpressions: [{ key: 'karb.dev/pool', operator: 'In', values: [name] }] });
  assert.deepEqual(podSpec(d).affinity.nodeAffinity, {
    requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [poolTerm('gpu-a100'), poolTerm('gpu-h100')] },
    preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: poolTerm('gpu-a100') }, { weight: 50, preference: poolTerm('gpu-h100') }],
  }, 'either pool, the first named preferred');
  assert.deepEqual(podSpec(d).tolerations, [
    { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' },
    { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
  ]);
});

test('declared pools: their nodes found by their own labels, their taints tolerated, in the order named; an unknown pool or a GPU service in a CPU pool is refused', () => {
  const pools = [
    PoolSpec.parse({ name: 'onprem-a100', accelerator: 'gpu', class: 'on-prem', replicasPerNode: 4, costPerHour: 12, minNodes: 2, maxNodes: 2, kubernetes: { nodeSelector: { 'example.com/rack': 'r7', 'nvidia.com/gpu.product': 'A100' }, taints: [{ key: 'example.com/onprem', effect: 'NoSchedule' }] } }),
    PoolSpec.parse({ name: 'cloud-a100', accelerator: 'gpu', replicasPerNode: 4, costPerHour: 16, maxNodes: 30, kubernetes: { taints: [{ key: 'example.com/spot', value: 'true', effect: 'NoExecute' }] } }),
    PoolSpec.parse({ name: 'cpu', accelerator: 'cpu', replicasPerNode: 8, costPerHour: 1, maxNodes: 4 }),
  ];
  const withPools = { ...options, pools };
  const gpu = (placement: Record<string, unknown>) => template(service({ model: { uri: 'pvc://models/m.onnx' }, resources: { accelerator: { count: 1 } }, placement }));
  const spec: Any = podSpec(buildDeployment(gpu({ pools: ['onprem-a100', 'cloud-a100'] }), 1, withPools));
  const onprem = { matchExpressions: [{ key: 'example.com/rack', operator: 'In', values: ['r7'] }, { key: 'nvidia.com/gpu.product', operator: 'In', values: ['A100'] }] };
  const cloud = { matchExpressions: [{ key: 'karb.dev/pool', operator: 'In', values: ['cloud-a100'] }] };
  assert.deepEqual(spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, [onprem, cloud]);
  assert.deepEqual(spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution.map((p: Any) => p.weight), [100, 50]);
  assert.deepEqual(spec.tolerations, [
    { key: 'example.com/onprem', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'example.com/spot', operator: 'Equal', value: 'true', effect: 'NoExecute' },
    { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
  ]);
  // An on-prem and an elastic pool: the pods wait behind karb's placement gate (src/control/kubernetes/placement-gate.ts).
  assert.deepEqual(spec.schedulingGates, [{ name: 'karb.dev/placement' }]);
  assert.equal(podSpec(buildDeployment(gpu({ pools: ['onprem-a100'] }), 1, withPools)).schedulingGates, undefined, 'on-prem only: nothing to keep from the cloud');
  assert.equal(podSpec(buildDeployment(gpu({ pools: ['cloud-a100'] }), 1, withPools)).schedulingGates, undefined, 'elastic only: the scheduler places it');
  assert.equal(podSpec(buildDeployment(gpu({ pools: ['onprem-a100', 'cloud-a100'] }), 1, options)).schedulingGates, undefined, 'no pools declared: no class known, no gate');
  assert.throws(() => buildDeployment(gpu({ pools: ['onprem-a100', 'tpu'] }), 1, withPools), /^InvalidRequestError: spec\.placement\.pools\[1\]: no pool named tpu; the declared pools are onprem-a100, cloud-a100, cpu$/);
  assert.throws(() => buildDeployment(gpu({ pools: ['cpu'] }), 1, withPools), /spec\.placement\.pools\[0\]: pool cpu has no accelerators, but spec\.resources\.accelerator asks for nvidia\.com\/gpu; name a GPU pool/);
});

test('a service’s objects: identity, Services, a Deployment per running revision, PDB, NetworkPolicy, and the policy’s autoscaler', () => {
  const kinds = (objs: KubernetesObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`);
  const gascl = service({ model: { uri: 'pvc://models/m.onnx' } }, { labels: { team: 'payments' } });
  const two = [
    { template: template(gascl, 'fraud-00001'), replicas: 3 },
    { template: template(gascl, 'fraud-00002'), replicas: 1 },
  ];
  const objs = buildServiceObjects(gascl, two, options);
  assert.deepEqual(kinds(objs), [
    'ServiceAccount/fraud', 'Service/fraud', 'Service/fraud-00001', 'Service/fraud-00002', 'Deployment/fraud-00001', 'Deployment/fraud-00002', 'PodDisruptionBudget/fraud', 'NetworkPolicy/fraud',
  ]);
  for (const o of objs) {
    assert.equal(o.metadata.namespace, 'payments');
    assert.equal(o.metadata.labels!['karb.dev/service'], 'fraud');
    assert.equal(o.metadata.labels!['app.kubernetes.io/managed-by'], 'karb');
    assert.equal(o.metadata.labels!.team, 'payments', 'the user’s labels travel');
  }
  const np: Any = objs.find((o) => o.kind === 'NetworkPolicy')!;
  assert.deepEqual(np.spec.policyTypes, ['Ingress']);
  assert.equal(np.spec.ingress[0].from[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'], 'karb-system');
  assert.deepEqual(JSON.stringify(buildServiceObjects(gascl, two, options)), JSON.stringify(objs), 'the same input builds byte-identical objects');

  const hpa: Any = buildServiceObjects(service({ model: { uri: 'pvc://m/m.onnx' }, scaling: { policy: 'hpa-cpu', minReplicas: 0, maxReplicas: 7 } }), two, options).at(-1)!;
  assert.equal(hpa.kind, 'HorizontalPodAutoscaler');
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', name: 'fraud' });
  assert.equal(hpa.spec.minReplicas, 1, 'an HPA cannot hold zero');
  assert.equal(hpa.spec.metrics[0].resource.target.averageUtilization, 80);
  const svc: Any = buildServiceObjects(service({ model: { uri: 'pvc://m/m.onnx' }, scaling: { policy: 'hpa-service', targetConcurrency: 4 }, slo: { latencyP95Ms: 120 } }), two, options).at(-1)!;
  assert.deepEqual(svc.spec.metrics.map((m: Any) => [m.object.metric.name, m.object.target]), [
    ['karb_service_latency_p95_milliseconds', { type: 'Value', value: '120' }],
    ['karb_service_concurrency', { type: 'AverageValue', averageValue: '4' }],
  ]);
  const keda: Any = buildServiceObjects(service({ model: { uri: 'pvc://m/m.onnx' }, scaling: { policy: 'keda-queue', minReplicas: 0, scaleToZeroAfter: '2m' } }), two, options).at(-1)!;
  assert.equal(keda.kind, 'ScaledObject');
  assert.equal(keda.spec.minReplicaCount, 0);
  assert.equal(keda.spec.cooldownPeriod, 120);
  assert.equal(keda.spec.triggers[0].metadata.query, 'sum(karb_gateway_queue_depth{service="fraud"})');
});

test('the image the builders name is the release of this checkout', () => {
  const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(KARB_VERSION, version, 'options.ts KARB_VERSION follows package.json');
  assert.equal(DEFAULT_CLUSTER_OPTIONS.image, `ghcr.io/karb-dev/karb:${version}`);
});

test('spec.model.drift gives karb serve its learn and window rows; the reference is the one beside the model', () => {
  const s = service({ model: { uri: 'pvc://models/fraud-v1.onnx', drift: { learnRows: 500, windowRows: 4000 } } });
  const d: Any = buildDeployment({ ...template(s), model: { ...template(s).model, drift: { learnRows: 500, windowRows: 4000 } } }, 1, options);
  assert.deepEqual(container(d).args.slice(-4), ['--drift-learn-rows', '500', '--drift-window-rows', '4000']);
  assert.ok(!container(d).args.includes('--drift-reference'));
  const named = { ...template(s), model: { ...template(s).model, drift: { reference: 'file://models/fraud-v1.reference.json' } } };
  assert.throws(() => buildDeployment(named, 1, options), /^InvalidRequestError: spec\.model\.drift\.reference: .* put the reference beside the model in its volume/);
});

test('spec.model.digest pins the model karb serve loads: --model-digest in its args; a custom server is not given it', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  const d: Any = buildDeployment(template(service({ model: { uri: 'oci://ghcr.io/acme/fraud-model:v1', digest, batching: { maxBatchSize: 16 } } })), 1, options);
  assert.deepEqual(container(d).args, ['serve', '--model', '/mnt/models/model.onnx', '--name', 'fraud', '--port', '8080', '--host', '0.0.0.0', '--max-batch-size', '16', '--max-delay-ms', '4', '--model-digest', digest]);
  const custom: Any = buildDeployment(template(service({ model: { format: 'oip', image: 'ghcr.io/acme/srv:1', command: ['srv', '--port', '$PORT'], digest } })), 1, options);
  assert.deepEqual(container(custom).command, ['srv', '--port', '8080']);
  assert.equal(container(custom).args, undefined);
});

test('a pool’s taint is tolerated unless a toleration already covers its value; an empty pool selector is refused', () => {
  const pool = PoolSpec.parse({ name: 'gpu', accelerator: 'gpu', replicasPerNode: 1, costPerHour: 1, maxNodes: 1, kubernetes: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] } });
  const withTolerations = (tolerations: unknown[]) =>
    (podSpec(buildDeployment(template(service({ model: { uri: 'pvc://models/m.onnx' }, placement: { pools: ['gpu'], tolerations } })), 1, { ...options, pools: [pool] })) as Any).tolerations.map((t: Any) => `${t.key}${t.operator === 'Exists' ? '' : `=${t.value}`}`);
  assert.deepEqual(withTolerations([{ key: 'dedicated', value: 'inference', effect: 'NoSchedule' }]), ['dedicated=inference', 'dedicated=gpu'], 'another value does not cover the pool’s');
  assert.deepEqual(withTolerations([{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }]), ['dedicated'], 'Exists covers it');
  assert.throws(() => PoolSpec.parse({ name: 'x', replicasPerNode: 1, costPerHour: 1, maxNodes: 1, kubernetes: { nodeSelector: {} } }), /must name at least one label \(an empty selector matches no node\)/);
});
