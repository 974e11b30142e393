/**
 * How the test node agent runs a container without a container runtime: pure, from the pod
 * spec to a local process (or a refusal with a reason a person reads in the pod's status).
 *
 * - Only karb's image runs: `ghcr.io/karb-dev/karb` (any tag or digest). Its entrypoint is
 *   `node /app/src/cli/main.ts` and its /app is this checkout, so the container becomes
 *   `<this checkout's Node 24> <checkout>/src/cli/main.ts <args>`. A `command` that starts with
 *   `node` (or `karb`) runs the same way; anything else is refused.
 * - No mount namespace: a volume is a local folder, and every argument, env value and working
 *   directory that starts with a mount path (or with /app) is rewritten to the local path.
 *   `--host 0.0.0.0` (or `::`) becomes `--host <podIP>`, so each pod listens on its own address.
 * - Env as a kubelet builds it: envFrom, then env (value, fieldRef, configMapKeyRef,
 *   secretKeyRef), `$(VAR)` expanded in env values, command and args; HOSTNAME is the pod's name.
 */

export const KARB_IMAGE_REPOSITORY = 'ghcr.io/karb-dev/karb';
/** Where a pod's service-account token and CA are mounted (ServiceAccount admission puts them there). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The file of that volume that stands in for in-cluster configuration (pod-volumes.ts). */
export const IN_CLUSTER_KUBECONFIG = 'kubeconfig';
/** karb's image: WORKDIR /app, ENTRYPOINT ["node", "/app/src/cli/main.ts"]. */
export const IMAGE_APP_DIR = '/app';
export const IMAGE_ENTRYPOINT = ['node', '/app/src/cli/main.ts'] as const;

type Obj = Record<string, any>;

/** Why a container cannot run on the test node: the waiting reason its status shows. */
export type RefusalReason =
  | 'ImageNotSupportedByTestNode'
  | 'CommandNotSupportedByTestNode'
  | 'VolumeNotSupportedByTestNode'
  | 'ProbeNotSupportedByTestNode'
  | 'CreateContainerConfigError';

export interface Refusal {
  refused: true;
  container: string;
  reason: RefusalReason;
  message: string;
}

export interface ProbePlan {
  action: { kind: 'http'; url: string; headers: Record<string, string> } | { kind: 'tcp'; host: string; port: number };
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export type PreStopPlan = { kind: 'sleep'; seconds: number } | { kind: 'http'; url: string; headers: Record<string, string> };

export interface ProcessPlan {
  refused: false;
  name: string;
  image: string;
  /** The executable (this checkout's Node) and its arguments, paths rewritten. */
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  readiness?: ProbePlan;
  liveness?: ProbePlan;
  startup?: ProbePlan;
  preStop?: PreStopPlan;
}

export interface PlanContext {
  /** This checkout: karb's image's /app. */
  repoRoot: string;
  /** The Node.js that runs karb (node_modules/.bin/node). */
  node: string;
  podIP: string;
  hostIP: string;
  nodeName: string;
  /** Each volume's local folder, by volume name. */
  volumes: Record<string, string>;
  /** ConfigMaps and Secrets the env refers to, by name, with their data decoded (missing: absent). */
  configMaps: Record<string, Record<string, string>>;
  secrets: Record<string, Record<string, string>>;
  /** The environment every process starts from (PATH for the tools karb may run). */
  baseEnv: Record<string, string>;
  /** The folder of a pod with nowhere else to be (a working directory outside /app and the volumes). */
  podDir: string;
}

/** `ghcr.io/karb-dev/karb:0.1.0`, `…@sha256:…`, or none: is it karb's image? */
export function isKarbImage(image: string): boolean {
  const noDigest = image.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const repository = colon > slash ? noDigest.slice(0, colon) : noDigest;
  return repository === KARB_IMAGE_REPOSITORY;
}

/** The pod's mount → local folder table, longest container path first; /app is this checkout. */
export function pathMap(container: Obj, ctx: PlanContext): Array<[string, string]> | Refusal {
  const map: Array<[string, string]> = [[IMAGE_APP_DIR, ctx.repoRoot]];
  for (const m of (container.volumeMounts ?? []) as Obj[]) {
    const local = ctx.volumes[m.name];
    if (local === undefined) return refuse(container, 'VolumeNotSupportedByTestNode', `volume "${m.name}" mounted at ${m.mountPath} has no local folder on the test node`);
    map.push([trimSlash(m.mountPath), m.subPath ? `${local}/${m.subPath}` : local]);
  }
  return map.sort((a, b) => b[0].length - a[0].length);
}

/** A container path as a local one: the longest mount path it starts with, replaced. */
export function rewritePath(value: string, map: ReadonlyArray<[string, string]>): string {
  for (const [from, to] of map) {
    if (value === from) return to;
    if (value.startsWith(`${from}/`)) return to + value.slice(from.length);
  }
  return value;
}

/** An argument as a local one: a path, or the value of `--flag=/path`. */
function rewriteArg(arg: string, map: ReadonlyArray<[string, string]>): string {
  const eq = arg.startsWith('-') ? arg.indexOf('=') : -1;
  return eq > 0 ? arg.slice(0, eq + 1) + rewritePath(arg.slice(eq + 1), map) : rewritePath(arg, map);
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

/** `--host 0.0.0.0` / `--host=0.0.0.0` → the pod's own address. */
export function rewriteHost(args: string[], podIP: string): string[] {
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    if (out[i] === '--host' && i + 1 < out.length && WILDCARDS.has(out[i + 1]!)) out[i + 1] = podIP;
    else if (out[i]!.startsWith('--host=') && WILDCARDS.has(out[i]!.slice('--host='.length))) out[i] = `--host=${podIP}`;
  }
  return out;
}

/** `$(VAR)` → its value when defined; `$$(VAR)` → `$(VAR)`; otherwise left as written (the kubelet's rule). */
export function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$';
    return Object.hasOwn(env, name) ? env[name]! : match;
  });
}

