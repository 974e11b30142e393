import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { LocalRuntime } from './local-runtime.ts';
import { mergeInventory, parseGpuQuery } from './gpu-inventory.ts';
import { fixtureResources, fixtureTemplate, reasons, recordEvents, scratch, waitFor } from './testdata/helpers.ts';

// The local runtime with team quotas (the governance file's spec.quotas, in numbers): real
// replica processes from testdata/, each requesting 1 CPU and 1Gi (fixtureResources).

const fast = { probe: { readyIntervalMs: 100 }, restartBackoff: { initialMs: 50, maxMs: 400 } };
const atQuota = (namespace: string) =>
  `namespace ${namespace} is at its quota: requests.cpu 1 of 1 used, this replica asks 1 (raise spec.quotas.${namespace}.cpu in the governance file, or scale another service of ${namespace} down)`;

test('a second replica of a namespace at its CPU quota waits Pending with the reason and starts when the first is removed; other namespaces go on', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast, quotas: { default: { cpuCores: 1 }, risk: { cpuCores: 2 } } }));
  const events = recordEvents(runtime);

  await runtime.ensureRevision(fixtureTemplate('a-00001'), 1);
  await runtime.ensureRevision(fixtureTemplate('b-00001'), 1);
  const [a] = runtime.replicas({ revision: 'a-00001' });
  const [b] = runtime.replicas({ revision: 'b-00001' });
  assert.notEqual(a!.phase, 'Pending', 'the first fits');
  assert.equal(b!.phase, 'Pending');
  assert.equal(b!.pid, undefined, 'nothing of it runs');
  assert.equal(b!.message, atQuota('default'));
  assert.deepEqual(reasons(events, 'ReplicaPending').map((e) => [e.replica, e.message]), [[b!.name, `${b!.name}: not started: ${atQuota('default')}`]]);

  // Another namespace counts only its own replicas: one with room in its quota, one without a quota.
  await runtime.ensureRevision(fixtureTemplate('c-00001', [], { namespace: 'risk' }), 2);
  await runtime.ensureRevision(fixtureTemplate('d-00001', [], { namespace: 'web' }), 1);
  await waitFor('a, both of c and d ready', () => runtime.endpoints().length === 4);
  await runtime.ensureRevision(fixtureTemplate('c-00001', [], { namespace: 'risk' }), 3);
  const third = runtime.replicas({ namespace: 'risk' }).find((r) => r.phase === 'Pending');
  assert.match(third!.message!, /^namespace risk is at its quota: requests\.cpu 2 of 2 used, this replica asks 1 /);
  assert.equal(runtime.replicas({ revision: 'b-00001' })[0]!.message, atQuota('default'), 'still waiting while a runs');

  await runtime.removeRevision('default', 'a-00001');
  await runtime.settled();
  const started = await waitFor('b ready in the room a left', () => runtime.replicas({ revision: 'b-00001' }).find((r) => r.phase === 'Ready'));
  assert.equal(started.name, b!.name, 'the pending replica itself started');
  assert.equal(runtime.replicas({ namespace: 'risk' }).filter((r) => r.phase === 'Pending').length, 1, "another namespace's stop frees nothing of risk's quota");
});

test("an adopted replica counts against its namespace's quota", async (t) => {
  const { dir, track } = scratch(t);
  const quotas = { default: { cpuCores: 1 } };
  const first = track(new LocalRuntime({ stateDir: dir, ...fast, quotas }));
  await first.ensureRevision(fixtureTemplate('a-00001'), 1);
  const held = await waitFor('a ready', () => first.replicas().find((r) => r.phase === 'Ready'));
  await first.close({ leaveRunning: true });

  const second = track(new LocalRuntime({ stateDir: dir, ...fast, quotas }));
  await second.recover();
  assert.deepEqual(second.replicas().map((r) => [r.name, r.adopted]), [[held.name, true]]);
  await second.ensureRevision(fixtureTemplate('b-00001'), 1);
  const [b] = second.replicas({ revision: 'b-00001' });
  assert.equal(b!.phase, 'Pending');
  assert.equal(b!.message, atQuota('default'));
});

test('a replica past its GPU quota waits with the quota as the reason and takes no GPU, though one is free', async (t) => {
  const { dir, track } = scratch(t);
  const twoGpus = mergeInventory(parseGpuQuery(readFileSync(new URL('./testdata/nvidia-smi/two-gpus.query.csv', import.meta.url), 'utf8')), []);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast, discoverGpus: async () => twoGpus, quotas: { ml: { gpus: 1 } } }));
  const gpu = (revision: string) => fixtureTemplate(revision, [], { namespace: 'ml', resources: { ...fixtureResources, accelerator: { kind: 'nvidia.com/gpu', count: 1, sharing: 'time-slice' } } });
  await runtime.ensureRevision(gpu('a-00001'), 1);
  await runtime.ensureRevision(gpu('b-00001'), 1);
  const [a] = runtime.replicas({ revision: 'a-00001' });
  const [b] = runtime.replicas({ revision: 'b-00001' });
  assert.equal(b!.phase, 'Pending');
  assert.equal(b!.message, 'namespace ml is at its quota: requests.nvidia.com/gpu 1 of 1 used, this replica asks 1 (raise spec.quotas.ml.gpus in the governance file, or scale another service of ml down)');
  assert.deepEqual(runtime.gpus().holdings.map((h) => h.replica), [a!.name], 'only the replica that started holds a GPU');
});
