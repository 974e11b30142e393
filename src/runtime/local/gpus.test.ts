import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { RevisionTemplate } from '../types.ts';
import { LocalRuntime } from './local-runtime.ts';
import { mergeInventory, parseGpuQuery, type GpuInventory } from './gpu-inventory.ts';
import { fixtureResources, fixtureTemplate, reasons, recordEvents, scratch, waitFor } from './testdata/helpers.ts';

// The local runtime with GPUs: discovery is given the documented nvidia-smi output of a 2-GPU
// machine (testdata/nvidia-smi/, the stand-in for GPUs this machine lacks); the replicas are real
// processes, and what they were given is read back from their /proc/<pid>/environ.

const fast = { probe: { readyIntervalMs: 100 }, restartBackoff: { initialMs: 50, maxMs: 400 } };
const twoGpus: GpuInventory = mergeInventory(parseGpuQuery(readFileSync(new URL('./testdata/nvidia-smi/two-gpus.query.csv', import.meta.url), 'utf8')), []);
const [GPU0, GPU1] = twoGpus.gpus.map((g) => g.uuid) as [string, string];

function gpuTemplate(revision: string, count = 1): RevisionTemplate {
  return fixtureTemplate(revision, [], { resources: { ...fixtureResources, accelerator: { kind: 'nvidia.com/gpu', count, sharing: 'none' } } });
}

/** The CUDA_VISIBLE_DEVICES a process was started with (undefined when unset). */
function visibleDevices(pid: number): string | undefined {
  const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  return env.find((e) => e.startsWith('CUDA_VISIBLE_DEVICES='))?.slice('CUDA_VISIBLE_DEVICES='.length);
}

test('replicas get different GPUs in their environment; one that does not fit waits Pending and starts when a GPU frees', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast, discoverGpus: async () => twoGpus }));
  const events = recordEvents(runtime);

  await runtime.ensureRevision(gpuTemplate('a-00001'), 1);
  await runtime.ensureRevision(gpuTemplate('b-00001'), 1);
  await runtime.ensureRevision(fixtureTemplate('cpu-00001'), 1);
  await waitFor('3 ready replicas', () => runtime.endpoints().length === 3);
  const [a] = runtime.replicas({ revision: 'a-00001' });
  const [b] = runtime.replicas({ revision: 'b-00001' });
  const [cpu] = runtime.replicas({ revision: 'cpu-00001' });
  assert.deepEqual([a!.devices, b!.devices, cpu!.devices], [[GPU0], [GPU1], undefined]);
  assert.equal(visibleDevices(a!.pid!), GPU0);
  assert.equal(visibleDevices(b!.pid!), GPU1);
  assert.equal(visibleDevices(cpu!.pid!), '', 'a replica that asked for no GPU sees none');
  assert.match(reasons(events, 'ReplicaStarted').find((e) => e.replica === a!.name)!.message, new RegExp(`with CUDA_VISIBLE_DEVICES=${GPU0}$`));

  await runtime.ensureRevision(gpuTemplate('c-00001'), 1);
  const [c] = runtime.replicas({ revision: 'c-00001' });
  assert.equal(c!.phase, 'Pending');
  assert.equal(c!.pid, undefined, 'nothing of it runs');
  assert.equal(c!.message, `waiting for 1 nvidia.com/gpu: 2 on this machine, both in use by ${a!.name}, ${b!.name}`);
  assert.deepEqual(reasons(events, 'ReplicaPending').map((e) => [e.type, e.message]), [['Warning', `${c!.name}: not started: ${c!.message}`]]);
  await runtime.ensureRevision(gpuTemplate('c-00001'), 1);
  assert.equal(runtime.replicas({ revision: 'c-00001' }).length, 1, 'a pending replica counts: no second one is made');
  assert.equal(reasons(events, 'ReplicaPending').length, 1, 'the same reason is not repeated');

  await runtime.removeRevision('default', 'a-00001');
  await runtime.settled();
  const started = await waitFor('c ready on the freed GPU', () => runtime.replicas({ revision: 'c-00001' }).find((r) => r.phase === 'Ready'));
  assert.deepEqual(started.devices, [GPU0]);
  assert.equal(visibleDevices(started.pid!), GPU0);
  assert.deepEqual(runtime.gpus().holdings.map((h) => [h.replica, h.devices]).sort(), [[b!.name, [GPU1]], [c!.name, [GPU0]]].sort());
});

