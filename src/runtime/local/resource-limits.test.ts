import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isKarbError } from '../../errors.ts';
import { LocalRuntime } from './local-runtime.ts';
import { MemoryWatchdogLimiter } from './memory-watchdog.ts';
import { isProcessAlive } from './process-identity.ts';
import { detectReplicaLimiter, oomKilledMessage, replicaLimits, type ReplicaLimiter } from './resource-limits.ts';
import { fixtureTemplate, reasons, recordEvents, scratch, waitFor } from './testdata/helpers.ts';

const fast = { probe: { readyIntervalMs: 100 }, restartBackoff: { initialMs: 50, maxMs: 400 } };
const where = 'revision default/echo-00001';

test('limits are read from the spec as cores and bytes; a missing or zero one is no limit', () => {
  assert.deepEqual(replicaLimits(where, { cpu: '500m', memory: '64Mi' }), { cpuCores: 0.5, memoryBytes: 64 * 1024 * 1024, memory: '64Mi' });
  assert.deepEqual(replicaLimits(where, { cpu: 2, memory: '2Gi' }), { cpuCores: 2, memoryBytes: 2 * 1024 ** 3, memory: '2Gi' });
  assert.deepEqual(replicaLimits(where, { memory: '48Mi' }), { memoryBytes: 48 * 1024 * 1024, memory: '48Mi' });
  assert.deepEqual(replicaLimits(where, { cpu: '0', memory: 0 }), {});
  assert.deepEqual(replicaLimits(where, undefined), {});
  assert.equal(oomKilledMessage({ memoryBytes: 1, memory: '64Mi' }), 'OOMKilled: used more than its memory limit of 64Mi');
});

test('a limit that is no quantity is refused naming the field and how to write it', () => {
  assert.throws(
    () => replicaLimits(where, { memory: '64 megs' }),
    (err: unknown) => isKarbError(err) && err.code === 'RUNTIME_INVALID_LIMITS' && err.message === `${where}: resources.limits.memory '64 megs' is not a memory quantity; write e.g. "512Mi" or "2Gi"`,
  );
  assert.throws(() => replicaLimits(where, { cpu: 'lots' }), /resources\.limits\.cpu 'lots' is not a CPU quantity; write e.g. "2" or "500m"/);
});

test('where cgroups are named but cannot be written, the watchdog is chosen, and the log says why', (t) => {
  const { dir } = scratch(t);
  writeFileSync(join(dir, 'memory'), ''); // a file where the memory hierarchy should be: nothing can be made under it
  const logged: Array<Record<string, unknown>> = [];
  const limiter = detectReplicaLimiter({
    procSelfCgroup: '4:memory:/\n1:cpu:/\n0::/\n',
    mountinfo: `35 31 0:32 / ${dir}/memory rw - cgroup cgroup rw,memory\n32 31 0:29 / ${dir}/cpu rw - cgroup cgroup rw,cpu\n`,
    log: (r) => logged.push(r),
  });
  assert.equal(limiter.mechanism, 'rss-watchdog');
  assert.equal(logged.length, 1);
  assert.equal(logged[0]!.level, 'warn');
  assert.equal(logged[0]!.mechanism, 'rss-watchdog');
  assert.match(String(logged[0]!.msg), /^replica limits: a watchdog SIGKILLs a replica whose RSS passes its memory limit .*; CPU is not limited/);
  const notUsable = logged[0]!.notUsable as string[];
  assert.equal(notUsable[0], 'cgroup v2: not mounted');
  assert.match(notUsable[1]!, /^cgroup v1: ENOTDIR: not a directory, mkdir '.*\/memory\/karb/);
});

/** A replica that takes 300 MiB once listening, limited to 64Mi; the runtime reports its crash as an OOM kill. */
async function oomKilledCrash(t: Parameters<typeof scratch>[0], limiter: ReplicaLimiter | undefined): Promise<{ message: string; runtime: LocalRuntime }> {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast, ...(limiter ? { limiter } : {}) }));
  const events = recordEvents(runtime);
  const template = fixtureTemplate('echo-00001', ['--allocate-mb', '300'], { resources: { requests: {}, limits: { cpu: '1', memory: '64Mi' } } });
  await runtime.ensureRevision(template, 1);
  const crashed = await waitFor('an OOM-killed crash', () => reasons(events, 'ReplicaCrashed')[0]);
  return { message: crashed.message, runtime };
}

test("a replica over its memory limit is killed and its crash says OOMKilled (this machine's mechanism)", async (t) => {
  const { message } = await oomKilledCrash(t, undefined);
  assert.match(message, /^echo-00001-\w+: pid \d+ OOMKilled: used more than its memory limit of 64Mi \(killed by SIGKILL\); restarting in \d+ ms$/);
});

test('a replica over its memory limit is killed and its crash says OOMKilled (the watchdog)', async (t) => {
  const { message } = await oomKilledCrash(t, new MemoryWatchdogLimiter({ intervalMs: 50 }));
  assert.match(message, /^echo-00001-\w+: pid \d+ OOMKilled: used more than its memory limit of 64Mi \(killed by SIGKILL\); restarting in \d+ ms$/);
});

test('a running replica is in its limited group (where cgroups are used), kept for an adopting karb, removed once it stopped', async (t) => {
  const limiter = detectReplicaLimiter();
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast, limiter }));
  await runtime.ensureRevision(fixtureTemplate('echo-00001', [], { resources: { requests: {}, limits: { cpu: '500m', memory: '256Mi' } } }), 1);
  const ready = await waitFor('a ready replica', () => runtime.replicas().find((r) => r.phase === 'Ready'));
  // Each mechanism names the groups a replica is in (none for the watchdog); they hold the process and its limits.
  const groups = ({
    'cgroup-v1': [
      ['/sys/fs/cgroup/memory/karb', 'memory.limit_in_bytes', String(256 * 1024 * 1024)],
      ['/sys/fs/cgroup/cpu/karb', 'cpu.cfs_quota_us', '50000'],
    ],
    'cgroup-v2': [['/sys/fs/cgroup/karb', 'cpu.max', '50000 100000']],
    'rss-watchdog': [],
    none: [],
  } as const)[limiter.mechanism].map(([parent, file, value]) => ({ dir: join(parent, ready.name), file, value }));
  for (const g of groups) {
    assert.equal(readFileSync(join(g.dir, g.file), 'utf8').trim(), g.value);
    assert.deepEqual(readFileSync(join(g.dir, 'cgroup.procs'), 'utf8').trim().split('\n'), [String(ready.pid)]);
  }
  const record = JSON.parse(readFileSync(join(dir, 'replicas', `${ready.name}.json`), 'utf8')) as { limits: unknown };
  assert.deepEqual(record.limits, { cpuCores: 0.5, memoryBytes: 256 * 1024 * 1024, memory: '256Mi' }, 'an adopting karb knows them');

  // Adoption matches /proc/<pid>/cmdline with the recorded argv: after the wrapper's exec, it is the replica's own.
  await runtime.close({ leaveRunning: true });
  const next = track(new LocalRuntime({ stateDir: dir, ...fast, limiter }));
  await next.recover();
  assert.deepEqual(next.replicas().map((r) => [r.pid, r.adopted, r.phase]), [[ready.pid, true, 'Ready']]);
  for (const g of groups) assert.deepEqual(readFileSync(join(g.dir, 'cgroup.procs'), 'utf8').trim().split('\n'), [String(ready.pid)]);

  await next.close();
  assert.equal(isProcessAlive(ready.pid!), false);
  await waitFor('the groups removed', () => groups.every((g) => !existsSync(g.dir)));
});
