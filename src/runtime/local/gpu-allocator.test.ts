import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GpuAllocator, place, type AcceleratorRequest, type GpuPlacement } from './gpu-allocator.ts';
import { mergeInventory, parseGpuList, parseGpuQuery, type GpuInventory } from './gpu-inventory.ts';

const sample = (name: string) => readFileSync(new URL(`./testdata/nvidia-smi/${name}`, import.meta.url), 'utf8');
/** Two H100s without MIG (testdata/nvidia-smi/two-gpus.*). */
const twoGpus: GpuInventory = mergeInventory(parseGpuQuery(sample('two-gpus.query.csv')), []);
/** Two A100s: GPU 0 in MIG mode (3g.40gb, 2g.20gb, 1g.10gb ×2), GPU 1 whole (testdata/nvidia-smi/mig-a100.*). */
const migA100: GpuInventory = mergeInventory(parseGpuQuery(sample('mig-a100.query.csv')), parseGpuList(sample('mig-a100.list.txt')));
const [GPU0, GPU1] = twoGpus.gpus.map((g) => g.uuid) as [string, string];
const A100_WHOLE = migA100.gpus[1]!.uuid;
const [MIG_3G, , MIG_1G_A, MIG_1G_B] = migA100.gpus[0]!.instances.map((i) => i.uuid) as [string, string, string, string];

const gpu = (count = 1, sharing = 'none'): AcceleratorRequest => ({ kind: 'nvidia.com/gpu', count, sharing });

function fits(p: GpuPlacement): string[] {
  assert.ok(p.fits, `expected a fit, got: ${p.fits ? '' : p.reason}`);
  return p.devices;
}
function waits(p: GpuPlacement): { never: boolean; reason: string } {
  assert.ok(!p.fits, `expected no fit, got ${p.fits ? p.devices.join(',') : ''}`);
  return { never: p.never, reason: p.reason };
}

describe('whole GPUs', () => {
  it('gives each replica free GPUs, lowest index first, and a third waits naming who holds them', () => {
    const a = new GpuAllocator({ timeSlices: 4 });
    a.inventory = twoGpus;
    assert.deepEqual(fits(a.assign('fraud-00001-a', gpu())), [GPU0]);
    assert.deepEqual(fits(a.assign('fraud-00001-b', gpu())), [GPU1]);
    assert.deepEqual(waits(a.assign('fraud-00001-c', gpu())), { never: false, reason: 'waiting for 1 nvidia.com/gpu: 2 on this machine, both in use by fraud-00001-a, fraud-00001-b' });
    assert.deepEqual(a.holdings().map((h) => h.replica), ['fraud-00001-a', 'fraud-00001-b'], 'a replica that waits holds nothing');
  });

  it('frees a replica’s GPUs on release, and the waiting one gets them', () => {
    const a = new GpuAllocator({ timeSlices: 4 });
    a.inventory = twoGpus;
    fits(a.assign('a', gpu()));
    fits(a.assign('b', gpu()));
    waits(a.assign('c', gpu()));
    assert.equal(a.release('a'), true);
    assert.equal(a.release('a'), false, 'released once');
    assert.deepEqual(fits(a.assign('c', gpu())), [GPU0]);
  });

  it('gives count GPUs together, or waits for all of them: one free is not enough for two', () => {
    const a = new GpuAllocator({ timeSlices: 4 });
    a.inventory = twoGpus;
    assert.deepEqual(fits(a.assign('both', gpu(2))), [GPU0, GPU1]);
    a.release('both');
    fits(a.assign('one', gpu(1)));
    assert.deepEqual(waits(a.assign('pair', gpu(2))), { never: false, reason: 'waiting for 2 nvidia.com/gpu: 2 on this machine, 1 free, the others in use by one' });
  });

  it('never fits more GPUs than the machine has, and says how to fix the spec', () => {
    assert.deepEqual(waits(place(twoGpus, [], gpu(3), { timeSlices: 4 })), {
      never: true,
      reason: 'this machine has 2 nvidia.com/gpu; the service asks for 3 per replica — lower spec.resources.accelerator.count to 2, or run it where more GPUs are',
    });
  });

  it('never gives a GPU in MIG mode whole', () => {
    assert.deepEqual(place(migA100, [], gpu(), { timeSlices: 4 }), { fits: true, mode: 'whole', devices: [A100_WHOLE] });
    assert.deepEqual(waits(place(migA100, [{ replica: 'x', mode: 'whole', devices: [A100_WHOLE] }], gpu(), { timeSlices: 4 })).reason, 'waiting for 1 nvidia.com/gpu: 1 on this machine, it is in use by x');
    assert.match(waits(place(migA100, [], gpu(2), { timeSlices: 4 })).reason, /^this machine has 1 nvidia\.com\/gpu without MIG \(1 more in MIG mode\); the service asks for 2 per replica/);
    const allMig: GpuInventory = { gpus: [migA100.gpus[0]!] };
    assert.deepEqual(waits(place(allMig, [], gpu(), { timeSlices: 4 })), {
      never: true,
      reason: "this machine's 1 nvidia.com/gpu is in MIG mode, so none can be given whole; ask for a MIG instance instead (sharing: mig-<profile>; here: 3g.40gb ×1, 2g.20gb ×1, 1g.10gb ×2), or turn MIG off (nvidia-smi -i 0 -mig 0)",
    });
  });
});

