import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeInventory, discoverGpus, GPU_LIST_ARGS, GPU_QUERY_ARGS, parseGpuList, parseGpuQuery, type NvidiaSmiResult } from './gpu-inventory.ts';

/** nvidia-smi's own output, in NVIDIA's documented formats (testdata/nvidia-smi/README.md). */
const sample = (name: string) => readFileSync(new URL(`./testdata/nvidia-smi/${name}`, import.meta.url), 'utf8');

/** A runner that answers the two discovery commands with fixed results, and records what was asked. */
function runner(answers: { query: NvidiaSmiResult; list?: NvidiaSmiResult }) {
  const asked: string[][] = [];
  const run = async (args: string[]): Promise<NvidiaSmiResult> => {
    asked.push(args);
    if (args.join(' ') === GPU_QUERY_ARGS.join(' ')) return answers.query;
    if (args.join(' ') === GPU_LIST_ARGS.join(' ') && answers.list) return answers.list;
    return { ok: false, problem: `unexpected arguments ${args.join(' ')}` };
  };
  return { run, asked };
}

describe('parseGpuQuery', () => {
  it('reads index, UUID, name, memory and MIG mode of each GPU', () => {
    const { gpus, problem } = parseGpuQuery(sample('two-gpus.query.csv'));
    assert.equal(problem, undefined);
    assert.deepEqual(gpus, [
      { index: 0, uuid: 'GPU-3f9c2a51-7d4e-4b8a-9c61-2e5f0a7b1d34', name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559, mig: false, instances: [] },
      { index: 1, uuid: 'GPU-8a1e6c02-54b3-4f9d-a7e2-c90d13f4b6a8', name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559, mig: false, instances: [] },
    ]);
  });

  it('reads MIG mode Enabled, [N/A] (a GPU without MIG) and a memory nvidia-smi cannot report', () => {
    const { gpus } = parseGpuQuery('0, GPU-5d7f7e4e-2b1c-4a0e-8f3d-6c9b1a2e4f70, NVIDIA A100-SXM4-80GB, 81920, Enabled\n1, GPU-0badc0de-0000-4000-8000-000000000001, NVIDIA A10, [N/A], [N/A]\n');
    assert.deepEqual(gpus.map((g) => [g.index, g.mig, g.memoryMiB]), [[0, true, 81920], [1, false, undefined]]);
  });

  it('keeps a name with a comma whole', () => {
    assert.equal(parseGpuQuery('0, GPU-0badc0de-0000-4000-8000-000000000002, Tesla V100, PCIe, 16384, [N/A]\n').gpus[0]!.name, 'Tesla V100, PCIe');
  });

  it("finds no GPU in the driver's error text, and says what nvidia-smi said", () => {
    const { gpus, problem } = parseGpuQuery(sample('driver-error.txt'));
    assert.deepEqual(gpus, []);
    assert.equal(problem, "nvidia-smi listed no GPU: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.");
    assert.equal(parseGpuQuery('No devices were found\n').problem, 'nvidia-smi listed no GPU: No devices were found');
  });
});

describe('parseGpuList', () => {
  it('reads the MIG instances of a MIG-enabled A100 under their GPU, with profile, device number and UUID', () => {
    assert.deepEqual(parseGpuList(sample('mig-a100.list.txt')), [
      { gpuIndex: 0, device: 0, profile: '3g.40gb', uuid: 'MIG-c6d4f1b0-3e2a-5b7c-9d1e-0f2a4b6c8d01' },
      { gpuIndex: 0, device: 1, profile: '2g.20gb', uuid: 'MIG-1e3f5a7c-9b0d-5f2e-8a4c-6b8d0f2a4c02' },
      { gpuIndex: 0, device: 2, profile: '1g.10gb', uuid: 'MIG-7a9c1e3f-5b7d-5a0c-8e2f-4a6c8e0a2c03' },
      { gpuIndex: 0, device: 3, profile: '1g.10gb', uuid: 'MIG-2b4d6f8a-0c1e-5d3f-9b5a-7c9e1a3c5e04' },
    ]);
  });

  it('reads the older drivers’ MIG-GPU-<uuid>/<gi>/<ci> form, and nothing from a machine without MIG', () => {
    const old = 'GPU 0: A100-SXM4-40GB (UUID: GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77)\n  MIG 1g.5gb Device 0: (UUID: MIG-GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77/7/0)\n';
    assert.deepEqual(parseGpuList(old), [{ gpuIndex: 0, device: 0, profile: '1g.5gb', uuid: 'MIG-GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77/7/0' }]);
    assert.deepEqual(parseGpuList(sample('two-gpus.list.txt')), []);
  });
});

