/**
 * The test node agent: TEST CODE that stands in for the kubelet on the test cluster, because no
 * container runtime runs on these machines. It
 *
 * - registers Nodes (default one, `node-1`; GPU nodes advertise `nvidia.com/gpu` and MIG
 *   profiles such as `nvidia.com/mig-1g.10gb`, with no device behind them), Ready, and
 *   heartbeats through their Leases in kube-node-lease, as a kubelet does;
 * - watches the pods bound to its nodes (field selector spec.nodeName) and runs each as local
 *   processes (pod-worker.ts): karb's image only, as this checkout's CLI; each pod on its own
 *   loopback address (loopback-ips.ts); volumes as local folders with container paths
 *   rewritten in arguments (pod-plan.ts, pod-volumes.ts); probes, restarts, graceful deletion;
 *   status through pods/status (pod-status.ts); output to <dir>/pods/<ns>_<pod>_<uid>/logs/.
 *
 * It authenticates with the admin's client certificate (O=system:masters), not a node identity,
 * so the Node authorizer and NodeRestriction do not apply to it. What it cannot do: images,
 * isolation, cgroups and resource limits, real GPUs, `kubectl logs`/`exec` (there is no kubelet
 * API), exec probes and hooks. See docs/cluster.md.
 *
 *   const agent = await startNodeAgent({ kubeconfig, dir, nodes: [{ name: 'node-1' }, { name: 'gpu-1', gpus: 1 }] });
 *   await agent.stop();   // every pod process ends; the Nodes stay and go NotReady when their Leases run out
 *
 * Also a command, for `npm run cluster:up -- --nodes ...`:
 *   node test/cluster/node-agent.ts --kubeconfig FILE --dir DIR [--node NAME[:gpus=N][:mig-PROFILE=N]]...
 */
import { arch, release } from 'node:os';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { waitFor } from '../../src/util/wait-for.ts';
import { credentialsFromKubeconfig, KubeHttp, KubeHttpError, type KubeObject } from './kube-http.ts';
import { PodAddresses, type PodNetwork } from './pod-addresses.ts';
import { PodWorker } from './pod-worker.ts';
import { signalGroup } from './container-run.ts';
import { microTime } from '../../src/runtime/kubernetes/micro-time.ts';

type Obj = Record<string, any>;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..');
const LEASE_NAMESPACE = 'kube-node-lease';
const LEASE_SECONDS = 40;
const RENEW_MS = 10_000;
const STATUS_EVERY_MS = 60_000;
/** Every node's address: nothing listens for a kubelet API, and pods have their own addresses. */
const HOST_IP = '127.0.0.1';
export const TEST_NODE_LABEL = 'karb.dev/test-node';

export interface TestNodeSpec {
  name: string;
  labels?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }>;
  /** Whole GPUs, advertised as nvidia.com/gpu (and labelled nvidia.com/gpu.present=true); no device is behind them. */
  gpus?: number;
  /** MIG slices by profile: { '1g.10gb': 7 } advertises nvidia.com/mig-1g.10gb: 7. */
  mig?: Record<string, number>;
  /** Capacity (and allocatable) beyond or instead of the defaults: cpu 8, memory 32Gi, pods 110, ephemeral-storage 100Gi. */
  capacity?: Record<string, string>;
}

export interface NodeAgentOptions {
  /** A kubeconfig with a client certificate allowed to do what a kubelet does (the admin's). */
  kubeconfig: string;
  /** The agent's folder: pods/<namespace>_<name>_<uid>/{logs,volumes}. */
  dir: string;
  /** Default: one node, node-1. */
  nodes?: TestNodeSpec[];
  /**
   * Where pod IPs come from (pod-addresses.ts): `loopback` (default; 127.<b>.x.y, no privilege
   * needed, but the API server refuses such addresses in EndpointSlices, so Services get none) or
   * `routable` (198.18.<b>.y, each added to lo; needs root or CAP_NET_ADMIN; EndpointSlices list them).
   */
  podNetwork?: PodNetwork;
  /** Progress and problems, one line each; default: none. */
  log?: (line: string) => void;
}

export interface PodProcess {
  namespace: string;
  pod: string;
  container: string;
  pid: number;
  podIP: string | undefined;
}