describe('time-slicing', () => {
  it('lets up to timeSlices replicas share a GPU, filling the shared one before another, then waits', () => {
    const a = new GpuAllocator({ timeSlices: 2 });
    a.inventory = twoGpus;
    const ts = gpu(1, 'time-slice');
    assert.deepEqual(fits(a.assign('s1', ts)), [GPU0]);
    assert.deepEqual(fits(a.assign('s2', ts)), [GPU0], 'packed onto the shared GPU, GPU 1 stays whole');
    assert.deepEqual(fits(a.assign('w', gpu())), [GPU1], 'a whole request takes the GPU nobody shares');
    assert.deepEqual(waits(a.assign('s3', ts)), {
      never: false,
      reason: 'waiting for a time-sliced share of 1 nvidia.com/gpu: 2 on this machine, both full (each held whole or shared by 2 replicas, karb up --gpu-time-slices 2), in use by s1, s2, w',
    });
    a.release('w');
    assert.deepEqual(fits(a.assign('s3', ts)), [GPU1]);
    assert.deepEqual(waits(a.assign('w2', gpu())).reason, 'waiting for 1 nvidia.com/gpu: 2 on this machine, both in use by s1, s2, s3', 'a shared GPU is not free to take whole');
    a.release('s1');
    assert.deepEqual(fits(a.assign('s4', ts)), [GPU0]);
  });

  it('with one slice, time-sliced replicas have a GPU each', () => {
    const holdings = [{ replica: 's1', mode: 'time-slice' as const, devices: [GPU0] }];
    assert.deepEqual(fits(place(twoGpus, holdings, gpu(1, 'time-slice'), { timeSlices: 1 })), [GPU1]);
  });
});

