import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GpuSampler, nvidiaSmiPmon, parsePmon } from './process-gpu.ts';

// Output layouts of `nvidia-smi pmon -c 1 -s u` across driver generations.
const CLASSIC = `# gpu        pid  type    sm   mem   enc   dec   command
# Idx          #   C/G     %     %     %     %   name
    0      41234     C    73    20     -     -   node
    0      41299     C     -     -     -     -   node
    1      41234     C    27    10     -     -   node
`;
const WITH_JPG_OFA = `# gpu         pid   type     sm    mem    enc    dec    jpg    ofa    command
# Idx           #    C/G      %      %      %      %      %      %    name
    0       5001     C     40     12      -      -      -      -    karb
`;

describe('parsePmon', () => {
  it('reads SM utilization per pid, averaging a pid seen on several GPUs', () => {
    const m = parsePmon(CLASSIC);
    assert.equal(m.get(41234), 0.5); // (73 + 27) / 2 %
    assert.equal(m.has(41299), false, '"-" is no sample, not zero');
  });

  it('finds the columns by the header, so newer drivers with more columns parse the same', () => {
    assert.equal(parsePmon(WITH_JPG_OFA).get(5001), 0.4);
  });

  it('reads nothing from text without a header', () => {
    assert.equal(parsePmon('    0   123   C   50   1   -   -   x\n').size, 0);
  });
});

describe('GpuSampler', () => {
  it('reports a missing signal, not zero, where no GPU tooling exists', async () => {
    const sampler = new GpuSampler(async () => undefined);
    await sampler.refresh();
    assert.equal(sampler.available, false);
    assert.equal(sampler.utilization(1), undefined);
  });

  it('keeps the last sample per process', async () => {
    let reads = 0;
    const sampler = new GpuSampler(async () => {
      reads++;
      return WITH_JPG_OFA;
    });
    await sampler.refresh();
    assert.equal(sampler.available, true);
    assert.equal(sampler.utilization(5001), 0.4);
    assert.equal(sampler.utilization(9999), undefined);
    await sampler.refresh();
    assert.equal(reads, 2);
  });

  it('on this machine, answers what nvidia-smi says — or nothing where it is absent', async () => {
    const sampler = new GpuSampler(nvidiaSmiPmon);
    await sampler.refresh();
    if (sampler.available === false) assert.equal(sampler.utilization(process.pid), undefined);
    else assert.equal(sampler.available, true);
  });
});
