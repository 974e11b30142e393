import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { PassThrough } from 'node:stream';
import { CLI, NODE, REPO_ROOT, runKarb } from '../serving/test-helpers.ts';
import { reserveCommand, type SignalSource } from './reserve.ts';
import { UsageError } from '../errors.ts';

test('karb reserve runs until SIGTERM and then exits 0, as a placeholder pod’s process must', async () => {
  const child = spawn(NODE, [CLI, 'reserve'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  // Its one line says it is up and waiting (so the signal is handled, not the default kill).
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => stdout.includes('\n') && resolve());
    void exited.then(([code]) => reject(new Error(`karb reserve exited ${code} before it was told to: ${stderr}`)));
  });
  assert.equal(stdout, 'karb reserve: holding this pod’s room until SIGTERM\n');
  // Still running a while later: nothing ends it but a signal.
  const early = await Promise.race([exited.then(() => 'exited'), new Promise((r) => setTimeout(r, 300, 'running'))]);
  assert.equal(early, 'running');
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  assert.deepEqual([code, signal], [0, null], stderr);
  assert.equal(stderr, '');
});

test('karb reserve: SIGINT ends it too; each signal is listened to once and the listeners go with it', async () => {
  const signals = new EventEmitter();
  const out = new PassThrough();
  const done = reserveCommand([], out, signals as unknown as SignalSource);
  assert.equal(signals.listenerCount('SIGTERM'), 1);
  assert.equal(signals.listenerCount('SIGINT'), 1);
  signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.equal(signals.listenerCount('SIGTERM'), 0);
  assert.equal(signals.listenerCount('SIGINT'), 0);
});

test('karb reserve --help prints its usage; an argument is a usage error (exit 2)', async () => {
  const help = await runKarb(['reserve', '--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: karb reserve\n/);
  assert.match(help.stdout, /waits? for SIGTERM/);
  const bad = await runKarb(['reserve', 'now']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, "karb: reserve takes no arguments, got 'now'\n");
  assert.throws(() => reserveCommand(['--bogus'], new PassThrough()), UsageError);
  assert.match((await runKarb(['help'])).stdout, /\n {2}reserve {17}a capacity reservation's placeholder pod: waits for SIGTERM, exits 0\n/);
});
