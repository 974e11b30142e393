import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService, type InferenceService } from '../../api/index.ts';
import { PoolSpec } from '../../api/pool.ts';
import type { RevisionTemplate } from '../types.ts';
import { buildCapacityPriorityClass, buildCapacityReservation, CAPACITY_PRIORITY, CAPACITY_PRIORITY_CLASS, capacityReservationName, LABEL_CAPACITY_FOR } from './capacity-reservation.ts';
import { buildDeployment } from './deployment.ts';
import { buildInstallObjects } from './install.ts';
import { DEFAULT_CLUSTER_OPTIONS } from './options.ts';
import { restrictedContainerSecurity, restrictedPodSecurity } from './security.ts';

type Any = Record<string, any>;

const POOLS = [
  PoolSpec.parse({ name: 'onprem-a100', class: 'on-prem', replicasPerNode: 4, costPerHour: 12, minNodes: 2, maxNodes: 2, kubernetes: { nodeSelector: { 'example.com/rack': 'r7' }, taints: [{ key: 'example.com/onprem', effect: 'NoSchedule' }] } }),
  PoolSpec.parse({ name: 'cloud-a100', class: 'elastic', replicasPerNode: 1, costPerHour: 16, maxNodes: 30, kubernetes: { taints: [{ key: 'example.com/spot', value: 'true', effect: 'NoExecute' }] } }),
];
const OPTIONS = { ...DEFAULT_CLUSTER_OPTIONS, pools: POOLS };

function service(spec: Record<string, unknown>): InferenceService {
  return parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'scorer', namespace: 'ml', labels: { team: 'risk' } }, spec });
}

function template(s: InferenceService): RevisionTemplate {
  return {
    revision: 'scorer-00002',
    service: s.metadata.name,
    namespace: s.metadata.namespace,
    model: { format: 'onnx', name: s.metadata.name, uri: 'pvc://models/fraud-v1.onnx' },
    resources: s.spec.resources,
    placement: s.spec.placement,
    drainSeconds: 30,
  };
}

const GPU = { requests: { cpu: '500m', memory: '2Gi' }, limits: { cpu: '2', memory: '4Gi' }, accelerator: { count: 1 } };

function reservation(s: InferenceService, replicas = 2): Any {
  return buildCapacityReservation(
    { service: 'scorer', namespace: 'ml', pool: 'cloud-a100', replicas, resources: s.spec.resources, placement: s.spec.placement, userLabels: s.metadata.labels },
    OPTIONS,
  );
}

test('the PriorityClass: below every pod that names none, never preempting, not the default, saying what it is for', () => {
  const pc: Any = buildCapacityPriorityClass();
  assert.equal(pc.apiVersion, 'scheduling.k8s.io/v1');
  assert.equal(pc.metadata.name, CAPACITY_PRIORITY_CLASS);
  assert.equal(pc.metadata.name, 'karb-capacity-reservation');
  assert.equal(pc.value, CAPACITY_PRIORITY);
  assert.ok(pc.value < 0, 'a pod with no PriorityClass (priority 0) preempts it');
  assert.equal(pc.preemptionPolicy, 'Never');
  assert.equal(pc.globalDefault, false);
  assert.match(pc.description, /placeholder pods .*\(GASCL\).* Any pod of priority 0 or more preempts them; they never preempt anything/);
  assert.equal(pc.metadata.namespace, undefined, 'cluster-scoped');
  const installed = buildInstallObjects({ systemNamespace: 'karb-system', image: DEFAULT_CLUSTER_OPTIONS.image }).find((o) => o.kind === 'PriorityClass');
  assert.deepEqual(installed, pc, 'karb install renders it');
});