export interface NodeAgent {
  /** The registered nodes' names. */
  nodes: string[];
  /** Where its pods' IPs come from. */
  podNetwork: PodNetwork;
  dir: string;
  /** The log file of a container of a pod this agent runs or ran (the latest pod of that name). */
  logFile(namespace: string, pod: string, container: string): string | undefined;
  /** The processes of the pods running now. */
  processes(): PodProcess[];
  /** Ends every pod process (SIGTERM, then SIGKILL after a few seconds) and stops heartbeating. */
  stop(): Promise<void>;
}

export const DEFAULT_NODES: readonly TestNodeSpec[] = [{ name: 'node-1' }];

const seconds = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The Node object a spec registers: labels, taints, capacity; status Ready. Pure but for the clock. */
export function nodeObject(spec: TestNodeSpec, kubeletVersion: string): Obj {
  const capacity: Record<string, string> = { cpu: '8', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' };
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': spec.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': arch() === 'x64' ? 'amd64' : arch(),
    [TEST_NODE_LABEL]: 'true',
  };
  if (spec.gpus) {
    capacity['nvidia.com/gpu'] = String(spec.gpus);
    labels['nvidia.com/gpu.present'] = 'true';
    labels['nvidia.com/gpu.count'] = String(spec.gpus);
  }
  for (const [profile, count] of Object.entries(spec.mig ?? {})) {
    capacity[`nvidia.com/mig-${profile}`] = String(count);
    labels['nvidia.com/gpu.present'] = 'true';
    labels['nvidia.com/mig.strategy'] = 'mixed';
  }
  Object.assign(capacity, spec.capacity ?? {});
  Object.assign(labels, spec.labels ?? {});
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: spec.name, labels, annotations: { 'karb.dev/test-node': 'a node of karb\'s test node agent: pods run as local processes' } },
    spec: spec.taints?.length ? { taints: spec.taints } : {},
    status: {
      capacity,
      allocatable: { ...capacity },
      conditions: nodeConditions(),
      addresses: [
        { type: 'InternalIP', address: HOST_IP },
        { type: 'Hostname', address: spec.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
      nodeInfo: {
        machineID: '',
        systemUUID: '',
        bootID: '',
        kernelVersion: release(),
        osImage: "karb test node agent (pods run as local processes)",
        containerRuntimeVersion: 'karb-test-node://0',
        kubeletVersion,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: labels['kubernetes.io/arch'],
      },
    },
  };
}

