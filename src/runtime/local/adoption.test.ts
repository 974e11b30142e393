import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { LocalRuntime } from './local-runtime.ts';
import { allocatePort } from './probe.ts';
import { isProcessAlive, processStartTime } from './process-identity.ts';
import { ReplicaRecordStore, type ReplicaRecord } from './replica-record.ts';
import { processSpecHash } from './replica-command.ts';
import { localProcessSpec } from './process-spec.ts';
import { fixturePath, fixtureTemplate, karbHostPath, reasons, recordEvents, scratch, waitFor } from './testdata/helpers.ts';

const fast = { probe: { readyIntervalMs: 100 }, restartBackoff: { initialMs: 50, maxMs: 400 } };

test('replicas left running by a closed runtime are adopted, not duplicated, and still supervised', async (t) => {
  const { dir, track } = scratch(t);
  const template = fixtureTemplate('echo-00001');
  const first = track(new LocalRuntime({ stateDir: dir, ...fast }));
  await first.ensureRevision(template, 2);
  await waitFor('2 endpoints', () => first.endpoints().length === 2);
  const before = first.replicas().map((r) => ({ name: r.name, pid: r.pid })).sort((a, b) => a.name.localeCompare(b.name));
  await first.close({ leaveRunning: true });
  for (const r of before) assert.ok(isProcessAlive(r.pid!), `${r.name} survives close({ leaveRunning: true })`);

  const second = track(new LocalRuntime({ stateDir: dir, ...fast }));
  const events = recordEvents(second);
  await second.recover();
  const adopted = second.replicas().map((r) => ({ name: r.name, pid: r.pid })).sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(adopted, before);
  assert.ok(second.replicas().every((r) => r.adopted && r.phase === 'Ready'));
  assert.equal(reasons(events, 'ReplicaAdopted').length, 2);
  assert.equal(second.endpoints().length, 2);
  assert.deepEqual(second.revisions(), [{ namespace: 'default', service: 'echo', revision: 'echo-00001', replicas: 2 }]);

  await second.ensureRevision(template, 2);
  assert.deepEqual(second.replicas().map((r) => r.pid).sort(), before.map((r) => r.pid).sort());
  assert.equal(reasons(events, 'ReplicaStarted').length, 0);

  // An adopted replica is not our child; its death is still noticed and it is restarted.
  const victim = before[0]!;
  process.kill(victim.pid!, 'SIGKILL');
  const restarted = await waitFor('the adopted replica restarted', () => second.replicas().find((r) => r.name === victim.name && r.phase === 'Ready' && r.pid !== victim.pid));
  assert.equal(restarted.restarts, 1);
  assert.equal(restarted.adopted, false);

  await second.close();
  assert.equal(isProcessAlive(restarted.pid!), false);
  assert.equal(isProcessAlive(before[1]!.pid!), false, 'an adopted replica is drained on close');
});

test('replicas of a SIGKILLed karb are adopted by the next one', async (t) => {
  const { dir, track, pids } = scratch(t);
  const template = fixtureTemplate('echo-00001');
  const host = spawn(process.execPath, [karbHostPath, dir, JSON.stringify(template), '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  pids.add(host.pid!);
  const [line] = (await once(createInterface({ input: host.stdout! }), 'line')) as [string];
  const { pids: replicaPids } = JSON.parse(line) as { pids: number[] };
  for (const pid of replicaPids) pids.add(pid);

  host.kill('SIGKILL');
  await once(host, 'exit');
  for (const pid of replicaPids) assert.ok(isProcessAlive(pid), `replica ${pid} outlives the SIGKILLed karb`);

  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast }));
  const events = recordEvents(runtime);
  await runtime.ensureRevision(template, 2);
  assert.deepEqual(runtime.replicas().map((r) => r.pid).sort(), [...replicaPids].sort());
  assert.equal(runtime.endpoints().length, 2);
  assert.deepEqual(events.map((e) => e.reason), ['ReplicaAdopted', 'ReplicaAdopted']);

  await runtime.close();
  for (const pid of replicaPids) assert.equal(isProcessAlive(pid), false);
});

test('records of gone, reused, unready or unreadable processes are cleaned up on recovery', async (t) => {
  const { dir, track, pids } = scratch(t);
  const records = new ReplicaRecordStore(join(dir, 'replicas'));
  const spec = localProcessSpec(fixtureTemplate('echo-00001'), dir);
  const record = (name: string, pid: number, argv: string[], start?: string): ReplicaRecord => ({
    version: 1,
    name,
    namespace: 'default',
    service: 'echo',
    revision: 'echo-00001',
    templateHash: processSpecHash(spec),
    template: spec,
    pid,
    port: 1,
    url: 'http://127.0.0.1:1',
    argv,
    ...(start === undefined ? {} : { processStartTime: start }),
    createdAt: 0,
    startedAt: 0,
    restarts: 0,
  });

  // A process that has exited.
  const gone = spawn(process.execPath, ['-e', '']);
  await once(gone, 'exit');
  records.write(record('echo-00001-gone0', gone.pid!, [process.execPath, '-e', '']));
  // A live pid that is not the recorded process (this test process stands in for a reused pid).
  records.write(record('echo-00001-reuse', process.pid, ['some-other-server'], '1'));
  // Our process, alive, but not answering readiness: stopped rather than adopted.
  const unreadyFile = join(dir, 'unready');
  writeFileSync(unreadyFile, '');
  const argv = [process.execPath, fixturePath, '--unready-file', unreadyFile];
  const port = await allocatePort('127.0.0.1');
  const unready = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore', env: { ...process.env, PORT: String(port) } });
  pids.add(unready.pid!);
  await waitFor('the unready process to start', () => processStartTime(unready.pid!));
  records.write({ ...record('echo-00001-unrdy', unready.pid!, argv, processStartTime(unready.pid!)), port, url: `http://127.0.0.1:${port}` });
  // Garbage.
  writeFileSync(join(dir, 'replicas', 'echo-00001-junk0.json'), '{"version":1');
  writeFileSync(join(dir, 'replicas', 'echo-00001-half0.json.123.tmp'), '{');

  const logged: Array<Record<string, unknown>> = [];
  const runtime = track(new LocalRuntime({ stateDir: dir, ...fast, log: (r) => logged.push(r) }));
  const events = recordEvents(runtime);
  await runtime.recover();
  await runtime.settled();

  assert.deepEqual(runtime.replicas(), []);
  assert.deepEqual(reasons(events, 'ReplicaAdopted'), []);
  const stopped = reasons(events, 'ReplicaStopped').map((e) => e.replica).sort();
  assert.deepEqual(stopped, ['echo-00001-gone0', 'echo-00001-reuse', 'echo-00001-unrdy']);
  assert.match(events.find((e) => e.replica === 'echo-00001-reuse')!.message, /another process \(PidReused\)/);
  assert.match(reasons(events, 'ReplicaDraining').find((e) => e.replica === 'echo-00001-unrdy')!.message, /does not answer readiness/);
  assert.equal(isProcessAlive(unready.pid!), false, 'our own unready process was stopped');
  assert.ok(isProcessAlive(process.pid));
  assert.deepEqual(records.readAll(), { records: [], discarded: [] });
  assert.ok(!existsSync(join(dir, 'replicas', 'echo-00001-half0.json.123.tmp')));
  assert.equal(logged.filter((r) => r.msg === 'discarded an unreadable replica record').length, 1);
});
