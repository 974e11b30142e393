import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isKarbError } from '../../errors.ts';
import { ManualClock } from '../../util/clock.ts';
import { LocalRuntime } from './local-runtime.ts';
import { isProcessAlive } from './process-identity.ts';
import { fixtureTemplate, reasons, recordEvents, scratch, waitFor, withCommand } from './testdata/helpers.ts';

const fast = { probe: { readyIntervalMs: 100 }, restartBackoff: { initialMs: 50, maxMs: 400 } };

function recordFiles(dir: string): string[] {
  return readdirSync(join(dir, 'replicas')).filter((f) => f.endsWith('.json'));
}

// What every runtime does (level-triggered ensureRevision, ready-only endpoints, drain before removal,
// refusing bad counts and work after close) is in runtime-conformance.ts, run by conformance.test.ts.
// These tests are about what the local runtime does beneath: processes, records, logs, restarts.

test('each replica is a recorded process on a loopback port; scaling down stops the newest first and its process exits', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast }));
  const events = recordEvents(runtime);
  const template = fixtureTemplate('echo-00001');

  await runtime.ensureRevision(template, 3);
  await waitFor('3 endpoints', () => runtime.endpoints({ revision: 'echo-00001' }).length === 3);
  assert.equal(recordFiles(dir).length, 3);
  assert.equal(reasons(events, 'ReplicaStarted').length, 3);
  assert.equal(reasons(events, 'ReplicaReady').length, 3);
  for (const e of runtime.endpoints()) assert.match(e.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const before = runtime.replicas().map((r) => `${r.name}:${r.pid}`).sort();
  await runtime.ensureRevision(template, 3); // a second pass changes nothing
  assert.deepEqual(runtime.replicas().map((r) => `${r.name}:${r.pid}`).sort(), before, 'the same processes');

  const oldest = runtime.replicas()[0]!;
  const others = runtime.replicas().slice(1);
  await runtime.ensureRevision(template, 1);
  // The stopped ones leave the endpoints at once, before they have exited.
  assert.deepEqual(runtime.endpoints().map((e) => e.replica), [oldest.name]);
  await runtime.settled();
  for (const r of others) assert.equal(isProcessAlive(r.pid!), false, `${r.name} has exited`);
  assert.deepEqual(runtime.replicas().map((r) => r.name), [oldest.name]);
  assert.deepEqual(recordFiles(dir), [`${oldest.name}.json`]);

  await runtime.ensureRevision(template, 0);
  await runtime.settled();
  assert.equal(isProcessAlive(oldest.pid!), false);
  assert.deepEqual(recordFiles(dir), []);
  assert.equal(reasons(events, 'ReplicaStopped').length, 3);

  // Each replica's output went to its own log file.
  assert.match(readFileSync(join(dir, 'logs', `${oldest.name}.log`), 'utf8'), new RegExp(`fixture: pid ${oldest.pid} listening`));
});

test('a killed replica is restarted on a new process and becomes ready again', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast }));
  const events = recordEvents(runtime);
  await runtime.ensureRevision(fixtureTemplate('echo-00001'), 1);
  const first = await waitFor('a ready replica', () => runtime.replicas().find((r) => r.phase === 'Ready'));
  assert.equal(first.restarts, 0);

  process.kill(first.pid!, 'SIGKILL');
  const again = await waitFor('the replica ready on a new process', () => runtime.replicas().find((r) => r.phase === 'Ready' && r.pid !== first.pid));
  assert.equal(again.name, first.name);
  assert.equal(again.restarts, 1);
  assert.equal(runtime.endpoints().length, 1);
  assert.deepEqual(
    events.filter((e) => e.reason !== 'ReplicaStarted').map((e) => e.reason),
    ['ReplicaReady', 'ReplicaCrashed', 'ReplicaRestarting', 'ReplicaReady'],
  );
  assert.match(reasons(events, 'ReplicaCrashed')[0]!.message, /killed by SIGKILL; restarting in 50 ms/);
});

test('stopping drains: SIGTERM after it left the endpoints, and the replica exits within the grace', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast }));
  const events = recordEvents(runtime);
  const drainLog = join(dir, 'drains.log');
  await runtime.ensureRevision(fixtureTemplate('echo-00001', ['--drain-ms', '200', '--drain-log', drainLog], { drainSeconds: 20 }), 1);
  const replica = await waitFor('a ready replica', () => runtime.replicas().find((r) => r.phase === 'Ready'));

  await runtime.removeRevision('default', 'echo-00001');
  await runtime.settled();

  assert.equal(isProcessAlive(replica.pid!), false);
  assert.equal(readFileSync(drainLog, 'utf8'), `${replica.pid} SIGTERM\n`);
  const stopped = reasons(events, 'ReplicaStopped');
  assert.equal(stopped.length, 1);
  assert.match(stopped[0]!.message, /exited with code 0 after SIGTERM/);
});

