/**
 * GPU discovery and assignment on a machine that has GPUs — what karb's tests can only do with a
 * stand-in nvidia-smi. Prepared for the project's GPU machine; it needs nothing but node_modules
 * and the NVIDIA driver's nvidia-smi. Run from the repository root:
 *
 *   node bench/gpu-discovery.ts [--time-slices 4] [--json]
 *
 * 1. Discovery: the raw answers of the two nvidia-smi commands karb up runs, and what
 *    src/runtime/local/gpu-inventory.ts made of them. Expect every GPU of `nvidia-smi -L`, with
 *    its UUID, name, memory and MIG mode (and, with MIG on, every MIG instance and its profile).
 * 2. Allocation (src/runtime/local/gpu-allocator.ts, no processes): replicas asking for one whole
 *    GPU until one waits; replicas asking for a time-sliced share until one waits; one replica per
 *    MIG profile found until each profile's instances run out. Each line says what it got or why
 *    it waits. Expect as many whole GPUs as there are GPUs without MIG, `--time-slices` shares per
 *    such GPU, one instance per MIG instance.
 * 3. The runtime: a LocalRuntime (a temporary state directory) runs a replica asking for 1
 *    nvidia.com/gpu — a tiny Node server, no CUDA needed — and one asking for none; each
 *    replica's CUDA_VISIBLE_DEVICES is read from /proc/<pid>/environ, and nvidia-smi is asked to
 *    resolve the assigned UUID (`nvidia-smi -i <uuid>`), proving it names a real device. Expect
 *    the GPU replica's UUID to resolve to a GPU index and the other replica's variable empty.
 *
 * Output: a readable report on stdout (JSON with --json); also written to $OUT/gpu-discovery.json
 * when OUT is set.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalRuntime } from '../src/runtime/local/local-runtime.ts';
import { GpuAllocator, type AcceleratorRequest } from '../src/runtime/local/gpu-allocator.ts';
import { describeInventory, discoverGpus, GPU_LIST_ARGS, GPU_QUERY_ARGS, runNvidiaSmi, type GpuInventory } from '../src/runtime/local/gpu-inventory.ts';
import type { RevisionTemplate } from '../src/runtime/types.ts';
import { waitFor } from '../src/util/wait-for.ts';

const { values } = parseArgs({ options: { 'time-slices': { type: 'string', default: '4' }, json: { type: 'boolean', default: false } } });
const timeSlices = Number(values['time-slices']);
if (!Number.isInteger(timeSlices) || timeSlices < 1) throw new Error(`--time-slices must be a whole number of 1 or more, got ${values['time-slices']}`);

const SERVER = `require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')`;
const lines: string[] = [];
const say = (line: string) => {
  lines.push(line);
  if (!values.json) process.stdout.write(`${line}\n`);
};

// 1. Discovery.
const raw = { query: await runNvidiaSmi(GPU_QUERY_ARGS), list: await runNvidiaSmi(GPU_LIST_ARGS) };
say(`nvidia-smi ${GPU_QUERY_ARGS.join(' ')}:\n${raw.query.ok ? raw.query.stdout.trimEnd() : `(failed) ${raw.query.problem}`}`);
say(`nvidia-smi ${GPU_LIST_ARGS.join(' ')}:\n${raw.list.ok ? raw.list.stdout.trimEnd() : `(failed) ${raw.list.problem}`}`);
const inventory: GpuInventory = await discoverGpus();
say(`discovered: ${describeInventory(inventory)}`);

// 2. Allocation over what was found.
function fill(label: string, request: AcceleratorRequest, max: number): Array<{ replica: string; devices?: string[]; waits?: string }> {
  const allocator = new GpuAllocator({ timeSlices });
  allocator.inventory = inventory;
  const out: Array<{ replica: string; devices?: string[]; waits?: string }> = [];
  for (let i = 1; i <= max; i++) {
    const replica = `${label}-${i}`;
    const p = allocator.assign(replica, request);
    out.push(p.fits ? { replica, devices: p.devices } : { replica, waits: p.reason });
    say(`  ${replica}: ${p.fits ? `CUDA_VISIBLE_DEVICES=${p.devices.join(',')}` : `waits — ${p.reason}`}`);
    if (!p.fits) break;
  }
  return out;
}
const gpu = (sharing: string): AcceleratorRequest => ({ kind: 'nvidia.com/gpu', count: 1, sharing });
const cap = inventory.gpus.length * timeSlices + 2;
say('allocation, whole GPUs:');
const whole = fill('whole', gpu('none'), cap);
say(`allocation, time-slice (--gpu-time-slices ${timeSlices}):`);
const sliced = fill('slice', gpu('time-slice'), cap);
const profiles = [...new Set(inventory.gpus.flatMap((g) => g.instances.map((i) => i.profile)))];
const mig: Record<string, unknown> = {};
for (const profile of profiles) {
  say(`allocation, MIG ${profile}:`);
  mig[profile] = fill(`mig-${profile}`, gpu(`mig-${profile}`), cap);
}

// 3. The runtime, with real processes.
const stateDir = mkdtempSync(join(tmpdir(), 'karb-gpu-discovery-'));
const runtime = new LocalRuntime({ stateDir, modelsRoot: stateDir, log: (r) => process.stderr.write(`${JSON.stringify(r)}\n`) });
const template = (revision: string, accelerator?: RevisionTemplate['resources']['accelerator']): RevisionTemplate => ({
  revision,
  service: revision.replace(/-\d+$/, ''),
  namespace: 'default',
  model: { format: 'oip', name: 'probe', command: [process.execPath, '-e', SERVER], readinessPath: '/' },
  resources: { requests: {}, limits: {}, ...(accelerator ? { accelerator } : {}) },
});
const envOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('CUDA_VISIBLE_DEVICES='))?.slice('CUDA_VISIBLE_DEVICES='.length);
const replicas: Record<string, unknown> = {};
try {
  await runtime.ensureRevision(template('gpu-00001', { kind: 'nvidia.com/gpu', count: 1, sharing: 'none' }), 1);
  await runtime.ensureRevision(template('cpu-00001'), 1);
  await waitFor('the CPU replica ready', () => runtime.replicas({ revision: 'cpu-00001' }).some((r) => r.phase === 'Ready'), 30_000);
  const gpuReplica = await waitFor('the GPU replica ready or pending', () => runtime.replicas({ revision: 'gpu-00001' }).find((r) => r.phase === 'Ready' || r.phase === 'Pending'), 30_000);
  const cpuReplica = runtime.replicas({ revision: 'cpu-00001' })[0]!;
  const cpuVisible = envOf(cpuReplica.pid!);
  say(`runtime: replica without accelerator ${cpuReplica.name}: CUDA_VISIBLE_DEVICES=${JSON.stringify(cpuVisible)}`);
  replicas.cpu = { name: cpuReplica.name, cudaVisibleDevices: cpuVisible };
  if (gpuReplica.phase === 'Pending') {
    say(`runtime: GPU replica ${gpuReplica.name} is Pending: ${gpuReplica.message}`);
    replicas.gpu = { name: gpuReplica.name, pending: gpuReplica.message };
  } else {
    const visible = envOf(gpuReplica.pid!) ?? '';
    const resolved = await runNvidiaSmi(['--query-gpu=index,uuid,name', '--format=csv,noheader', '-i', visible]);
    say(`runtime: GPU replica ${gpuReplica.name}: CUDA_VISIBLE_DEVICES=${visible}; nvidia-smi -i ${visible}: ${resolved.ok ? resolved.stdout.trim() : resolved.problem}`);
    replicas.gpu = { name: gpuReplica.name, cudaVisibleDevices: visible, devices: gpuReplica.devices, resolves: resolved.ok ? resolved.stdout.trim() : resolved.problem };
  }
} finally {
  await runtime.close();
  rmSync(stateDir, { recursive: true, force: true });
}

const report = { timeSlices, raw, inventory, allocation: { whole, timeSlice: sliced, mig }, runtime: replicas };
if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
if (process.env.OUT) writeFileSync(join(process.env.OUT, 'gpu-discovery.json'), `${JSON.stringify(report, null, 2)}\n`);