/** The value a downward-API field path names, or undefined for one the test node does not know. */
export function fieldValue(pod: Obj, fieldPath: string, ctx: Pick<PlanContext, 'podIP' | 'hostIP' | 'nodeName'>): string | undefined {
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (label) return pod.metadata?.[label[1]!]?.[label[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'spec.nodeName':
      return ctx.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return ctx.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return ctx.hostIP;
    default:
      return undefined;
  }
}

/** The env the pod spec gives the container (envFrom, then env), before paths are rewritten. */
function containerEnv(pod: Obj, container: Obj, ctx: PlanContext): { refused: false; env: Record<string, string> } | Refusal {
  const env: Record<string, string> = {};
  for (const from of (container.envFrom ?? []) as Obj[]) {
    const ref = from.configMapRef ?? from.secretRef;
    const data = from.configMapRef ? ctx.configMaps[ref.name] : ctx.secrets[ref.name];
    if (data === undefined) {
      if (ref.optional) continue;
      return refuse(container, 'CreateContainerConfigError', `${from.configMapRef ? 'configmap' : 'secret'} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of (container.env ?? []) as Obj[]) {
    if (e.valueFrom === undefined) {
      env[e.name] = expand(String(e.value ?? ''), env);
      continue;
    }
    const { fieldRef, configMapKeyRef, secretKeyRef } = e.valueFrom as Obj;
    if (fieldRef) {
      const v = fieldValue(pod, fieldRef.fieldPath, ctx);
      if (v === undefined) return refuse(container, 'CreateContainerConfigError', `env ${e.name}: fieldRef ${fieldRef.fieldPath} is not supported by the test node`);
      env[e.name] = v;
    } else if (configMapKeyRef || secretKeyRef) {
      const ref = configMapKeyRef ?? secretKeyRef;
      const kind = configMapKeyRef ? 'configmap' : 'secret';
      const v = (configMapKeyRef ? ctx.configMaps : ctx.secrets)[ref.name]?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        return refuse(container, 'CreateContainerConfigError', `env ${e.name}: ${kind} "${ref.name}" has no key "${ref.key}" (or does not exist)`);
      }
      env[e.name] = v;
    } else {
      return refuse(container, 'CreateContainerConfigError', `env ${e.name}: only value, fieldRef, configMapKeyRef and secretKeyRef are supported by the test node`);
    }
  }
  return { refused: false, env };
}

function portNumber(container: Obj, port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return ((container.ports ?? []) as Obj[]).find((p) => p.name === port)?.containerPort;
}

function httpAction(container: Obj, get: Obj, podIP: string): ProbePlan['action'] | string {
  const port = portNumber(container, get.port);
  if (port === undefined) return `port "${get.port}" is not a port of container "${container.name}"`;
  const scheme = String(get.scheme ?? 'HTTP').toLowerCase();
  const host = get.host ?? podIP;
  const reqPath = String(get.path ?? '/');
  const headers = Object.fromEntries(((get.httpHeaders ?? []) as Obj[]).map((h) => [h.name, h.value]));
  return { kind: 'http', url: `${scheme}://${host}:${port}${reqPath.startsWith('/') ? reqPath : `/${reqPath}`}`, headers };
}

function probe(container: Obj, p: Obj | undefined, which: string, podIP: string): ProbePlan | undefined | string {
  if (p === undefined) return undefined;
  let action: ProbePlan['action'] | string;
  if (p.httpGet) action = httpAction(container, p.httpGet, podIP);
  else if (p.tcpSocket) {
    const port = portNumber(container, p.tcpSocket.port);
    action = port === undefined ? `port "${p.tcpSocket.port}" is not a port of container "${container.name}"` : { kind: 'tcp', host: p.tcpSocket.host ?? podIP, port };
  } else action = `${which} probe: only httpGet and tcpSocket probes run on the test node (no exec or grpc: there is no container to exec in)`;
  if (typeof action === 'string') return action;
  return {
    action,
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
    periodSeconds: p.periodSeconds ?? 10,
    timeoutSeconds: p.timeoutSeconds ?? 1,
    successThreshold: p.successThreshold ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
}

/** The process for one container, or why it cannot run here. */
export function planContainer(pod: Obj, container: Obj, ctx: PlanContext): ProcessPlan | Refusal {
  if (!isKarbImage(String(container.image ?? ''))) {
    return refuse(
      container,
      'ImageNotSupportedByTestNode',
      `image "${container.image}" cannot run here: the test node runs no container runtime, only karb's image (${KARB_IMAGE_REPOSITORY}, any tag), as a process of this checkout`,
    );
  }
  const map = pathMap(container, ctx);
  if (!Array.isArray(map)) return map;
  const fromSpec = containerEnv(pod, container, ctx);
  if (fromSpec.refused) return fromSpec;
  const specEnv = fromSpec.env;
  const tmp = map.find(([from]) => from === '/tmp');
  const env: Record<string, string> = { ...ctx.baseEnv, HOSTNAME: pod.metadata.name, HOME: tmp ? tmp[1] : ctx.podDir, ...(tmp ? { TMPDIR: tmp[1] } : {}) };
  for (const [k, v] of Object.entries(specEnv)) env[k] = rewritePath(v, map);
  // In-cluster credentials: the service-account volume's kubeconfig (pod-volumes.ts says why).
  const serviceAccount = map.find(([from]) => from === SERVICE_ACCOUNT_DIR);
  if (serviceAccount && env.KUBECONFIG === undefined) env.KUBECONFIG = `${serviceAccount[1]}/${IN_CLUSTER_KUBECONFIG}`;

  const command = ((container.command ?? [...IMAGE_ENTRYPOINT]) as string[]).map((a) => expand(a, specEnv));
  const args = ((container.args ?? []) as string[]).map((a) => expand(a, specEnv));
  const argv = [...command, ...args];
  const exe = argv[0] ?? '';
  let nodeArgs: string[];
  if (exe === 'node' || exe === '/usr/local/bin/node') nodeArgs = argv.slice(1);
  else if (exe === 'karb') nodeArgs = [IMAGE_ENTRYPOINT[1], ...argv.slice(1)];
  else {
    return refuse(container, 'CommandNotSupportedByTestNode', `command "${exe}" cannot run here: the test node runs karb's image's node (its entrypoint) or karb, not other programs`);
  }

  const cwdInImage = String(container.workingDir ?? IMAGE_APP_DIR);
  const cwd = rewritePath(cwdInImage, map);
  if (cwd === cwdInImage && cwdInImage !== '/') {
    return refuse(container, 'CreateContainerConfigError', `workingDir ${cwdInImage} is neither ${IMAGE_APP_DIR} nor under a volume: the test node has no image file system`);
  }

  const podIP = ctx.podIP;
  const probes: Partial<Record<'readiness' | 'liveness' | 'startup', ProbePlan>> = {};
  for (const which of ['readiness', 'liveness', 'startup'] as const) {
    const p = probe(container, container[`${which}Probe`], which, podIP);
    if (typeof p === 'string') return refuse(container, 'ProbeNotSupportedByTestNode', p);
    if (p) probes[which] = p;
  }
  let preStop: PreStopPlan | undefined;
  const pre = container.lifecycle?.preStop as Obj | undefined;
  if (pre?.sleep) preStop = { kind: 'sleep', seconds: Number(pre.sleep.seconds ?? 0) };
  else if (pre?.httpGet) {
    const action = httpAction(container, pre.httpGet, podIP);
    if (typeof action === 'string') return refuse(container, 'ProbeNotSupportedByTestNode', `preStop: ${action}`);
    preStop = action as PreStopPlan;
  } else if (pre) return refuse(container, 'ProbeNotSupportedByTestNode', 'preStop: only sleep and httpGet hooks run on the test node (no exec: there is no container to exec in)');

  return {
    refused: false,
    name: container.name,
    image: container.image,
    command: ctx.node,
    args: rewriteHost(nodeArgs.map((a) => rewriteArg(a, map)), podIP),
    env,
    cwd: cwd === '/' ? ctx.podDir : cwd,
    ...probes,
    ...(preStop ? { preStop } : {}),
  };
}

export interface PodPlan {
  refused: false;
  init: ProcessPlan[];
  containers: ProcessPlan[];
}

/** Every container of the pod, or the first that cannot run (init containers first). */
export function planPod(pod: Obj, ctx: PlanContext): PodPlan | Refusal {
  const init: ProcessPlan[] = [];
  const containers: ProcessPlan[] = [];
  for (const c of (pod.spec.initContainers ?? []) as Obj[]) {
    const p = planContainer(pod, c, ctx);
    if (p.refused) return p;
    init.push(p);
  }
  for (const c of (pod.spec.containers ?? []) as Obj[]) {
    const p = planContainer(pod, c, ctx);
    if (p.refused) return p;
    containers.push(p);
  }
  return { refused: false, init, containers };
}

function refuse(container: Obj, reason: RefusalReason, message: string): Refusal {
  return { refused: true, container: container.name, reason, message };
}

function trimSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}
