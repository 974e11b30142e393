/**
 * The control plane's one binary (test/cluster/cmd/karb-cluster: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kubectl), built once per machine into a cache keyed
 * by what decides its content: go.mod, go.sum, the Go sources and `go version`.
 *
 *   <cache>/<key>/bin/karb-cluster      cache = $KARB_CLUSTER_CACHE, else ~/.cache/karb-cluster
 *
 * A cold build downloads the modules and compiles Kubernetes (about ten minutes on two cores),
 * so callers that start at once (two test files) share one: the first takes `<key>/build.lock`,
 * the others wait for its binary.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '../../src/runtime/local/process-identity.ts';

/** The Go module (go.mod, go.sum, cmd/karb-cluster). */
export const MODULE_DIR = import.meta.dirname;
const SOURCES = ['go.mod', 'go.sum', 'cmd/karb-cluster/main.go', 'cmd/karb-cluster/parent_linux.go'];

export type Log = (line: string) => void;

/** A failure a person acts on: one line, and the log that says more. */
export class ClusterError extends Error {
  readonly log: string | undefined;
  /** A component exited because its port was taken: another try on other ports may do. */
  readonly portTaken: boolean;
  constructor(message: string, log?: string, portTaken = false) {
    super(log === undefined ? message : `${message} (log: ${log})`);
    this.log = log;
    this.portTaken = portTaken;
  }
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KARB_CLUSTER_CACHE) return env.KARB_CLUSTER_CACHE;
  return path.join(env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'karb-cluster');
}

/** The Kubernetes release go.mod pins (`k8s.io/kubernetes v1.37.2` → "v1.37.2"). */
export function kubernetesVersion(goMod = readFileSync(path.join(MODULE_DIR, 'go.mod'), 'utf8')): string {
  const found = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m.exec(goMod);
  if (!found) throw new ClusterError('test/cluster/go.mod does not require k8s.io/kubernetes at a release version');
  return found[1]!;
}

function goVersion(): string {
  const run = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (run.error || run.status !== 0) {
    throw new ClusterError(
      'the test cluster is built with Go, and `go` is not on PATH: install Go 1.26 or newer (https://go.dev/dl/), then try again',
    );
  }
  return run.stdout.trim();
}

/** Where this source, built by this Go, lives in the cache. */
export function binaryPath(env: NodeJS.ProcessEnv = process.env): { key: string; dir: string; binary: string } {
  const hash = createHash('sha256');
  for (const file of SOURCES) hash.update(file).update('\0').update(readFileSync(path.join(MODULE_DIR, file))).update('\0');
  hash.update(goVersion());
  const key = hash.digest('hex').slice(0, 16);
  const dir = path.join(cacheRoot(env), key);
  return { key, dir, binary: path.join(dir, 'bin', 'karb-cluster') };
}

/** -ldflags: stripped, and reporting the release it is (as Kubernetes's own build does). */
function ldflags(version: string): string {
  const [major, minor] = version.slice(1).split('.');
  const flags = ['-s', '-w'];
  for (const pkg of ['k8s.io/client-go/pkg/version', 'k8s.io/component-base/version']) {
    flags.push(`-X ${pkg}.gitVersion=${version}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`, `-X ${pkg}.gitTreeState=clean`);
  }
  return flags.join(' ');
}


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Takes `<key>/build.lock`, or returns the pid of the live process holding it. */
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
    // A holder that died (killed mid-build) leaves its lock behind; an empty file is one still being written.
    if (Number.isInteger(holder) && holder > 0 && !isProcessAlive(holder)) rmSync(lock, { force: true });
    else return Number.isInteger(holder) && holder > 0 ? holder : 0;
  }
}

function runBuild(dir: string, version: string, log: Log): Promise<void> {
  const logFile = path.join(dir, 'build.log');
  const out = path.join(dir, 'bin', `.karb-cluster.${process.pid}`);
  mkdirSync(path.dirname(out), { recursive: true });
  const args = ['build', '-trimpath', '-buildvcs=false', '-p', '2', `-ldflags=${ldflags(version)}`, '-o', out, './cmd/karb-cluster'];
  log(`building the test cluster (Kubernetes ${version}, go build in ${MODULE_DIR}); a first build on a machine takes about ten minutes on two cores; log: ${logFile}`);
  const fd = openSync(logFile, 'w');
  writeSync(fd, `cd ${MODULE_DIR} && go ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}\n`);
  const started = Date.now();
  return new Promise<void>((resolve, reject) => {
    const child = spawn('go', args, { cwd: MODULE_DIR, stdio: ['ignore', fd, fd] });
    child.once('error', (err) => reject(new ClusterError(`could not run go: ${err.message}`, logFile)));
    child.once('exit', (code, signal) => {
      closeSync(fd);
      if (code !== 0) {
        rmSync(out, { force: true });
        reject(new ClusterError(`building the test cluster failed (go build ${signal ?? `exit ${code}`})`, logFile));
        return;
      }
      renameSync(out, path.join(dir, 'bin', 'karb-cluster'));
      log(`built the test cluster in ${Math.round((Date.now() - started) / 1000)} s`);
      resolve();
    });
  });
}

/**
 * The path of the built binary: built now if the cache lacks it, or awaited if another process
 * is building it.
 */
export async function ensureBinary(log: Log = () => {}): Promise<string> {
  const { dir, binary } = binaryPath();
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, 'build.lock');
  let told = false;
  for (;;) {
    const holder = tryLock(lock);
    if (holder === 'taken') break;
    if (!told) {
      log(`waiting for the test cluster build already running (pid ${holder || 'unknown'}, log: ${path.join(dir, 'build.log')})`);
      told = true;
    }
    await sleep(1000);
    if (existsSync(binary)) return binary;
  }
  try {
    if (!existsSync(binary)) await runBuild(dir, kubernetesVersion(), log);
    return binary;
  } finally {
    rmSync(lock, { force: true });
  }
}