test('with a deregistration delay a stopping replica keeps answering, out of the endpoints, until its SIGTERM', async (t) => {
  const { dir, track } = scratch(t);
  let delayMs = 600;
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast, deregistrationDelayMs: () => delayMs }));
  const events = recordEvents(runtime);
  const drainLog = join(dir, 'drains.log');
  await runtime.ensureRevision(fixtureTemplate('echo-00001', ['--drain-log', drainLog]), 1);
  const replica = await waitFor('a ready replica', () => runtime.replicas().find((r) => r.phase === 'Ready'));
  const url = runtime.endpoints()[0]!.url;

  await runtime.removeRevision('default', 'echo-00001');
  assert.deepEqual(runtime.endpoints(), [], 'out of the endpoints at once');
  const during = await fetch(url);
  assert.equal(during.status, 200, 'still answering a gateway that has not seen the change yet');
  assert.equal(existsSync(drainLog), false, 'no SIGTERM yet');
  await runtime.settled();
  assert.equal(readFileSync(drainLog, 'utf8'), `${replica.pid} SIGTERM\n`);
  assert.match(reasons(events, 'ReplicaDraining')[0]!.message, /SIGTERM to pid \d+ in 600 ms \(gateways polling the routes stop sending first\)/);
  delayMs = 0;
});

test('stopping a replica that ignores SIGTERM SIGKILLs it after the grace', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast }));
  const events = recordEvents(runtime);
  const drainLog = join(dir, 'drains.log');
  await runtime.ensureRevision(fixtureTemplate('echo-00001', ['--ignore-sigterm', '--drain-log', drainLog], { drainSeconds: 0.3 }), 1);
  const replica = await waitFor('a ready replica', () => runtime.replicas().find((r) => r.phase === 'Ready'));

  await runtime.removeRevision('default', 'echo-00001');
  await runtime.settled();
  assert.equal(isProcessAlive(replica.pid!), false);
  assert.equal(readFileSync(drainLog, 'utf8'), `${replica.pid} SIGTERM\n`); // it was asked first
  assert.match(reasons(events, 'ReplicaStopped')[0]!.message, /killed with SIGKILL after the 0.3 s drain grace/);
});

test('a replica is an endpoint only while its readiness probe answers 200', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast }));
  const events = recordEvents(runtime);
  const unready = join(dir, 'unready');
  writeFileSync(unready, '');
  await runtime.ensureRevision(fixtureTemplate('echo-00001', ['--unready-file', unready]), 1);

  const starting = await waitFor('a probe answered 503', () => runtime.replicas().find((r) => r.message === 'waiting for readiness: HTTP 503'));
  assert.equal(starting.phase, 'Starting');
  assert.deepEqual(runtime.endpoints(), []);

  rmSync(unready);
  await waitFor('ready', () => runtime.endpoints().length === 1);

  writeFileSync(unready, '');
  await waitFor('out of the endpoints', () => runtime.endpoints().length === 0);
  const notReady = runtime.replicas()[0]!;
  assert.equal(notReady.phase, 'Starting');
  assert.match(notReady.message!, /readiness probe failing: HTTP 503/);
  assert.equal(reasons(events, 'ReplicaNotReady').length, 1);

  rmSync(unready);
  await waitFor('ready again', () => runtime.endpoints().length === 1);
  assert.equal(runtime.replicas()[0]!.restarts, 0, 'going unready is not a crash');
  assert.deepEqual(
    events.map((e) => e.reason),
    ['ReplicaStarted', 'ReplicaReady', 'ReplicaNotReady', 'ReplicaReady'],
  );
});

test('a crash-looping replica restarts with exponential backoff up to the maximum', async (t) => {
  const { dir, track } = scratch(t);
  const clock = new ManualClock(1_000_000);
  const runtime = track(new LocalRuntime({ stateDir: dir, clock, restartBackoff: { initialMs: 100, maxMs: 400 } }));
  const events = recordEvents(runtime);
  await runtime.ensureRevision(fixtureTemplate('echo-00001', ['--crash-after-ms', '0']), 1);

  const delays: number[] = [];
  for (let restarts = 0; restarts < 5; restarts++) {
    const crashed = await waitFor(`crash after ${restarts} restarts`, () => runtime.replicas().find((r) => r.phase === 'Crashed' && r.restarts === restarts));
    assert.equal(crashed.lastExitCode, 3);
    assert.match(crashed.message!, /^pid \d+ exited with code 3 \(last output: fixture: crashing at once\); restarting in \d+ ms$/, 'what the process said before it exited');
    assert.equal(crashed.nextRestartAt, clock.now() + crashed.backoffMs!);
    delays.push(crashed.backoffMs!);
    clock.advance(crashed.backoffMs!);
  }
  assert.deepEqual(delays, [100, 200, 400, 400, 400]);
  assert.equal(reasons(events, 'ReplicaCrashed').length, 5);
  await waitFor('the fifth restart', () => reasons(events, 'ReplicaRestarting').length === 5);
  assert.deepEqual(runtime.endpoints(), []);
});

