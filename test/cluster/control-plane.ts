/**
 * A Kubernetes control plane on loopback, for karb's tests: etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler from the one binary build.ts makes, in a state
 * folder that holds everything it writes:
 *
 *   pki/                          CA, serving and client certificates, service-account keys
 *   etcd/                         etcd's data
 *   logs/<component>.log          each process's output
 *   admin.kubeconfig              O=system:masters
 *   controller-manager.kubeconfig, scheduler.kubeconfig
 *   bin/kubectl                   a link to the binary, which runs as kubectl by that name
 *   state.json                    the binary, the ports and the pid of each process
 *
 * There is no kubelet: Pods are scheduled nowhere and stay Pending.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { waitFor } from '../../src/util/wait-for.ts';
import { ClusterError, type Log } from './build.ts';
import { FRONT_PROXY_CLIENT_NAME, makePki, SERVICE_CIDR, type Pki } from './pki.ts';
import { freePort } from '../../src/util/free-port.ts';

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type Component = (typeof COMPONENTS)[number];

export interface ClusterState {
  binary: string;
  dir: string;
  server: string;
  kubeconfig: string;
  kubectl: string;
  ports: { etcd: number; etcdPeer: number; apiserver: number; controllerManager: number; scheduler: number };
  pids: Partial<Record<Component, number>>;
}

export interface StartOptions {
  binary: string;
  /** The state folder; made if missing. */
  dir: string;
  /** Start the processes in their own sessions, so they outlive this one (the CLI's `up`). */
  detached: boolean;
  log?: Log;
  /** How long to wait for each step (generous: a bound on a hang, not a timing). */
  timeoutMs?: number;
}

const STATE_FILE = 'state.json';

async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function kubeconfig(file: string, server: string, ca: string, user: { cert: string; key: string }, name: string): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'karb-test', cluster: { server, 'certificate-authority': ca } }],
    users: [{ name, user: { 'client-certificate': user.cert, 'client-key': user.key } }],
    contexts: [{ name: 'karb-test', context: { cluster: 'karb-test', user: name } }],
    'current-context': 'karb-test',
  };
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** An HTTPS GET to the apiserver (or another component) as the given client. */
export function httpsGet(
  url: string,
  tls: { ca: string; cert?: string; key?: string; token?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: readFileSync(tls.ca),
        cert: tls.cert === undefined ? undefined : readFileSync(tls.cert),
        key: tls.key === undefined ? undefined : readFileSync(tls.key),
        headers: tls.token === undefined ? {} : { authorization: `Bearer ${tls.token}` },
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no answer from ${url} in 10 s`)));
    req.once('error', reject);
    req.end();
  });
}

function componentArgs(component: Component, dir: string, pki: Pki, ports: ClusterState['ports']): string[] {
  const etcdUrl = `https://127.0.0.1:${ports.etcd}`;
  const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
  switch (component) {
    case 'etcd':
      return [
        '--name=karb-test',
        `--data-dir=${path.join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        // one member: the peer port is bound but never dialled
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=karb-test=${peerUrl}`,
        `--cert-file=${pki.etcd.cert}`,
        `--key-file=${pki.etcd.key}`,
        `--trusted-ca-file=${pki.ca.cert}`,
        '--client-cert-auth',
        // a test cluster's data is thrown away: no fsync spares the disk and the clock
        '--unsafe-no-fsync',
        '--log-level=warn',
      ];
    case 'kube-apiserver':
      return [
        '--advertise-address=127.0.0.1',
        // the Endpoints of Service kubernetes may not hold a loopback address: none are kept
        '--endpoint-reconciler-type=none',
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.apiserver}`,
        `--etcd-servers=${etcdUrl}`,
        `--etcd-cafile=${pki.ca.cert}`,
        `--etcd-certfile=${pki.etcdClient.cert}`,
        `--etcd-keyfile=${pki.etcdClient.key}`,
        `--tls-cert-file=${pki.apiserver.cert}`,
        `--tls-private-key-file=${pki.apiserver.key}`,
        `--client-ca-file=${pki.ca.cert}`,
        '--authorization-mode=Node,RBAC',
        // on by default in this release; named so that a default changing cannot turn them off
        '--enable-admission-plugins=NodeRestriction,PodSecurity,ValidatingAdmissionPolicy',
        // privileged containers are allowed by the apiserver, so PodSecurity is what refuses them
        '--allow-privileged=true',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.serviceAccount.pub}`,
        `--service-account-signing-key-file=${pki.serviceAccount.key}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        // The aggregation layer: proxied requests carry the user in headers, vouched for by the
        // front-proxy certificate; with no kube-proxy, the apiserver dials the endpoint itself.
        `--requestheader-client-ca-file=${pki.frontProxyCa.cert}`,
        `--requestheader-allowed-names=${FRONT_PROXY_CLIENT_NAME}`,
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${pki.frontProxyClient.cert}`,
        `--proxy-client-key-file=${pki.frontProxyClient.key}`,
        '--enable-aggregator-routing=true',
        '--profiling=false',
      ];
    case 'kube-controller-manager': {
      const kc = path.join(dir, 'controller-manager.kubeconfig');
      return [
        `--kubeconfig=${kc}`,
        `--authentication-kubeconfig=${kc}`,
        `--authorization-kubeconfig=${kc}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.controllerManager}`,
        `--tls-cert-file=${pki.controllerManagerServing.cert}`,
        `--tls-private-key-file=${pki.controllerManagerServing.key}`,
        '--controllers=*',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${pki.serviceAccount.key}`,
        `--root-ca-file=${pki.ca.cert}`,
        `--cluster-signing-cert-file=${pki.ca.cert}`,
        `--cluster-signing-key-file=${pki.ca.key}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--cluster-name=karb-test',
        // 15 s by default; a third of it keeps tests of the HPA short without changing what it does
        '--horizontal-pod-autoscaler-sync-period=5s',
        '--leader-elect=false',
        '--profiling=false',
      ];
    }
    case 'kube-scheduler': {
      const kc = path.join(dir, 'scheduler.kubeconfig');
      return [
        `--kubeconfig=${kc}`,
        `--authentication-kubeconfig=${kc}`,
        `--authorization-kubeconfig=${kc}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.scheduler}`,
        `--tls-cert-file=${pki.schedulerServing.cert}`,
        `--tls-private-key-file=${pki.schedulerServing.key}`,
        '--leader-elect=false',
        '--profiling=false',
      ];
    }
  }
}

