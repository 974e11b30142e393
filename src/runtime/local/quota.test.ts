import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nothingRequested, quotaFits, replicaRequests, sumRequests, validateQuotas, type ResourceRequests } from './quota.ts';

const GI = 1024 ** 3;
const asks = (r: Partial<ResourceRequests>): ResourceRequests => ({ ...nothingRequested, ...r });

test('a namespace without a quota takes any replica', () => {
  assert.deepEqual(quotaFits('web', undefined, asks({ cpuMillicores: 1_000_000 }), asks({ cpuMillicores: 1000, gpus: 8 })), { fits: true });
});

test('a replica that brings the namespace exactly to its quota fits; one more waits, the reason naming namespace, resource, quota, use, ask and fix', () => {
  const quota = { cpuCores: 2 };
  assert.deepEqual(quotaFits('risk', quota, asks({ cpuMillicores: 1000 }), asks({ cpuMillicores: 1000 })), { fits: true });
  assert.deepEqual(quotaFits('risk', quota, asks({ cpuMillicores: 2000 }), asks({ cpuMillicores: 1000 })), {
    fits: false,
    reason: 'namespace risk is at its quota: requests.cpu 2 of 2 used, this replica asks 1 (raise spec.quotas.risk.cpu in the governance file, or scale another service of risk down)',
  });
});

test('a namespace below its quota but without room enough says so, in the units the quota is written in', () => {
  assert.deepEqual(quotaFits('risk', { cpuCores: 2 }, asks({ cpuMillicores: 1500 }), asks({ cpuMillicores: 1000 })), {
    fits: false,
    reason: 'namespace risk has too little of its quota left: requests.cpu 1500m of 2 used, this replica asks 1 (raise spec.quotas.risk.cpu in the governance file, or scale another service of risk down)',
  });
  assert.deepEqual(quotaFits('risk', { memoryBytes: 2 * GI }, asks({ memoryBytes: 1.5 * GI }), asks({ memoryBytes: GI })), {
    fits: false,
    reason: 'namespace risk has too little of its quota left: requests.memory 1536Mi of 2Gi used, this replica asks 1Gi (raise spec.quotas.risk.memory in the governance file, or scale another service of risk down)',
  });
});

test('GPUs count whole, and a replica that alone asks more than the quota is told to change the quota or the service', () => {
  assert.deepEqual(quotaFits('ml', { gpus: 2 }, asks({ gpus: 2 }), asks({ gpus: 1 })), {
    fits: false,
    reason: 'namespace ml is at its quota: requests.nvidia.com/gpu 2 of 2 used, this replica asks 1 (raise spec.quotas.ml.gpus in the governance file, or scale another service of ml down)',
  });
  assert.deepEqual(quotaFits('ml', { gpus: 2 }, nothingRequested, asks({ gpus: 4 })), {
    fits: false,
    reason: "namespace ml's quota is smaller than this replica: requests.nvidia.com/gpu 2 in all, this replica alone asks 4 (raise spec.quotas.ml.gpus in the governance file to at least 4, or lower the service's spec.resources.accelerator.count)",
  });
  assert.equal(quotaFits('ml', { gpus: 0 }, nothingRequested, asks({ gpus: 1 })).fits, false, 'a quota of 0 GPUs admits no GPU replica');
});

test('the first resource that does not fit is named: CPU, then memory, then GPUs', () => {
  const quota = { cpuCores: 4, memoryBytes: 4 * GI, gpus: 1 };
  const used = asks({ cpuMillicores: 1000, memoryBytes: 4 * GI, gpus: 1 });
  const decision = quotaFits('risk', quota, used, asks({ cpuMillicores: 1000, memoryBytes: GI, gpus: 1 }));
  assert.equal(decision.fits, false);
  assert.match((decision as { reason: string }).reason, /^namespace risk is at its quota: requests\.memory 4Gi of 4Gi used, this replica asks 1Gi /);
});

test('a resource the replica does not ask for never holds it back, even where the namespace is past that quota', () => {
  assert.deepEqual(quotaFits('ml', { gpus: 1, cpuCores: 8 }, asks({ gpus: 3, cpuMillicores: 1000 }), asks({ cpuMillicores: 1000 })), { fits: true });
});

test('CPU adds up in millicores: three replicas of 100m fill a quota of 300m exactly', () => {
  const each = replicaRequests('revision risk/a-00001', { requests: { cpu: '100m' } });
  const used = sumRequests([each, each]);
  assert.deepEqual(quotaFits('risk', { cpuCores: 0.3 }, used, each), { fits: true });
  assert.equal(quotaFits('risk', { cpuCores: 0.3 }, sumRequests([each, each, each]), each).fits, false);
});

test("a replica's requests: CPU and memory as the spec writes them, GPUs the accelerator's count whatever its sharing", () => {
  assert.deepEqual(replicaRequests('revision risk/a-00001', { requests: { cpu: '500m', memory: '1Gi' } }), { cpuMillicores: 500, memoryBytes: GI, gpus: 0 });
  assert.deepEqual(replicaRequests('revision risk/a-00001', { requests: {}, limits: { cpu: '8', memory: '1Gi' } }), { cpuMillicores: 8000, memoryBytes: GI, gpus: 0 }, 'a request left out is its limit, as Kubernetes defaults it');
  assert.deepEqual(replicaRequests('revision risk/a-00001', { requests: { cpu: 2, memory: '512M' }, accelerator: { kind: 'nvidia.com/gpu', count: 2, sharing: 'none' } }), { cpuMillicores: 2000, memoryBytes: 512e6, gpus: 2 });
  for (const sharing of ['time-slice', 'mig-1g.10gb'] as const) {
    assert.equal(replicaRequests('revision ml/a-00001', { accelerator: { kind: 'nvidia.com/gpu', count: 3, sharing } }).gpus, 3, sharing);
  }
  assert.deepEqual(replicaRequests('revision risk/a-00001', { requests: {} }), nothingRequested, 'nothing asked is nothing counted');
  assert.throws(
    () => replicaRequests('revision risk/a-00001', { requests: { cpu: 'lots' } }),
    (err: Error & { code?: string }) => err.code === 'RUNTIME_INVALID_REQUESTS' && err.message === `revision risk/a-00001: resources.requests.cpu 'lots' is not a CPU quantity; write e.g. "1" or "500m"`,
  );
});

test('a quota that is not a number of 0 or more is refused, naming it', () => {
  assert.doesNotThrow(() => validateQuotas({ risk: { cpuCores: 0.5, memoryBytes: 0, gpus: 2 }, web: {} }));
  assert.throws(
    () => validateQuotas({ risk: { cpuCores: -1 } }),
    (err: Error & { code?: string }) => err.code === 'RUNTIME_INVALID_QUOTAS' && err.message === 'quotas.risk.cpuCores must be a number of 0 or more, got -1',
  );
  assert.throws(() => validateQuotas({ risk: { gpus: Number.NaN } }), /quotas\.risk\.gpus must be a number of 0 or more, got NaN/);
});
