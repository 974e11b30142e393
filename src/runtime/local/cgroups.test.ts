import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CgroupV1Limiter, CgroupV2Limiter, cpuQuotaUs, detectCgroupLayout } from './cgroups.ts';

// What /proc/self shows on karb's test machine: cgroup v1 controllers, and an empty unified hierarchy beside them.
const HYBRID_CGROUP = `9:name=systemd:/
8:pids:/
4:memory:/process_api/8c82
3:cpuset:/
1:cpu:/
0::/
`;
const HYBRID_MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

function tree(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'karb-cgroups-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const read = (...parts: string[]) => readFileSync(join(...parts), 'utf8');

test('detection: cgroup v1 controllers (a hybrid machine) are found at their mounts, not at the unified one', () => {
  assert.deepEqual(detectCgroupLayout(HYBRID_CGROUP, HYBRID_MOUNTINFO), {
    layout: { version: 1, memory: '/sys/fs/cgroup/memory', cpu: '/sys/fs/cgroup/cpu' },
    notUsable: ['cgroup v2 at /sys/fs/cgroup/unified: memory and cpu are on cgroup v1 here'],
  });
  // cpu mounted with cpuacct (a space in the path is \040 in mountinfo), cpuset first: cpuset is not cpu.
  const combined = `25 20 0:22 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
26 20 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
27 20 0:24 / /srv/my\\040cgroups/memory rw - cgroup cgroup rw,memory
`;
  assert.deepEqual(detectCgroupLayout('5:cpu,cpuacct:/\n4:memory:/\n3:cpuset:/\n', combined).layout, { version: 1, memory: '/srv/my cgroups/memory', cpu: '/sys/fs/cgroup/cpu,cpuacct' });
});

test('detection: a unified-only machine uses cgroup v2 at its mount', () => {
  const mountinfo = '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
  assert.deepEqual(detectCgroupLayout('0::/user.slice/user-1000.slice/session-2.scope\n', mountinfo), {
    layout: { version: 2, mount: '/sys/fs/cgroup' },
    notUsable: ['cgroup v1: memory and cpu are not on a v1 hierarchy'],
  });
});

test('detection: no usable layout, and why', () => {
  assert.deepEqual(detectCgroupLayout('', ''), { notUsable: ['cgroups: /proc/self/cgroup names no hierarchy (not Linux, or /proc is not mounted)'] });
  assert.equal(detectCgroupLayout('0::/\n', '').layout, undefined, 'unified, but not mounted');
  const memoryOnly = detectCgroupLayout('4:memory:/\n0::/\n', HYBRID_MOUNTINFO);
  assert.equal(memoryOnly.layout, undefined);
  assert.match(memoryOnly.notUsable.join('; '), /only memory is on a v1 hierarchy/);
  const unmounted = detectCgroupLayout('4:memory:/\n1:cpu:/\n', '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n');
  assert.deepEqual(unmounted.notUsable, ['cgroup v2: not mounted', 'cgroup v1: the cpu controller is not mounted']);
});

test('cgroup v1: limits written into karb/<replica> of both hierarchies, swap held to the limit, and the process enters both before it runs', (t) => {
  const root = tree(t);
  const mounts = { memory: join(root, 'memory'), cpu: join(root, 'cpu') };
  // A group an earlier process of the replica left, as cgroupfs fills it: swap accounted, one OOM kill counted.
  const memory = join(mounts.memory, 'karb', 'r1');
  mkdirSync(memory, { recursive: true });
  writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), '9223372036854771712');
  writeFileSync(join(memory, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');

  const placement = new CgroupV1Limiter(mounts).prepare('r1', { cpuCores: 0.5, memoryBytes: 64 * 1024 * 1024, memory: '64Mi' });
  assert.equal(read(memory, 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
  assert.equal(read(memory, 'memory.memsw.limit_in_bytes'), String(64 * 1024 * 1024));
  assert.equal(read(mounts.cpu, 'karb', 'r1', 'cpu.cfs_period_us'), '100000');
  assert.equal(read(mounts.cpu, 'karb', 'r1', 'cpu.cfs_quota_us'), '50000');

  // The wrapper writes its own pid, then execs: the pid in both groups is the replica's, running the real argv.
  const [command, ...args] = placement.command([process.execPath, '-e', 'process.stdout.write(String(process.pid))']);
  const run = spawnSync(command!, args, { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const pid = run.stdout;
  assert.equal(pid, String(run.pid), 'the process spawned is the one that runs the replica');
  assert.equal(read(memory, 'cgroup.procs').trim(), pid);
  assert.equal(read(mounts.cpu, 'karb', 'r1', 'cgroup.procs').trim(), pid);

  assert.equal(placement.wasOomKilled(), false, 'the kill counted before this process is not its');
  writeFileSync(join(memory, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
  assert.equal(placement.wasOomKilled(), true);
});

test('cgroup v1: no limit is written as unlimited; a tiny CPU limit gets the smallest quota', (t) => {
  const root = tree(t);
  const mounts = { memory: join(root, 'memory'), cpu: join(root, 'cpu') };
  new CgroupV1Limiter(mounts).prepare('r2', {});
  assert.equal(read(mounts.memory, 'karb', 'r2', 'memory.limit_in_bytes'), '-1');
  assert.equal(read(mounts.cpu, 'karb', 'r2', 'cpu.cfs_quota_us'), '-1');
  assert.ok(!existsSync(join(mounts.memory, 'karb', 'r2', 'memory.memsw.limit_in_bytes')), 'no swap file is made where the kernel has none');
  assert.equal(cpuQuotaUs(0.001), 1000);
  assert.equal(cpuQuotaUs(2), 200_000);
});

test('cgroup v1: a group that cannot be made is an error naming it, and leaves nothing behind', (t) => {
  const root = tree(t);
  writeFileSync(join(root, 'cpu'), 'not a directory');
  const mounts = { memory: join(root, 'memory'), cpu: join(root, 'cpu') };
  assert.throws(() => CgroupV1Limiter.open(mounts), /ENOTDIR.*cpu/);
  assert.ok(!existsSync(join(mounts.memory, 'karb', `probe-${process.pid}`)));
});

test('cgroup v2: memory and cpu enabled top-down, then memory.max, cpu.max and no swap in karb/<replica>', (t) => {
  const mount = tree(t);
  writeFileSync(join(mount, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids\n');
  writeFileSync(join(mount, 'cgroup.subtree_control'), 'cpu\n');
  mkdirSync(join(mount, 'karb', 'r1'), { recursive: true });
  writeFileSync(join(mount, 'karb', 'cgroup.subtree_control'), '');
  writeFileSync(join(mount, 'karb', 'r1', 'memory.swap.max'), 'max\n');
  writeFileSync(join(mount, 'karb', 'r1', 'memory.oom.group'), '0\n');
  writeFileSync(join(mount, 'karb', 'r1', 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n');

  const limiter = CgroupV2Limiter.open(mount);
  assert.equal(read(mount, 'cgroup.subtree_control'), '+memory', 'only what was missing is enabled');
  assert.equal(read(mount, 'karb', 'cgroup.subtree_control'), '+memory +cpu');
  writeFileSync(join(mount, 'karb', 'cgroup.subtree_control'), 'cpu memory\n'); // as the kernel shows it once enabled

  const dir = join(mount, 'karb', 'r1');
  const placement = limiter.prepare('r1', { cpuCores: 1.5, memoryBytes: 48 * 1024 * 1024, memory: '48Mi' });
  assert.equal(read(dir, 'memory.max'), String(48 * 1024 * 1024));
  assert.equal(read(dir, 'memory.swap.max'), '0');
  assert.equal(read(dir, 'memory.oom.group'), '1');
  assert.equal(read(dir, 'cpu.max'), '150000 100000');
  assert.deepEqual(placement.command(['server', '--port', '1']).slice(3), ['karb-limits', join(dir, 'cgroup.procs'), '--', 'server', '--port', '1']);
  assert.equal(placement.wasOomKilled(), false);
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n');
  assert.equal(placement.wasOomKilled(), true);

  limiter.prepare('r3', {});
  assert.equal(read(mount, 'karb', 'r3', 'memory.max'), 'max');
  assert.equal(read(mount, 'karb', 'r3', 'cpu.max'), 'max 100000');
});

test('cgroup v2: a mount that does not offer both controllers is refused, saying which is missing', (t) => {
  const mount = tree(t);
  writeFileSync(join(mount, 'cgroup.controllers'), 'hugetlb\n');
  assert.throws(() => CgroupV2Limiter.open(mount), /cgroup\.controllers offers no memory or cpu controller/);
});
