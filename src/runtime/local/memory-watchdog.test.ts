import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { MemoryWatchdogLimiter, rssDecision } from './memory-watchdog.ts';
import { isProcessAlive, signalReplica } from './process-identity.ts';

const status = (rssKb: number | undefined, state = 'S (sleeping)') =>
  `Name:\tnode\nState:\t${state}\nPid:\t42\nVmPeak:\t 1200000 kB\n${rssKb === undefined ? '' : `VmRSS:\t   ${rssKb} kB\n`}Threads:\t7\n`;
const MI = 1024 * 1024;

test('the watchdog kills past the limit, keeps at or under it, and stops for a process that is gone', () => {
  assert.deepEqual(rssDecision(status(70_000), 64 * MI), { action: 'kill', rssBytes: 70_000 * 1024 });
  assert.deepEqual(rssDecision(status(65_536), 64 * MI), { action: 'keep', rssBytes: 64 * MI }, 'exactly at the limit is allowed');
  assert.deepEqual(rssDecision(status(30_000), 64 * MI), { action: 'keep', rssBytes: 30_000 * 1024 });
  assert.deepEqual(rssDecision(undefined, 64 * MI), { action: 'gone' });
  assert.deepEqual(rssDecision(status(undefined, 'Z (zombie)'), 64 * MI), { action: 'gone' });
  assert.deepEqual(rssDecision(status(90_000, 'Z (zombie)'), 64 * MI), { action: 'gone' });
});

test('a process that grows past its memory limit is SIGKILLed and reported as killed for memory; one under it is left alone', async (t) => {
  const logged: Array<Record<string, unknown>> = [];
  const limiter = new MemoryWatchdogLimiter({ intervalMs: 50, log: (r) => logged.push(r) });
  assert.equal(limiter.mechanism, 'rss-watchdog');
  assert.match(limiter.summary, /CPU is not limited/);
  const start = (mb: number) => {
    const placement = limiter.prepare('r1', { memoryBytes: 96 * MI, memory: '96Mi' });
    const grow = `const held = []; const t = setInterval(() => { if (held.length < ${mb / 8}) held.push(Buffer.alloc(8 << 20, 1)); }, 10); process.on('SIGTERM', () => process.exit(0));`;
    const [command, ...args] = placement.command([process.execPath, '-e', grow]);
    const child = spawn(command!, args, { detached: true, stdio: 'ignore' });
    t.after(() => void (isProcessAlive(child.pid!) && signalReplica(child.pid!, 'SIGKILL')));
    placement.started(child.pid!);
    return { child, placement };
  };

  const big = start(400);
  const [, signal] = (await once(big.child, 'exit')) as [number | null, string | null];
  assert.equal(signal, 'SIGKILL');
  assert.equal(big.placement.wasOomKilled(), true);
  big.placement.cleanup();
  const kill = logged.find((r) => r.msg === 'memory watchdog: SIGKILL to a replica over its memory limit');
  assert.ok(kill && (kill.rssBytes as number) > 96 * MI && kill.pid === big.child.pid, JSON.stringify(logged));

  // Under its limit it runs on until it is stopped, and its exit is no OOM kill.
  const small = start(16);
  const sampled = Promise.withResolvers<void>();
  setTimeout(sampled.resolve, 500); // ten readings
  await sampled.promise;
  assert.ok(isProcessAlive(small.child.pid!));
  small.child.kill('SIGTERM');
  await once(small.child, 'exit');
  assert.equal(small.placement.wasOomKilled(), false);
  small.placement.cleanup();
});
