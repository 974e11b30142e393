/**
 * The state directory is private: a real `karb up`, started on a `.karb/` that
 * an older karb left readable by everyone, serving a model (so there is a
 * replica record and a replica log), leaves no file or folder under `.karb/`
 * that its group or other users can read — SQLite's -wal and -shm included —
 * and says in its log that it tightened the directory.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fraudRequest, ROOT, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

/** Every path under `dir` (itself included) with its permission bits. */
function tree(dir: string): Array<{ path: string; mode: number }> {
  const stat = lstatSync(dir);
  const out = [{ path: dir, mode: stat.mode & 0o7777 }];
  if (stat.isDirectory()) for (const entry of readdirSync(dir)) out.push(...tree(join(dir, entry)));
  return out;
}

describe('state directory permissions', () => {
  const work = workDir('karb-state-perms-');
  const state = join(work.dir, '.karb');
  let up: KarbUp;

  before(async () => {
    // What an older karb left: a world-readable directory, a log folder and a log in it.
    mkdirSync(join(state, 'logs'), { recursive: true });
    writeFileSync(join(state, 'logs', 'old-replica.log'), 'an old replica log\n');
    chmodSync(state, 0o755);
    chmodSync(join(state, 'logs'), 0o755);
    chmodSync(join(state, 'logs', 'old-replica.log'), 0o644);

    up = await startKarbUp(work.dir);
    const manifest = readFileSync(join(ROOT, 'examples/fraud-detector.yaml'), 'utf8');
    const put = await fetch(`${up.controlUrl}/api/v1/services/fraud-detector`, { method: 'PUT', headers: { ...up.admin, 'content-type': 'application/yaml' }, body: manifest });
    assert.equal(put.status, 201, await put.text());
    const infer = () => fetch(`${up.gatewayUrl}/v2/models/fraud-detector/infer`, { method: 'POST', headers: { ...up.auth, 'content-type': 'application/json' }, body: fraudRequest([[42.5, 14, 0.1, 3.2, 1, 0, 1, 1200]]) });
    await waitFor('fraud-detector to answer', async () => (await infer()).status === 200);
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('leaves nothing under .karb/ readable, writable or searchable by group or others', () => {
    const entries = tree(state);
    const names = entries.map((e) => relative(state, e.path));
    // The check covers what matters: the databases with their WAL files, the token, replica records and logs.
    for (const expected of ['', 'karb.db', 'karb.db-wal', 'karb.db-shm', 'jobs.db', 'admin-token', 'karb.pid', 'logs', 'replicas', 'logs/old-replica.log']) {
      assert.ok(names.includes(expected), `${expected || '.karb'} exists (found ${names.join(', ')})`);
    }
    assert.ok(names.some((n) => /^replicas\/fraud-detector-00001-\w+\.json$/.test(n)), `a replica record exists (found ${names.join(', ')})`);
    assert.ok(names.some((n) => /^logs\/fraud-detector-00001-\w+\.log$/.test(n)), `a replica log exists (found ${names.join(', ')})`);
    const open = entries.filter((e) => (e.mode & 0o077) !== 0).map((e) => `${relative(state, e.path) || '.karb'} ${e.mode.toString(8)}`);
    assert.deepEqual(open, [], `group/other permission bits on: ${open.join(', ')}`);
    assert.equal(lstatSync(state).mode & 0o777, 0o700);
  });

  it('says that it made an existing state directory private', () => {
    const line = up.output().split('\n').find((l) => l.includes('the state directory was readable by other users'));
    assert.ok(line, `a log line about tightening .karb/ (output:\n${up.output()})`);
    const record = JSON.parse(line) as { level: string; stateDir: string; paths: number };
    assert.equal(record.level, 'warn');
    assert.equal(record.stateDir, state);
    assert.equal(record.paths, 3, 'the directory, logs/ and the old log were tightened');
  });
});