test('replicas of a revision whose template changed are replaced', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast }));
  await runtime.ensureRevision(fixtureTemplate('echo-00001'), 1);
  const old = await waitFor('a ready replica', () => runtime.replicas().find((r) => r.phase === 'Ready'));

  await runtime.ensureRevision(fixtureTemplate('echo-00001', ['--drain-ms', '0']), 1);
  await waitFor('a ready replacement', () => runtime.endpoints().find((e) => e.replica !== old.name));
  await runtime.settled();
  assert.equal(isProcessAlive(old.pid!), false);
  assert.equal(runtime.replicas().length, 1);
});

test('templates that cannot run here are refused with a clear error', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir }));
  const isCode = (code: string) => (err: unknown) => isKarbError(err) && err.code === code && err.status === 400;
  await assert.rejects(runtime.ensureRevision(withCommand(fixtureTemplate('echo-00001'), undefined), 1), isCode('RUNTIME_COMMAND_REQUIRED'));
  assert.deepEqual(runtime.replicas(), []);
});

test('a command that cannot be started counts as a crash', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast }));
  await runtime.ensureRevision(withCommand(fixtureTemplate('echo-00001'), [join(dir, 'no-such-server')]), 1);
  const crashed = await waitFor('a crash', () => runtime.replicas().find((r) => r.phase === 'Crashed'));
  // Spawned directly, spawn fails; started inside its cgroup, the wrapper's exec does (exit 127) and says so.
  assert.match(crashed.message!, /could not start: spawn .*no-such-server ENOENT|exited with code 127 \(last output: .*no-such-server: not found\)/);
});

test('close stops every replica process and removes its record; the logs stay', async (t) => {
  const { dir, track } = scratch(t);
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast }));
  await runtime.ensureRevision(fixtureTemplate('echo-00001'), 1);
  await runtime.ensureRevision(fixtureTemplate('echo-00002'), 1);
  await waitFor('2 endpoints', () => runtime.endpoints().length === 2);
  const pids = runtime.replicas().map((r) => r.pid!);

  await runtime.close();
  for (const pid of pids) assert.equal(isProcessAlive(pid), false);
  assert.deepEqual(recordFiles(dir), []);
  assert.ok(existsSync(join(dir, 'logs')));
});

test("usage: each replica process's CPU cores between two calls, and its GPU use from nvidia-smi pmon", async (t) => {
  const { dir, track } = scratch(t);
  const clock = new ManualClock(1_000_000);
  const cpuSeconds = new Map<number, number>();
  let pmon = '';
  const runtime = track(new LocalRuntime({ stateDir: dir, clock, readCpuSeconds: (pid) => cpuSeconds.get(pid), readPmon: async () => pmon }));
  await runtime.ensureRevision(fixtureTemplate('echo-00001'), 2);
  const [a, b] = await waitFor('2 processes', () => {
    const running = runtime.replicas().filter((r) => r.pid !== undefined);
    return running.length === 2 ? running : undefined;
  });
  cpuSeconds.set(a!.pid!, 10);
  cpuSeconds.set(b!.pid!, 20);
  pmon = `# gpu pid type sm mem enc dec command\n# Idx # C/G % % % % name\n 0 ${a!.pid} C 80 10 - - node\n`;
  const first = runtime.usage();
  assert.deepEqual(first.map((u) => u.cpuCores), [undefined, undefined], 'no figure before a second sample');
  assert.deepEqual(first.map((u) => u.gpuUtilization), [undefined, undefined], 'GPU figures come from the read this call started, not yet done');

  clock.advance(2_000);
  cpuSeconds.set(a!.pid!, 11); // one CPU-second in two seconds: half a core
  cpuSeconds.set(b!.pid!, 24); // four in two: two cores
  const byReplica = new Map(runtime.usage().map((u) => [u.replica, u]));
  assert.equal(byReplica.get(a!.name)?.cpuCores, 0.5);
  assert.equal(byReplica.get(b!.name)?.cpuCores, 2);
  assert.deepEqual(runtime.usage({ revision: 'echo-00002' }), []);

  await waitFor('a finished GPU read', () => runtime.usage().some((u) => u.gpuUtilization !== undefined));
  const gpu = new Map(runtime.usage().map((u) => [u.replica, u.gpuUtilization]));
  assert.equal(gpu.get(a!.name), 0.8);
  assert.equal(gpu.get(b!.name), undefined, 'not in the pmon sample');
});