describe('discoverGpus', () => {
  it('attaches the MIG instances to their GPU; the GPU without MIG has none', async () => {
    const { run, asked } = runner({ query: { ok: true, stdout: sample('mig-a100.query.csv') }, list: { ok: true, stdout: sample('mig-a100.list.txt') } });
    const inventory = await discoverGpus(run);
    assert.deepEqual(asked, [GPU_QUERY_ARGS, GPU_LIST_ARGS]);
    assert.equal(inventory.problem, undefined);
    assert.deepEqual(inventory.gpus.map((g) => [g.index, g.mig, g.instances.map((i) => i.profile)]), [
      [0, true, ['3g.40gb', '2g.20gb', '1g.10gb', '1g.10gb']],
      [1, false, []],
    ]);
    assert.equal(describeInventory(inventory), '2 GPUs: 0 NVIDIA A100-SXM4-80GB (GPU-5d7f7e4e-2b1c-4a0e-8f3d-6c9b1a2e4f70, 81920 MiB, MIG: 3g.40gb ×1, 2g.20gb ×1, 1g.10gb ×2); 1 NVIDIA A100-SXM4-80GB (GPU-a2c4e6f8-1b3d-4e5f-9a7b-0c2d4e6f8a1b, 81920 MiB)');
  });

  it('does not ask for MIG instances where no GPU is in MIG mode', async () => {
    const { run, asked } = runner({ query: { ok: true, stdout: sample('two-gpus.query.csv') } });
    assert.equal((await discoverGpus(run)).gpus.length, 2);
    assert.deepEqual(asked, [GPU_QUERY_ARGS]);
  });

  it('is no GPUs, with the reason, when nvidia-smi is missing or fails', async () => {
    const missing = await discoverGpus(runner({ query: { ok: false, problem: 'nvidia-smi is not installed (not found on PATH)' } }).run);
    assert.deepEqual(missing, { gpus: [], problem: 'nvidia-smi is not installed (not found on PATH)' });
    assert.equal(describeInventory(missing), 'no GPU (nvidia-smi is not installed (not found on PATH))');
    const noDriver = await discoverGpus(runner({ query: { ok: true, stdout: sample('driver-error.txt') } }).run);
    assert.equal(noDriver.gpus.length, 0);
    assert.match(noDriver.problem!, /couldn't communicate with the NVIDIA driver/);
  });

  it('keeps the GPUs when only the MIG listing fails, and says the instances are unknown', async () => {
    const inventory = await discoverGpus(runner({ query: { ok: true, stdout: sample('mig-a100.query.csv') }, list: { ok: false, problem: 'nvidia-smi failed (exit 9)' } }).run);
    assert.equal(inventory.gpus.length, 2);
    assert.deepEqual(inventory.gpus[0]!.instances, []);
    assert.equal(inventory.problem, 'MIG instances unknown: nvidia-smi failed (exit 9)');
  });

  it('runs nvidia-smi from PATH: a missing one, or one failing as a driverless machine’s does, is no GPUs, not an error', async () => {
    const saved = process.env.PATH;
    // A stand-in nvidia-smi (no GPU exists here): prints the driver's error text and exits 9, as the real one does without a driver.
    const dir = mkdtempSync(join(tmpdir(), 'karb-nvidia-smi-'));
    writeFileSync(join(dir, 'nvidia-smi'), `#!/bin/sh\ncat '${new URL('./testdata/nvidia-smi/driver-error.txt', import.meta.url).pathname}'\nexit 9\n`);
    chmodSync(join(dir, 'nvidia-smi'), 0o755);
    try {
      process.env.PATH = '/nonexistent-karb-test-path';
      assert.deepEqual(await discoverGpus(), { gpus: [], problem: 'nvidia-smi is not installed (not found on PATH)' });
      process.env.PATH = `${dir}:${saved}`;
      assert.deepEqual(await discoverGpus(), {
        gpus: [],
        problem: "nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
      });
    } finally {
      process.env.PATH = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
