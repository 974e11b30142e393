/**
 * The control plane's one binary (test/cluster/cmd/karb-cluster: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kubectl), built once per machine by ../go-build.ts
 * into a cache keyed by what decides its content: go.mod, go.sum, the Go sources and `go version`.
 *
 *   <cache>/<key>/bin/karb-cluster      cache = $KARB_CLUSTER_CACHE, else ~/.cache/karb-cluster
 *
 * A cold build downloads the modules and compiles Kubernetes (about ten minutes on two cores),
 * so callers that start at once (two test files) share one.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ensureGoBinary, goCacheRoot, type GoProgram, type Log } from '../go-build.ts';

export type { Log };

/** The Go module (go.mod, go.sum, cmd/karb-cluster). */
export const MODULE_DIR = import.meta.dirname;

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

const CACHE = { cacheEnv: 'KARB_CLUSTER_CACHE', cacheName: 'karb-cluster' };

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return goCacheRoot(CACHE, env);
}

/** The Kubernetes release go.mod pins (`k8s.io/kubernetes v1.37.2` → "v1.37.2"). */
export function kubernetesVersion(goMod = readFileSync(path.join(MODULE_DIR, 'go.mod'), 'utf8')): string {
  const found = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m.exec(goMod);
  if (!found) throw new ClusterError('test/cluster/go.mod does not require k8s.io/kubernetes at a release version');
  return found[1]!;
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

/** The path of the built binary: built now if the cache lacks it, or awaited if another process is building it. */
export function ensureBinary(log: Log = () => {}): Promise<string> {
  const version = kubernetesVersion();
  const program: GoProgram = {
    name: 'karb-cluster',
    what: `the test cluster (Kubernetes ${version})`,
    moduleDir: MODULE_DIR,
    sources: ['go.mod', 'go.sum', 'cmd/karb-cluster/main.go', 'cmd/karb-cluster/parent_linux.go'],
    pkg: './cmd/karb-cluster',
    ...CACHE,
    firstBuild: 'about ten minutes on two cores',
    ldflags: ldflags(version),
    fail: (message, logFile) => new ClusterError(message, logFile),
  };
  return ensureGoBinary(program, log);
}
