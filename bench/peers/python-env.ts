/**
 * A Python virtual environment for the peer benchmarks (bench/peers-*.ts): the
 * peers users would run instead of karb (LiteLLM's proxy, KServe's model
 * server, Ray Serve) are installed from PyPI with pinned versions into a
 * venv under the cache, keyed by the pinned list, so a second run reuses it.
 * Nothing is fetched from anywhere but PyPI. A peer that cannot be installed
 * is reported with pip's own last lines, so the benchmark can say why.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type PythonEnv = { ok: true; python: string; dir: string } | { ok: false; why: string };

/** The cache folder of the peers' environments: $KARB_PEERS_CACHE, else ~/.cache/karb-peers. */
export function peersCacheDir(): string {
  return process.env.KARB_PEERS_CACHE ?? join(homedir(), '.cache', 'karb-peers');
}

/**
 * A venv with exactly `requirements` (pip requirement lines, each pinned with ==) installed,
 * created on first use. `name` names the folder (e.g. 'litellm'); `python` the interpreter that
 * makes it (default python3).
 */
export function pythonEnv(name: string, requirements: readonly string[], python = process.env.KARB_PEERS_PYTHON ?? 'python3'): PythonEnv {
  const unpinned = requirements.filter((r) => !/==/.test(r));
  if (unpinned.length > 0) return { ok: false, why: `requirements must be pinned with ==: ${unpinned.join(', ')}` };
  const key = createHash('sha256').update(requirements.join('\n')).digest('hex').slice(0, 12);
  const dir = join(peersCacheDir(), `${name}-${key}`);
  const venvPython = join(dir, 'bin', 'python');
  const done = join(dir, '.installed');
  if (existsSync(done)) return { ok: true, python: venvPython, dir };
  mkdirSync(peersCacheDir(), { recursive: true });
  const venv = spawnSync(python, ['-m', 'venv', dir], { encoding: 'utf8' });
  if (venv.status !== 0) return { ok: false, why: `${python} -m venv failed: ${lastLines(venv.stderr || venv.stdout, 5, venv.error)}` };
  const pip = spawnSync(venvPython, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', ...requirements], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (pip.status !== 0) return { ok: false, why: `pip install ${requirements.join(' ')} failed: ${lastLines(pip.stderr || pip.stdout, 5, pip.error)}` };
  writeFileSync(done, `${requirements.join('\n')}\n`);
  return { ok: true, python: venvPython, dir };
}

/** The version pip installed of `pkg` in the env, for the results table. */
export function installedVersion(env: { python: string }, pkg: string): string | undefined {
  const r = spawnSync(env.python, ['-m', 'pip', 'show', pkg], { encoding: 'utf8' });
  return /^Version: (.+)$/m.exec(r.stdout ?? '')?.[1]?.trim();
}

/** The last lines of a child's output; a child that never started (no such interpreter) has none, so its spawn error stands in. */
function lastLines(text: string | null | undefined, n = 5, error?: Error): string {
  if (!text) return error?.message ?? '(no output)';
  return text.trim().split('\n').slice(-n).join(' | ');
}
