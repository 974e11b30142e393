/**
 * The karb CLI on input a caller got wrong in a hostile way: it says what is
 * wrong and exits non-zero before it contacts any control plane (the --server
 * given here has nothing listening).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI, NODE, REPO_ROOT } from '../serving/test-helpers.ts';
import { ALIAS_BOMB_YAML } from '../../test/hostile/control-corpus.ts';

const NOWHERE = 'http://127.0.0.1:9';

async function karb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(NODE, [CLI, ...args], { cwd: REPO_ROOT, env: { ...process.env, KARB_TOKEN: 'unused' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('karb apply -f on a YAML alias bomb exits 1 naming the aliases', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-bomb-'));
  try {
    const file = path.join(dir, 'bomb.yaml');
    writeFileSync(file, ALIAS_BOMB_YAML);
    const { code, stderr } = await karb(['apply', '-f', file, '--server', NOWHERE]);
    assert.equal(code, 1, stderr);
    assert.equal(stderr, `karb: ${file}: the manifest uses too many YAML aliases (an alias bomb?): Excessive alias count indicates a resource exhaustion attack\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('karb keys create --expires past 100 years is a usage error that gives the range', async () => {
  for (const expires of ['100000000d', '36501d', `${'9'.repeat(400)}w`, 'forever']) {
    const { code, stderr } = await karb(['keys', 'create', '--namespace', 'default', '--expires', expires, '--server', NOWHERE]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^karb: --expires must be a duration from 1s to 36500d \(100 years\), such as 30d, 12h, 90m or 2w \(got /);
  }
});