export function logFile(dir: string, component: Component): string {
  return path.join(dir, 'logs', `${component}.log`);
}

export function readState(dir: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, STATE_FILE), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

function writeState(state: ClusterState): void {
  writeFileSync(path.join(state.dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

/** Is `pid` running, and running `binary` (not a later process given a recycled pid)? */
export function running(pid: number, binary: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false; // exited, not yet reaped
    return readlinkSync(`/proc/${pid}/exe`) === binary;
  } catch {
    return !existsSync('/proc/self/stat'); // no /proc (macOS): the pid is all there is to go on
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stops the processes of the state that still run the binary, dependants first (the scheduler
 * and controller-manager, then the apiserver, then etcd: an apiserver whose etcd is gone waits on
 * it instead of exiting): SIGTERM, then SIGKILL to any left after `graceMs`. Resolves when none
 * runs.
 */
export async function stopProcesses(state: Pick<ClusterState, 'binary' | 'pids'>, graceMs = 10_000): Promise<void> {
  const stages: Component[][] = [['kube-scheduler', 'kube-controller-manager'], ['kube-apiserver'], ['etcd']];
  for (const stage of stages) {
    const pids = stage.map((c) => state.pids[c]).filter((pid): pid is number => pid !== undefined && running(pid, state.binary));
    for (const pid of pids) signal(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    let left = pids;
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(50);
      left = left.filter((pid) => running(pid, state.binary));
    }
    for (const pid of left) signal(pid, 'SIGKILL');
    while (left.length > 0) {
      await sleep(20);
      left = left.filter((pid) => running(pid, state.binary));
    }
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}

export interface ControlPlane {
  state: ClusterState;
  /** Stops every process; the state folder stays. */
  stop(): Promise<void>;
}

/**
 * Makes the certificates and kubeconfigs, starts the four processes and resolves once the
 * apiserver's /readyz is ok and namespace `default` has its ServiceAccount `default`. On a
 * failure it stops whatever it started and throws a ClusterError naming the log to read.
 */
export async function startControlPlane(options: StartOptions): Promise<ControlPlane> {
  const { binary, dir } = options;
  const log = options.log ?? (() => {});
  mkdirSync(path.join(dir, 'logs'), { recursive: true, mode: 0o700 });
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  const pki = makePki(path.join(dir, 'pki'));
  const kubectl = path.join(dir, 'bin', 'kubectl');
  rmSync(kubectl, { force: true });
  symlinkSync(binary, kubectl);
  // A free port can be taken by another process (another test's cluster) before a component
  // binds it: then start over on new ports, a few times.
  for (let attempt = 1; ; attempt++) {
    const [etcd, etcdPeer, apiserver, controllerManager, scheduler] = (await freePorts(5)) as [number, number, number, number, number];
    const ports = { etcd, etcdPeer, apiserver, controllerManager, scheduler };
    try {
      return await startOnPorts(options, pki, ports, kubectl, log);
    } catch (err) {
      if (!(err instanceof ClusterError && err.portTaken) || attempt === 3) throw err;
      log(`a port was taken meanwhile (${err.message}); starting again on other ports`);
      rmSync(path.join(dir, 'etcd'), { recursive: true, force: true });
    }
  }
}

async function startOnPorts(options: StartOptions, pki: Pki, ports: ClusterState['ports'], kubectl: string, log: Log): Promise<ControlPlane> {
  const { binary, dir, detached } = options;
  const timeoutMs = options.timeoutMs ?? 180_000;
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const admin = kubeconfig(path.join(dir, 'admin.kubeconfig'), server, pki.ca.cert, pki.admin, 'karb-admin');
  kubeconfig(path.join(dir, 'controller-manager.kubeconfig'), server, pki.ca.cert, pki.controllerManager, 'system:kube-controller-manager');
  kubeconfig(path.join(dir, 'scheduler.kubeconfig'), server, pki.ca.cert, pki.scheduler, 'system:kube-scheduler');
  const state: ClusterState = { binary, dir, server, kubeconfig: admin, kubectl, ports, pids: {} };

  let failure: ClusterError | undefined;
  let stopping = false;
  // Resolves when a component fails, so a check that hangs (a port some other process holds
  // accepts and never answers) does not delay the failure.
  let failed!: () => void;
  const failedSeen = new Promise<false>((resolve) => (failed = () => resolve(false)));
  const start = (component: Component) => {
    const file = logFile(dir, component);
    const out = openSync(file, 'a');
    const child = spawn(binary, [component, ...componentArgs(component, dir, pki, ports)], {
      cwd: dir,
      detached,
      // not detached: killed when this process ends, even by SIGKILL (Linux; see parent_linux.go)
      env: detached ? process.env : { ...process.env, KARB_CLUSTER_DIE_WITH_PARENT: String(process.pid) },
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    if (detached) child.unref();
    state.pids[component] = child.pid;
    writeState(state);
    child.once('exit', (code, sig) => {
      if (stopping || failure) return;
      const tail = logTail(file);
      failure = new ClusterError(`${component} exited (${sig ?? `exit ${code}`})${whyFromLog(tail)}`, file, tail.some((l) => /address already in use/.test(l)));
      failed();
    });
    child.once('error', (err) => {
      failure ??= new ClusterError(`${component} could not start: ${err.message}`, file);
      failed();
    });
  };
  const stop = async () => {
    stopping = true;
    await stopProcesses(state);
  };
  /** Waits for `check`, failing at once if a process exits meanwhile. */
  const until = async (what: string, component: Component, check: () => Promise<boolean>): Promise<void> => {
    try {
      const outcome = await waitFor(
        what,
        async () => {
          const ok = await Promise.race([check(), failedSeen]);
          return failure ? { failed: failure } : ok ? { failed: undefined } : undefined;
        },
        timeoutMs,
        250,
      );
      if (outcome.failed) throw outcome.failed;
    } catch (err) {
      if (err instanceof ClusterError) throw err;
      throw new ClusterError((err as Error).message, logFile(dir, component));
    }
  };
  const asAdmin = { ca: pki.ca.cert, cert: pki.admin.cert, key: pki.admin.key };
  try {
    log(`starting etcd on 127.0.0.1:${ports.etcd}`);
    start('etcd');
    await until('etcd to answer /health', 'etcd', async () => {
      const res = await httpsGet(`https://127.0.0.1:${ports.etcd}/health`, { ca: pki.ca.cert, cert: pki.etcdClient.cert, key: pki.etcdClient.key });
      return res.status === 200 && /"health":\s*"true"/.test(res.body);
    });
    log(`starting kube-apiserver on ${server}`);
    start('kube-apiserver');
    await until('kube-apiserver to answer /readyz with ok', 'kube-apiserver', async () => {
      const res = await httpsGet(`${server}/readyz`, asAdmin);
      return res.status === 200 && res.body.trim() === 'ok';
    });
    log('starting kube-controller-manager and kube-scheduler');
    start('kube-controller-manager');
    start('kube-scheduler');
    await until('namespace default and its ServiceAccount default', 'kube-controller-manager', async () => {
      const ns = await httpsGet(`${server}/api/v1/namespaces/default`, asAdmin);
      const sa = ns.status === 200 ? await httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, asAdmin) : ns;
      return sa.status === 200;
    });
    for (const [component, port] of [['kube-controller-manager', ports.controllerManager], ['kube-scheduler', ports.scheduler]] as const) {
      await until(`${component} to answer /healthz with ok`, component, async () => {
        const res = await httpsGet(`https://127.0.0.1:${port}/healthz`, { ca: pki.ca.cert });
        return res.status === 200;
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { state, stop };
}

/** The last lines of a component's log. */
function logTail(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-40);
  } catch {
    return [];
  }
}

/** The last error-looking line of a log's tail, to say why its component exited. */
function whyFromLog(lines: string[]): string {
  const line = [...lines].reverse().find((l) => /^(E|F)\d{4} |error|fatal|failed|address already in use/i.test(l)) ?? lines.at(-1) ?? '';
  return line.length > 300 ? `: ${line.slice(0, 300)}…` : line ? `: ${line}` : '';
}
