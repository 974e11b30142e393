/**
 * This machine's GPUs as a pool, end to end with a real `karb up`. No GPU exists where karb's
 * tests run, so karb up finds them through a stand-in `nvidia-smi`: a shell script this test
 * writes first on karb up's PATH, printing what the real one prints on a 2-GPU H100 machine
 * (src/runtime/local/testdata/nvidia-smi/, NVIDIA's documented formats). Everything after
 * discovery is real: the replicas are processes, and the CUDA_VISIBLE_DEVICES each was started
 * with is read back from its /proc/<pid>/environ.
 *
 * Two services asking for 1 GPU each get different GPUs; a third waits Pending with the reason
 * (in its replica, its Ready condition and an event) and starts on the GPU freed when one is
 * deleted. A karb up whose PATH has no nvidia-smi leaves a GPU service Pending with "no
 * nvidia.com/gpu".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { controlApi, karb, ROOT, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

const SAMPLES = join(ROOT, 'src/runtime/local/testdata/nvidia-smi');
const GPU_UUIDS = readFileSync(join(SAMPLES, 'two-gpus.query.csv'), 'utf8').trim().split('\n').map((l) => l.split(', ')[1]!);
/** A model server that answers every request 200 (CPU only, like any replica here). */
const SERVER = `require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')`;

interface Replica {
  name: string;
  service: string;
  phase: string;
  pid?: number;
  message?: string;
}

/** The stand-in: answers karb's two discovery commands with the sample files, anything else (pmon) as unsupported. */
function writeStandInNvidiaSmi(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const script = `#!/bin/sh
# Stand-in nvidia-smi for karb's GPU e2e test (no GPU here): prints a 2-GPU H100 machine's answers.
case "$1" in
  --query-gpu=*) cat '${join(SAMPLES, 'two-gpus.query.csv')}' ;;
  -L) cat '${join(SAMPLES, 'two-gpus.list.txt')}' ;;
  *) echo "stand-in nvidia-smi: $* is not supported" >&2; exit 2 ;;
esac
`;
  writeFileSync(join(dir, 'nvidia-smi'), script);
  chmodSync(join(dir, 'nvidia-smi'), 0o755);
}

/** Starts karb up with `PATH` as given (startKarbUp copies process.env when it spawns). */
async function startWithPath(dir: string, path: string): Promise<KarbUp> {
  const saved = process.env.PATH;
  process.env.PATH = path;
  try {
    return await startKarbUp(dir);
  } finally {
    process.env.PATH = saved;
  }
}

function api(up: KarbUp) {
  const control = controlApi(up);
  return {
    put: (name: string) =>
      control.put(name, {
        model: { format: 'oip', command: [process.execPath, '-e', SERVER], readinessPath: '/ready' },
        resources: { accelerator: { kind: 'nvidia.com/gpu', count: 1 } },
        scaling: { minReplicas: 1, maxReplicas: 1 },
      }),
    replicas: (service: string) => control.replicas<Replica>(service),
    ready: (service: string) => control.ready(service),
    events: async () => ((await (await fetch(`${up.controlUrl}/api/v1/events`, { headers: up.admin })).json()) as { items: Array<{ reason: string; service: string; replica?: string; message: string }> }).items,
  };
}

function visibleDevices(pid: number): string | undefined {
  const entry = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('CUDA_VISIBLE_DEVICES='));
  return entry?.slice('CUDA_VISIBLE_DEVICES='.length);
}

describe('GPUs: discovery, assignment, pending replicas', () => {
  const work = workDir('karb-gpus-');
  let up: KarbUp;

  before(async () => {
    const standIn = join(work.dir, 'stand-in-bin');
    writeStandInNvidiaSmi(standIn);
    up = await startWithPath(work.dir, `${standIn}${delimiter}${process.env.PATH ?? ''}`);
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('gives two services different GPUs; a third waits Pending with the reason and starts when one is deleted', async () => {
    const c = api(up);
    await c.put('gpu-a');
    await c.put('gpu-b');
    const [a, b] = await Promise.all(['gpu-a', 'gpu-b'].map((s) => waitFor(`${s} ready`, async () => (await c.replicas(s)).find((r) => r.phase === 'Ready'))));
    const devices = [visibleDevices(a!.pid!), visibleDevices(b!.pid!)];
    assert.deepEqual([...devices].sort(), [...GPU_UUIDS].sort(), 'each got one of the two GPUs, not the same one');

    await c.put('gpu-c');
    const pending = await waitFor('gpu-c pending', async () => (await c.replicas('gpu-c')).find((r) => r.phase === 'Pending'));
    // The holders are named in GPU order: the one on GPU 0 first.
    const byGpu = GPU_UUIDS.map((u) => [a!, b!][devices.indexOf(u)]!.name);
    assert.equal(pending.message, `waiting for 1 nvidia.com/gpu: 2 on this machine, both in use by ${byGpu.join(', ')}`);
    assert.equal(pending.pid, undefined, 'no process runs for it');
    const ready = await waitFor('gpu-c Ready condition says why', async () => {
      const r = await c.ready('gpu-c');
      return r?.reason === 'ReplicasPending' && r;
    });
    assert.equal(ready.status, 'False');
    assert.match(ready.message, new RegExp(`${pending.name} cannot start yet: waiting for 1 nvidia\\.com/gpu: 2 on this machine, both in use by`));
    const event = (await c.events()).find((e) => e.reason === 'ReplicaPending' && e.service === 'gpu-c');
    assert.equal(event?.message, `${pending.name}: not started: ${pending.message}`);
    const cli = await karb(['get', 'replicas', 'gpu-c', '--server', up.controlUrl, '--token', up.adminToken]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`${pending.name}\\s+gpu-c-00001\\s+Pending`));

    const freed = visibleDevices(a!.pid!);
    const deleted = await fetch(`${up.controlUrl}/api/v1/services/gpu-a`, { method: 'DELETE', headers: up.admin });
    assert.ok(deleted.ok, `delete answered ${deleted.status}`);
    const started = await waitFor('gpu-c ready on the freed GPU', async () => (await c.replicas('gpu-c')).find((r) => r.phase === 'Ready'));
    assert.equal(started.name, pending.name, 'the pending replica itself started');
    assert.equal(visibleDevices(started.pid!), freed);
    assert.notEqual(visibleDevices(started.pid!), visibleDevices(b!.pid!));
  });
});

describe('GPUs: a machine without nvidia-smi', () => {
  const work = workDir('karb-no-gpus-');
  let up: KarbUp;

  before(async () => {
    // PATH without any directory that holds an nvidia-smi (a GPU machine's own included).
    const path = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '' && !existsSync(join(d, 'nvidia-smi')));
    up = await startWithPath(work.dir, path.join(delimiter));
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('leaves a GPU service Pending: this machine has no nvidia.com/gpu', async () => {
    const c = api(up);
    await c.put('needs-gpu');
    const ready = await waitFor('the Ready condition to say why', async () => {
      const r = await c.ready('needs-gpu');
      return r?.reason === 'ReplicasPending' && r;
    });
    const [replica] = await c.replicas('needs-gpu');
    assert.equal(replica!.phase, 'Pending');
    assert.equal(
      replica!.message,
      'this machine has no nvidia.com/gpu (nvidia-smi is not installed (not found on PATH)); the service asks for 1 — run it where a GPU is, or remove spec.resources.accelerator',
    );
    assert.equal(ready.message, `needs-gpu-00001: ${replica!.name} cannot start yet: ${replica!.message}`);
  });
});
