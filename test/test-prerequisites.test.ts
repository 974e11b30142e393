/**
 * `npm test`'s first step: what a machine without redis-server (or openssl) is told, or given.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PREREQUISITES, missingMessage, onPath, planPrerequisites } from '../scripts/test-prerequisites.ts';

const SCRIPT = fileURLToPath(new URL('../scripts/test-prerequisites.ts', import.meta.url));
const redis = PREREQUISITES.find((p) => p.command === 'redis-server')!;
const openssl = PREREQUISITES.find((p) => p.command === 'openssl')!;

test('the plan: nothing missing does nothing; root with apt-get installs the Debian packages; anyone else is told', () => {
  const cases = [
    { missing: [], root: true, aptGet: true, want: { action: 'none' } },
    { missing: [], root: false, aptGet: false, want: { action: 'none' } },
    { missing: [redis], root: true, aptGet: true, want: { action: 'install', packages: ['redis-server'] } },
    { missing: [redis, openssl], root: true, aptGet: true, want: { action: 'install', packages: ['redis-server', 'openssl'] } },
    // a person's machine is theirs to change: no sudo behind their back
    { missing: [redis], root: false, aptGet: true, want: { action: 'explain', message: missingMessage([redis]) } },
    // root without apt-get (not Debian): nothing to install with
    { missing: [redis], root: true, aptGet: false, want: { action: 'explain', message: missingMessage([redis]) } },
  ] as const;
  for (const c of cases) {
    assert.deepEqual(planPrerequisites(c.missing, { root: c.root, aptGet: c.aptGet }), c.want, JSON.stringify(c));
  }
});

test('the message is one line naming what is missing, why, and the command that installs it', () => {
  const one = missingMessage([redis]);
  assert.doesNotMatch(one, /\n/);
  assert.match(one, /needs redis-server on PATH/);
  assert.match(one, /Redis rate-limit/);
  assert.match(one, /sudo apt-get install -y redis-server"/);
  assert.match(one, /brew install redis"/);
  const two = missingMessage([redis, openssl]);
  assert.doesNotMatch(two, /\n/);
  assert.match(two, /needs redis-server and openssl on PATH/);
  assert.match(two, /apt-get install -y redis-server openssl"/);
});

test('onPath finds an executable in one of the folders and nothing in an empty PATH', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-prereq-'));
  try {
    symlinkSync(process.execPath, path.join(dir, 'node'));
    assert.equal(onPath('node', `/nonexistent${path.delimiter}${dir}`), true);
    assert.equal(onPath('redis-server', dir), false);
    assert.equal(onPath('node', ''), false);
    assert.equal(onPath('node', undefined), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('on a PATH with none of the prerequisites and no apt-get the step prints the one line, naming them all, and exits 1', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-prereq-'));
  try {
    symlinkSync(process.execPath, path.join(dir, 'node'));
    const run = spawnSync(process.execPath, [SCRIPT], { env: { PATH: dir, HOME: dir }, encoding: 'utf8' });
    assert.equal(run.status, 1, run.stderr);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, `${missingMessage(PREREQUISITES)}\n`);
    assert.match(run.stderr, /apt-get install -y redis-server openssl prometheus chromium"/, 'each Debian package once');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