test('a reservation is a Deployment of placeholders that request what one replica requests, where a replica would go, at the low PriorityClass', () => {
  const s = service({ model: { uri: 'pvc://models/fraud-v1.onnx' }, resources: GPU, placement: { pools: ['cloud-a100'], nodeSelector: { 'topology.kubernetes.io/zone': 'eu-1a' } } });
  const d = reservation(s);
  const replica: Any = buildDeployment(template(s), 3, OPTIONS);
  const pod = d.spec.template.spec;
  const replicaPod = replica.spec.template.spec;
  assert.equal(d.metadata.name, capacityReservationName('scorer'));
  assert.equal(d.metadata.name, 'scorer-capacity');
  assert.equal(d.metadata.namespace, 'ml');
  assert.equal(d.spec.replicas, 2, 'one placeholder per replica slot held');
  assert.deepEqual(d.spec.selector, { matchLabels: { [LABEL_CAPACITY_FOR]: 'scorer' } });
  const labels = { team: 'risk', 'app.kubernetes.io/name': 'scorer', 'app.kubernetes.io/component': 'capacity-reservation', 'app.kubernetes.io/managed-by': 'karb', 'karb.dev/capacity-for': 'scorer' };
  assert.deepEqual(d.metadata.labels, labels);
  assert.deepEqual(d.spec.template.metadata.labels, labels);
  assert.ok(!('karb.dev/service' in labels) && !('karb.dev/revision' in labels), 'not the service’s replicas: no Service, PDB or revision selects them');
  assert.deepEqual(d.spec.strategy, { type: 'Recreate' });
  assert.match(d.metadata.annotations['karb.dev/description'], /^placeholder pods holding room on pool cloud-a100 for replicas of scorer/);

  // Where a replica would go, asking what a replica asks.
  assert.deepEqual(pod.containers[0].resources, replicaPod.containers[0].resources);
  assert.deepEqual(pod.containers[0].resources, { requests: { cpu: '500m', memory: '2Gi', 'nvidia.com/gpu': '1' }, limits: { cpu: '2', memory: '4Gi', 'nvidia.com/gpu': '1' } });
  assert.deepEqual(pod.affinity, replicaPod.affinity);
  assert.deepEqual(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, [{ matchExpressions: [{ key: 'karb.dev/pool', operator: 'In', values: ['cloud-a100'] }] }]);
  assert.deepEqual(pod.tolerations, replicaPod.tolerations);
  assert.deepEqual(pod.tolerations, [
    { key: 'example.com/spot', operator: 'Equal', value: 'true', effect: 'NoExecute' },
    { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
  ]);
  assert.deepEqual(pod.nodeSelector, { 'topology.kubernetes.io/zone': 'eu-1a' });

  // Low priority, nothing to finish, karb's own image doing nothing, restricted.
  assert.equal(pod.priorityClassName, 'karb-capacity-reservation');
  assert.equal(pod.priority, undefined, 'the API server fills priority from the class');
  assert.equal(pod.terminationGracePeriodSeconds, 0);
  assert.equal(pod.containers.length, 1);
  assert.equal(pod.containers[0].image, DEFAULT_CLUSTER_OPTIONS.image);
  assert.deepEqual(pod.containers[0].args, ['reserve']);
  assert.equal(pod.containers[0].command, undefined, 'the image’s entrypoint: karb');
  assert.equal(pod.containers[0].ports, undefined, 'it listens on nothing');
  assert.deepEqual(pod.securityContext, restrictedPodSecurity());
  assert.deepEqual(pod.containers[0].securityContext, restrictedContainerSecurity());
  assert.equal(pod.serviceAccountName, 'scorer');
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.enableServiceLinks, false);
  assert.equal(pod.volumes, undefined);
  assert.equal(pod.initContainers, undefined, 'no model to fetch');
});

test('a placeholder waits behind no scheduling gate, even where the service’s replicas do; a CPU service’s placeholders ask for no accelerator', () => {
  const gated = service({ model: { uri: 'pvc://models/fraud-v1.onnx' }, resources: GPU, placement: { pools: ['onprem-a100', 'cloud-a100'] } });
  assert.deepEqual((buildDeployment(template(gated), 1, OPTIONS) as Any).spec.template.spec.schedulingGates, [{ name: 'karb.dev/placement' }]);
  assert.equal(reservation(gated).spec.template.spec.schedulingGates, undefined);

  const cpu = service({ model: { uri: 'pvc://models/fraud-v1.onnx' }, resources: { requests: { cpu: '250m', memory: '256Mi' } } });
  const pod = reservation(cpu, 1).spec.template.spec;
  assert.deepEqual(pod.containers[0].resources, { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '2Gi' } });
  assert.equal(pod.tolerations, undefined);
  assert.equal(pod.affinity, undefined);
});