function nodeConditions(): Obj[] {
  const t = seconds();
  const c = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: t, lastTransitionTime: t });
  return [
    c('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    c('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    c('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    c('Ready', 'True', 'KubeletReady', "karb's test node agent is posting ready status"),
  ];
}

export async function startNodeAgent(options: NodeAgentOptions): Promise<NodeAgent> {
  const log = options.log ?? (() => {});
  const specs = options.nodes?.length ? options.nodes : DEFAULT_NODES;
  const names = specs.map((s) => s.name);
  if (new Set(names).size !== names.length) throw new Error(`node names must be distinct: ${names.join(', ')}`);
  const dir = path.resolve(options.dir);
  mkdirSync(path.join(dir, 'pods'), { recursive: true });
  const api = new KubeHttp(credentialsFromKubeconfig(options.kubeconfig));
  const addresses = PodAddresses.claim(options.podNetwork ?? 'loopback');
  const workers = new Map<string, PodWorker>();
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;

  // Should this process end without stop(), its pods' processes go with it (they also watch for
  // that themselves: pod-guard.ts).
  const killAll = () => {
    for (const w of workers.values()) for (const p of w.processes()) signalGroup(p.pid, 'SIGKILL');
  };
  process.once('exit', killAll);

  try {
    const version = (await api.request<{ gitVersion: string }>('GET', '/version')).gitVersion;
    for (const spec of specs) await registerNode(api, nodeObject(spec, version));
    for (const name of names) await renewLease(api, name);
    timers.push(
      setInterval(() => {
        for (const name of names) renewLease(api, name).catch((err: Error) => log(`lease ${name}: ${err.message}`));
      }, RENEW_MS),
      setInterval(() => {
        for (const name of names) patchNodeStatus(api, name).catch((err: Error) => log(`node ${name}: ${err.message}`));
      }, STATUS_EVERY_MS),
    );
    for (const t of timers) t.unref();

    const context = (nodeName: string) => ({
      api,
      addresses,
      nodeName,
      hostIP: HOST_IP,
      dir,
      repoRoot: REPO_ROOT,
      node: path.join(REPO_ROOT, 'node_modules', '.bin', 'node'),
      guard: pathToFileURL(path.join(HERE, 'pod-guard.ts')).href,
      log,
      done: (uid: string) => workers.delete(uid),
    });
    for (const name of names) {
      const ctx = context(name);
      api.watch<KubeObject & Obj>(
        '/api/v1/pods',
        `fieldSelector=${encodeURIComponent(`spec.nodeName=${name}`)}&timeoutSeconds=300`,
        (type, pod) => {
          if (stopping) return;
          const uid = pod.metadata.uid as string;
          const worker = workers.get(uid);
          if (type === 'DELETED') {
            worker?.gone();
            return;
          }
          if (worker) worker.update(pod);
          else if (!isFinished(pod)) {
            const w = new PodWorker(pod, ctx);
            workers.set(uid, w);
            w.update(pod);
          }
        },
        (err) => log(`watch pods on ${name}: ${err.message}`),
      );
    }
    // Ready as the scheduler sees it: no not-ready taint left from the node lifecycle controller.
    for (const name of names) {
      await waitFor(
        `node ${name} to be Ready without a not-ready taint`,
        async () => {
          const node = await api.get<Obj>(`/api/v1/nodes/${name}`);
          const ready = node?.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True');
          const tainted = ((node?.spec?.taints ?? []) as Obj[]).some((t) => t.key === 'node.kubernetes.io/not-ready' || t.key === 'node.kubernetes.io/unreachable');
          return ready && !tainted;
        },
        60_000,
        250,
      );
    }
    log(`nodes ${names.join(', ')} registered; pod IPs from ${addresses.first} (${addresses.network} network)`);
  } catch (err) {
    stopping = true;
    for (const t of timers) clearInterval(t);
    api.close();
    addresses.close();
    process.off('exit', killAll);
    throw err;
  }

  let stopped: Promise<void> | undefined;
  return {
    nodes: names,
    podNetwork: addresses.network,
    dir,
    logFile(namespace, pod, container) {
      for (const w of [...workers.values()].reverse()) if (w.namespace === namespace && w.name === pod) return w.logFile(container);
      // a pod already gone: its folder is still there
      return findLog(dir, namespace, pod, container);
    },
    processes() {
      return [...workers.values()].flatMap((w) => w.processes().map((p) => ({ namespace: w.namespace, pod: w.name, container: p.container, pid: p.pid, podIP: w.ip })));
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        for (const t of timers) clearInterval(t);
        await Promise.all([...workers.values()].map((w) => w.shutdown(3)));
        api.close();
        addresses.close();
        process.off('exit', killAll);
      })();
      return stopped;
    },
  };
}

function isFinished(pod: Obj): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** Creates the Node, or takes over one of that name left by an earlier agent. */
async function registerNode(api: KubeHttp, node: Obj): Promise<void> {
  try {
    await api.request('POST', '/api/v1/nodes', node);
  } catch (err) {
    if (!(err instanceof KubeHttpError && err.status === 409)) throw err;
    await api.request('PATCH', `/api/v1/nodes/${node.metadata.name}`, { metadata: node.metadata, spec: node.spec }, 'application/strategic-merge-patch+json');
  }
  // The create may or may not keep the status; the status subresource always does.
  await api.request('PATCH', `/api/v1/nodes/${node.metadata.name}/status`, { status: node.status }, 'application/strategic-merge-patch+json');
}

/** The conditions' heartbeat (they merge by type, so their status and transition times stay). */
async function patchNodeStatus(api: KubeHttp, name: string): Promise<void> {
  const lastHeartbeatTime = seconds();
  const conditions = ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'].map((type) => ({ type, lastHeartbeatTime }));
  await api.request('PATCH', `/api/v1/nodes/${name}/status`, { status: { conditions } }, 'application/strategic-merge-patch+json');
}

