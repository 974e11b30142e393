/**
 * One container on the test node, with small Node scripts for processes: a liveness failure
 * restarts it, a process that ignores SIGTERM is killed once its grace period is up, and an init
 * container that fails is run again until it exits 0. No cluster.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { freePort } from '../../src/util/free-port.ts';
import { waitFor } from '../../src/util/wait-for.ts';
import { ContainerRun, type RunOptions } from './container-run.ts';
import type { ProbePlan, ProcessPlan } from './pod-plan.ts';
import type { ContainerObserved } from './pod-status.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'karb-container-run-'));
const runs: ContainerRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.stop(0, false)));
  rmSync(dir, { recursive: true, force: true });
});

const GUARD = pathToFileURL(path.join(import.meta.dirname, 'pod-guard.ts')).href;
const WAIT_MS = 30_000;

function run(name: string, script: string, extra: Partial<ProcessPlan> = {}, options: Partial<RunOptions> = {}) {
  const events: string[] = [];
  const obs: ContainerObserved = { name, image: 'ghcr.io/karb-dev/karb:test', state: { kind: 'waiting', reason: 'ContainerCreating' }, restartCount: 0, ready: false, started: false };
  const plan: ProcessPlan = { refused: false, name, image: obs.image, command: process.execPath, args: ['-e', script], env: { PATH: process.env.PATH ?? '' }, cwd: dir, ...extra };
  const logFile = path.join(dir, `${name}.log`);
  const r = new ContainerRun({
    plan,
    obs,
    init: false,
    restartPolicy: 'Always',
    logFile,
    guard: GUARD,
    podName: 'p',
    hooks: { changed: () => {}, event: (_type, reason, message) => events.push(`${reason}: ${message}`), graceSeconds: () => 1 },
    ...options,
  });
  runs.push(r);
  return { r, obs, events, log: () => readFileSync(logFile, 'utf8') };
}

const probe = (url: string, failureThreshold = 1): ProbePlan => ({
  action: { kind: 'http', url, headers: {} },
  initialDelaySeconds: 0,
  periodSeconds: 1,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold,
});

test('a container that fails its liveness probe is killed and started again; readiness follows its probe', async () => {
  const port = await freePort();
  // Alive for its first two answers, then not; liveness gives up after two failures in a row
  // (one is spent while the server starts).
  const script = `let n = 0; require('node:http').createServer((q, s) => { s.statusCode = q.url === '/live' && ++n > 2 ? 500 : 200; s.end(); }).listen(${port}, '127.0.0.1');`;
  const { r, obs, events } = run('live', script, { readiness: probe(`http://127.0.0.1:${port}/ready`), liveness: probe(`http://127.0.0.1:${port}/live`, 2) });
  r.start();
  await waitFor('ready', () => obs.ready, WAIT_MS);
  assert.equal(obs.started, true, 'no startup probe: started once running');
  await waitFor('a restart after the liveness failure', () => obs.restartCount === 1 && obs.state.kind === 'running', WAIT_MS);
  assert.equal(obs.lastState?.exitCode, 143, 'stopped by SIGTERM: 128 + 15');
  assert.ok(events.some((e) => /^Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 500/.test(e)), events.join('\n'));
  assert.ok(events.some((e) => /^Killing: Container live failed liveness probe, will be restarted/.test(e)));
  await r.stop(1, false);
  assert.equal(obs.state.kind, 'terminated');
});

test('a process that ignores SIGTERM is killed when its grace period is up, after its preStop hook', async () => {
  const { r, obs, log } = run('stubborn', `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); setInterval(() => {}, 1000); console.log('up');`, { preStop: { kind: 'sleep', seconds: 0 } });
  r.start();
  await waitFor('the process to start', () => log().includes('up\n'), WAIT_MS);
  await r.stop(1, true);
  assert.deepEqual(obs.state.kind === 'terminated' && [obs.state.exitCode, obs.state.reason], [137, 'Error']);
  const lines = log();
  assert.ok(lines.indexOf('preStop hook: sleep 0 s') < lines.indexOf('stopping: SIGTERM'));
  assert.ok(lines.indexOf('ignoring SIGTERM') < lines.indexOf('grace period over: SIGKILL'), lines);
  assert.equal(obs.restartCount, 0, 'a stop is not a restart');
});

test('an init container that fails runs again (restartPolicy Always) until it exits 0; then it is done', async () => {
  const marker = path.join(dir, 'tried');
  const script = `const fs = require('node:fs'); if (fs.existsSync(${JSON.stringify(marker)})) process.exit(0); fs.writeFileSync(${JSON.stringify(marker)}, ''); process.exit(3);`;
  const { r, obs } = run('init', script, {}, { init: true });
  r.start();
  assert.equal(await r.finished, true);
  assert.equal(obs.restartCount, 1);
  assert.deepEqual(obs.lastState && [obs.lastState.exitCode, obs.lastState.reason], [3, 'Error']);
  assert.deepEqual(obs.state.kind === 'terminated' && [obs.state.exitCode, obs.state.reason], [0, 'Completed']);
});

test('restartPolicy Never: an init container that fails stays failed', async () => {
  const { r, obs } = run('never', 'process.exit(2)', {}, { init: true, restartPolicy: 'Never' });
  r.start();
  assert.equal(await r.finished, false);
  assert.equal(obs.restartCount, 0);
  assert.deepEqual(obs.state.kind === 'terminated' && obs.state.exitCode, 2);
});