test("an adopted replica keeps its GPU: the next karb's new replicas get the others", async (t) => {
  const { dir, track } = scratch(t);
  const discoverGpus = async () => twoGpus;
  const first = track(new LocalRuntime({ stateDir: dir, ...fast, discoverGpus }));
  await first.ensureRevision(gpuTemplate('a-00001'), 1);
  const held = await waitFor('a ready', () => first.replicas().find((r) => r.phase === 'Ready'));
  await first.close({ leaveRunning: true });

  const second = track(new LocalRuntime({ stateDir: dir, ...fast, discoverGpus }));
  await second.recover();
  assert.deepEqual(second.replicas().map((r) => [r.name, r.adopted, r.devices]), [[held.name, true, [GPU0]]]);
  await second.ensureRevision(gpuTemplate('b-00001'), 1);
  await second.ensureRevision(gpuTemplate('c-00001'), 1);
  assert.deepEqual(second.replicas({ revision: 'b-00001' })[0]!.devices, [GPU1]);
  const [c] = second.replicas({ revision: 'c-00001' });
  assert.equal(c!.phase, 'Pending');
  assert.match(c!.message!, new RegExp(`both in use by ${held.name}, `));
});

test('on a machine without GPUs a replica that asks for one waits with the reason, and starts once a refresh finds one', async (t) => {
  const { dir, track } = scratch(t);
  let inventory: GpuInventory = { gpus: [], problem: 'nvidia-smi is not installed (not found on PATH)' };
  const logs: Array<Record<string, unknown>> = [];
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast, discoverGpus: async () => inventory, log: (r) => logs.push(r) }));
  await runtime.ensureRevision(gpuTemplate('a-00001'), 1);
  const [a] = runtime.replicas();
  assert.equal(a!.phase, 'Pending');
  assert.equal(a!.message, 'this machine has no nvidia.com/gpu (nvidia-smi is not installed (not found on PATH)); the service asks for 1 — run it where a GPU is, or remove spec.resources.accelerator');
  assert.deepEqual(logs.filter((l) => String(l.msg).startsWith('no GPUs')).map((l) => l.gpus), ['no GPU (nvidia-smi is not installed (not found on PATH))']);

  await runtime.refreshGpus();
  assert.equal(logs.filter((l) => String(l.msg).startsWith('no GPUs')).length, 1, 'the same finding is logged once');
  inventory = twoGpus;
  await runtime.refreshGpus();
  const ready = await waitFor('a ready on GPU 0', () => runtime.replicas().find((r) => r.phase === 'Ready'));
  assert.deepEqual(ready.devices, [GPU0]);
});

test('time-sliced replicas share a GPU up to gpuTimeSlices; the next waits naming the setting', async (t) => {
  const { dir, track } = scratch(t);
  const oneGpu: GpuInventory = { gpus: [twoGpus.gpus[0]!] };
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast, gpuTimeSlices: 2, discoverGpus: async () => oneGpu }));
  const shared = (revision: string) => fixtureTemplate(revision, [], { resources: { ...fixtureResources, accelerator: { kind: 'nvidia.com/gpu', count: 1, sharing: 'time-slice' } } });
  await runtime.ensureRevision(shared('s-00001'), 3);
  await waitFor('2 ready replicas', () => runtime.endpoints().length === 2);
  const replicas = runtime.replicas();
  const running = replicas.filter((r) => r.phase === 'Ready');
  for (const r of running) assert.equal(visibleDevices(r.pid!), GPU0);
  const waiting = replicas.filter((r) => r.phase === 'Pending');
  assert.equal(waiting.length, 1);
  assert.match(waiting[0]!.message!, /^waiting for a time-sliced share of 1 nvidia\.com\/gpu: 1 on this machine, it is full \(each held whole or shared by 2 replicas, karb up --gpu-time-slices 2\), in use by /);

  await runtime.ensureRevision(shared('s-00001'), 2);
  await runtime.settled();
  assert.deepEqual(runtime.replicas().map((r) => r.phase).sort(), ['Ready', 'Ready'], 'scaling down stops the pending replica first');
});

test('a time-slice setting below 1 is refused with a stable code', (t) => {
  const { dir } = scratch(t);
  assert.throws(() => new LocalRuntime({ stateDir: dir, gpuTimeSlices: 0, discoverGpus: async () => twoGpus }), (err: Error & { code?: string }) => err.code === 'RUNTIME_INVALID_GPU_TIME_SLICES' && /gpuTimeSlices must be a whole number of 1 or more/.test(err.message));
});