/** Creates or renews the node's Lease in kube-node-lease, owned by the Node (as a kubelet's is). */
async function renewLease(api: KubeHttp, name: string): Promise<void> {
  const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/${name}`;
  try {
    await api.request('PATCH', leasePath, { spec: { holderIdentity: name, renewTime: microTime(Date.now()) } }, 'application/merge-patch+json');
  } catch (err) {
    if (!(err instanceof KubeHttpError && err.status === 404)) throw err;
    const node = await api.request<Obj>('GET', `/api/v1/nodes/${name}`);
    await api.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: LEASE_NAMESPACE, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata.uid }] },
      spec: { holderIdentity: name, leaseDurationSeconds: LEASE_SECONDS, renewTime: microTime(Date.now()) },
    });
  }
}

function findLog(dir: string, namespace: string, pod: string, container: string): string | undefined {
  // pods/<ns>_<pod>_<uid>/logs/<container>.log; the names cannot contain '_' (DNS labels), the uid may not either
  try {
    const prefix = `${namespace}_${pod}_`;
    const candidates = readdirSync(path.join(dir, 'pods'))
      .filter((d) => d.startsWith(prefix))
      .map((d) => path.join(dir, 'pods', d, 'logs', `${container}.log`))
      .filter((f) => {
        try {
          return statSync(f).isFile();
        } catch {
          return false;
        }
      })
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    return candidates[0];
  } catch {
    return undefined;
  }
}

/**
 * Nodes from a command line: `node-1,gpu-1:gpus=2:mig-1g.10gb=7:pool=gpu:taint=nvidia.com/gpu`
 * (a name, then any of gpus=N, mig-PROFILE=N, pool=NAME for the karb.dev/pool label, and
 * taint=KEY for a NoSchedule taint). Throws a message for the user on anything else.
 */
export function parseNodeSpecs(text: string): TestNodeSpec[] {
  return text.split(',').map((item) => {
    const [name, ...parts] = item.trim().split(':');
    if (!name || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) throw new Error(`--nodes: "${item}" does not start with a node name such as node-1`);
    const spec: TestNodeSpec = { name };
    for (const part of parts) {
      const eq = part.indexOf('=');
      const key = part.slice(0, eq);
      const value = part.slice(eq + 1);
      const count = Number(value);
      if (key === 'gpus' && Number.isInteger(count) && count > 0) spec.gpus = count;
      else if (key.startsWith('mig-') && key.length > 4 && Number.isInteger(count) && count > 0) spec.mig = { ...spec.mig, [key.slice(4)]: count };
      else if (key === 'pool' && value) spec.labels = { ...spec.labels, 'karb.dev/pool': value };
      else if (key === 'taint' && value) spec.taints = [...(spec.taints ?? []), { key: value, effect: 'NoSchedule' }];
      else throw new Error(`--nodes: "${part}" in "${item}" is none of gpus=N, mig-PROFILE=N, pool=NAME, taint=KEY`);
    }
    return spec;
  });
}

/** `node test/cluster/node-agent.ts --kubeconfig FILE --dir DIR [--nodes SPEC] [--pod-network loopback|routable]`: runs until SIGTERM or SIGINT. */
async function main(argv: string[]): Promise<number> {
  const usage = 'usage: node test/cluster/node-agent.ts --kubeconfig FILE --dir DIR [--nodes node-1,gpu-1:gpus=1] [--pod-network loopback|routable]';
  let options: NodeAgentOptions;
  try {
    const { values } = parseArgs({ args: argv, strict: true, options: { kubeconfig: { type: 'string' }, dir: { type: 'string' }, nodes: { type: 'string' }, 'pod-network': { type: 'string' } } });
    const network = values['pod-network'] ?? 'loopback';
    if (!values.kubeconfig || !values.dir || (network !== 'loopback' && network !== 'routable')) throw new Error(usage);
    options = { kubeconfig: values.kubeconfig, dir: values.dir, podNetwork: network, ...(values.nodes ? { nodes: parseNodeSpecs(values.nodes) } : {}) };
  } catch (err) {
    console.error((err as Error).message === usage ? usage : `${(err as Error).message}\n${usage}`);
    return 2;
  }
  const log = (line: string) => console.error(`${new Date().toISOString()} node agent: ${line}`);
  const agent = await startNodeAgent({ ...options, log });
  console.log(`ready: nodes ${agent.nodes.join(', ')}, pid ${process.pid}`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log(`${signal}: stopping the pods' processes`);
  await agent.stop();
  return 0;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`node agent: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
