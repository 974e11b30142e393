/**
 * A program karb's tests build from a Go module of their own (the test cluster, the OTLP
 * collector), built once per machine into a cache keyed by what decides its content: the listed
 * sources (go.mod, go.sum, the Go files) and `go version`.
 *
 *   <cache>/<key>/bin/<name>      cache = $<cacheEnv>, else ~/.cache/<cacheName>
 *
 * A cold build downloads modules from the Go module proxy and compiles for minutes, so callers
 * that start at once (two test files, npm test's prerequisites step) share one: the first takes
 * `<key>/build.lock`, the others wait for its binary. A builder killed mid-build leaves its lock
 * behind; the next caller sees its pid is gone and takes over.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '../src/runtime/local/process-identity.ts';

export type Log = (line: string) => void;

export interface GoProgram {
  /** The binary's name, and what a person reads in messages ("the test cluster"). */
  name: string;
  what: string;
  /** The Go module's folder, and the files (relative to it) whose content keys the cache. */
  moduleDir: string;
  sources: readonly string[];
  /** The package to build, relative to the module (`./cmd/karb-cluster`). */
  pkg: string;
  /** The cache folder's variable and default name under ~/.cache. */
  cacheEnv: string;
  cacheName: string;
  /** What a first build costs, for the line a person waits on ("about ten minutes on two cores"). */
  firstBuild: string;
  ldflags?: string;
  /** Makes the error thrown for a missing Go or a failed build (the caller's own error type). */
  fail(message: string, log?: string): Error;
}

export function goCacheRoot(program: Pick<GoProgram, 'cacheEnv' | 'cacheName'>, env: NodeJS.ProcessEnv = process.env): string {
  if (env[program.cacheEnv]) return env[program.cacheEnv]!;
  return path.join(env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), program.cacheName);
}

/** Where this source, built by this Go, lives in the cache. */
export function goBinaryPath(program: GoProgram, env: NodeJS.ProcessEnv = process.env): { key: string; dir: string; binary: string } {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) throw program.fail(`${program.what} is built with Go, and \`go\` is not on PATH: install Go 1.26 or newer (https://go.dev/dl/), then try again`);
  const hash = createHash('sha256');
  for (const file of program.sources) hash.update(file).update('\0').update(readFileSync(path.join(program.moduleDir, file))).update('\0');
  hash.update(go.stdout.trim());
  const key = hash.digest('hex').slice(0, 16);
  const dir = path.join(goCacheRoot(program, env), key);
  return { key, dir, binary: path.join(dir, 'bin', program.name) };
}

/** Takes `lock`, or returns the pid of the live process holding it (0: one still writing its pid). */
function tryLock(lock: string): number | 'taken' {
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return 'taken';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(lock, 'utf8'));
    } catch {
      continue; // released between the two calls
    }
    if (Number.isInteger(holder) && holder > 0 && !isProcessAlive(holder)) rmSync(lock, { force: true });
    else return Number.isInteger(holder) && holder > 0 ? holder : 0;
  }
}

function runBuild(program: GoProgram, dir: string, log: Log): Promise<void> {
  const logFile = path.join(dir, 'build.log');
  const out = path.join(dir, 'bin', `.${program.name}.${process.pid}`);
  mkdirSync(path.dirname(out), { recursive: true });
  const args = ['build', '-trimpath', '-buildvcs=false', '-p', '2', `-ldflags=${program.ldflags ?? '-s -w'}`, '-o', out, program.pkg];
  log(`building ${program.what} (go build in ${program.moduleDir}); a first build on a machine takes ${program.firstBuild}; log: ${logFile}`);
  const fd = openSync(logFile, 'w');
  writeSync(fd, `cd ${program.moduleDir} && go ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}\n`);
  const started = Date.now();
  return new Promise<void>((resolve, reject) => {
    const child = spawn('go', args, { cwd: program.moduleDir, stdio: ['ignore', fd, fd] });
    child.once('error', (err) => reject(program.fail(`could not run go: ${err.message}`, logFile)));
    child.once('exit', (code, signal) => {
      closeSync(fd);
      if (code !== 0) {
        rmSync(out, { force: true });
        reject(program.fail(`building ${program.what} failed (go build ${signal ?? `exit ${code}`})`, logFile));
        return;
      }
      renameSync(out, path.join(dir, 'bin', program.name));
      log(`built ${program.what} in ${Math.round((Date.now() - started) / 1000)} s`);
      resolve();
    });
  });
}

/** The path of the built binary: built now if the cache lacks it, or awaited if another process is building it. */
export async function ensureGoBinary(program: GoProgram, log: Log = () => {}): Promise<string> {
  const { dir, binary } = goBinaryPath(program);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, 'build.lock');
  let told = false;
  for (;;) {
    const holder = tryLock(lock);
    if (holder === 'taken') break;
    if (!told) {
      log(`waiting for the build of ${program.what} already running (pid ${holder || 'unknown'}, log: ${path.join(dir, 'build.log')})`);
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (existsSync(binary)) return binary;
  }
  try {
    if (!existsSync(binary)) await runBuild(program, dir, log);
    return binary;
  } finally {
    rmSync(lock, { force: true });
  }
}