describe('MIG', () => {
  it('gives a free instance of exactly the profile asked for, by its MIG UUID', () => {
    const a = new GpuAllocator({ timeSlices: 4 });
    a.inventory = migA100;
    assert.deepEqual(fits(a.assign('m1', gpu(1, 'mig-1g.10gb'))), [MIG_1G_A]);
    assert.deepEqual(fits(a.assign('m2', gpu(1, 'mig-1g.10gb'))), [MIG_1G_B]);
    assert.deepEqual(waits(a.assign('m3', gpu(1, 'mig-1g.10gb'))), { never: false, reason: 'waiting for 1 MIG 1g.10gb instance of nvidia.com/gpu: 2 on this machine, both in use by m1, m2' });
    assert.deepEqual(fits(a.assign('big', gpu(1, 'mig-3g.40gb'))), [MIG_3G], 'other profiles are still free');
    assert.deepEqual(fits(a.assign('whole', gpu())), [A100_WHOLE], 'MIG instances leave the GPU without MIG free');
    a.release('m2');
    assert.deepEqual(fits(a.assign('m3', gpu(1, 'mig-1g.10gb'))), [MIG_1G_B]);
  });

  it('never fits a profile the machine has no instance of, naming the profiles it has', () => {
    assert.deepEqual(waits(place(twoGpus, [], gpu(1, 'mig-1g.10gb'), { timeSlices: 4 })), {
      never: true,
      reason: 'this machine has no MIG 1g.10gb instance of nvidia.com/gpu (no GPU here is in MIG mode); ask for a profile it has, or create 1g.10gb instances (nvidia-smi mig -cgi 1g.10gb -C)',
    });
    const without1g: GpuInventory = { gpus: [{ ...migA100.gpus[0]!, instances: migA100.gpus[0]!.instances.filter((i) => i.profile !== '1g.10gb') }] };
    assert.match(waits(place(without1g, [], gpu(1, 'mig-1g.10gb'), { timeSlices: 4 })).reason, /\(its MIG instances: 3g\.40gb ×1, 2g\.20gb ×1\)/);
    assert.match(waits(place(migA100, [], gpu(3, 'mig-1g.10gb'), { timeSlices: 4 })).reason, /^this machine has 2 MIG 1g\.10gb instances; the service asks for 3 per replica/);
  });
});

describe('a machine that can never hold the request', () => {
  it('says there is no GPU, why, and what to change', () => {
    const none: GpuInventory = { gpus: [], problem: 'nvidia-smi is not installed (not found on PATH)' };
    assert.deepEqual(waits(place(none, [], gpu(), { timeSlices: 4 })), {
      never: true,
      reason: 'this machine has no nvidia.com/gpu (nvidia-smi is not installed (not found on PATH)); the service asks for 1 — run it where a GPU is, or remove spec.resources.accelerator',
    });
    assert.equal(waits(place({ gpus: [] }, [], gpu(), { timeSlices: 4 })).reason, 'this machine has no nvidia.com/gpu (nvidia-smi found none); the service asks for 1 — run it where a GPU is, or remove spec.resources.accelerator');
  });

  it('finds no accelerator kind but nvidia.com/gpu', () => {
    assert.deepEqual(waits(place(twoGpus, [], { kind: 'amd.com/gpu', count: 1, sharing: 'none' }, { timeSlices: 4 })), {
      never: true,
      reason: 'this machine has no amd.com/gpu: karb up finds only nvidia.com/gpu (through nvidia-smi); the service asks for 1 — ask for kind: nvidia.com/gpu, or run it on Kubernetes where nodes have amd.com/gpu',
    });
  });
});

describe('GpuAllocator', () => {
  it('counts what an adopted replica holds, and re-placing a replica ignores its own holding', () => {
    const a = new GpuAllocator({ timeSlices: 4 });
    a.inventory = twoGpus;
    a.hold('adopted', 'whole', [GPU1]);
    assert.deepEqual(fits(a.assign('new', gpu())), [GPU0]);
    assert.deepEqual(fits(a.assign('new', gpu())), [GPU0], 'its own GPU is not taken from it');
    assert.match(waits(a.assign('third', gpu())).reason, /both in use by new, adopted$/, 'named in GPU order');
  });

  it('place changes nothing it is given', () => {
    const holdings = [{ replica: 'a', mode: 'whole' as const, devices: [GPU0] }];
    const before = JSON.stringify([twoGpus, holdings]);
    place(twoGpus, holdings, gpu(), { timeSlices: 4 });
    assert.equal(JSON.stringify([twoGpus, holdings]), before);
  });
});
