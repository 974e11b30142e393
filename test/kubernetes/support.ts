/**
 * Karb on the test cluster: install what `karb install` installs (CRD, namespace, identities,
 * RBAC; not the Deployments, which need a kubelet), give the controller a kubeconfig with its
 * own service-account token — so every test runs with exactly the RBAC karb ships — and make
 * namespaces that enforce Pod Security "restricted".
 */
import { execFile } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { buildInstallObjects, CONTROLLER_NAME, GATEWAY_NAME } from '../../src/runtime/kubernetes/install.ts';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/runtime/kubernetes/options.ts';
import { startController, type ControllerOptions, type RunningController } from '../../src/control/kubernetes/controller.ts';
import { waitFor } from '../../src/util/wait-for.ts';
import { ensureModels } from '../../src/serving/test-helpers.ts';
import { startTestCluster, type TestCluster, type TestClusterOptions } from '../cluster/harness.ts';
import { karb, startGateway, type GatewayProcess } from '../helpers.ts';

export const SYSTEM_NAMESPACE = DEFAULT_CLUSTER_OPTIONS.systemNamespace;

export async function kubectlOk(cluster: TestCluster, args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The CRD, the system namespace, the service accounts and RBAC; the CRD is Established when this resolves. */
export async function installKarb(cluster: TestCluster): Promise<void> {
  const objects = buildInstallObjects(DEFAULT_CLUSTER_OPTIONS).filter((o) => o.kind !== 'Deployment' && o.kind !== 'Service');
  await kubectlOk(cluster, ['apply', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
  await kubectlOk(cluster, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/inferenceservices.karb.dev']);
}

/** A kubeconfig that authenticates as one of karb's service accounts (a token, not the admin's certificate). */
export async function serviceAccountKubeconfig(cluster: TestCluster, dir: string, account: string): Promise<string> {
  const token = (await kubectlOk(cluster, ['create', 'token', account, '-n', SYSTEM_NAMESPACE, '--duration=2h'])).trim();
  const admin = parse(await kubectlOk(cluster, ['config', 'view', '--raw', '--minify'])) as { clusters: Array<{ cluster: Record<string, string> }> };
  const { server, 'certificate-authority-data': caData, 'certificate-authority': caFile } = admin.clusters[0]!.cluster;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, ...(caData ? { 'certificate-authority-data': caData } : { 'certificate-authority': caFile }) } }],
    users: [{ name: account, user: { token } }],
    contexts: [{ name: account, context: { cluster: 'test', user: account } }],
    'current-context': account,
  };
  const path = join(dir, `${account}.kubeconfig`);
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}

/**
 * karb controller in this process on the test cluster, as the cluster's karb (its kubeconfig), resyncing
 * every 500 ms and logging to controller.log in the cluster's folder; `options` add to or override that.
 */
export function startTestController(karbCluster: KarbTestCluster, options: ControllerOptions): Promise<RunningController> {
  const logFile = join(karbCluster.dir, 'controller.log');
  return startController({ kubeconfig: karbCluster.kubeconfig, resyncMs: 500, log: (r) => appendFileSync(logFile, `${JSON.stringify(r)}\n`), ...options });
}

/** The arguments of a `karb gateway --kubernetes` that runs as karb's gateway service account and reaches the controller at `controllerUrl`. */
export async function inClusterGatewayArgs(karbCluster: KarbTestCluster, namespace: string, controllerUrl: string): Promise<string[]> {
  const kubeconfig = await serviceAccountKubeconfig(karbCluster.cluster, karbCluster.dir, GATEWAY_NAME);
  return ['--kubernetes', '--kubeconfig', kubeconfig, '--namespace', namespace, '--controller', controllerUrl];
}

/** An API key for `namespace`, made by `karb keys create --kubernetes` as the cluster's admin. */
export async function createApiKey(cluster: TestCluster, namespace: string): Promise<string> {
  const created = await karb(['keys', 'create', '--kubernetes', '--kubeconfig', cluster.kubeconfig, '--namespace', namespace, '--name', 'e2e']);
  if (created.code !== 0) throw new Error(`karb keys create exited ${created.code}: ${created.stderr}`);
  return created.stdout.trim();
}

/** One in-cluster gateway (see inClusterGatewayArgs) and an API key for `namespace`. */
export async function gatewayWithKey(karbCluster: KarbTestCluster, namespace: string, controllerUrl: string): Promise<{ gateway: GatewayProcess; key: string }> {
  const gateway = await startGateway(karbCluster.dir, await inClusterGatewayArgs(karbCluster, namespace, controllerUrl));
  return { gateway, key: await createApiKey(karbCluster.cluster, namespace) };
}

/** The controller's own credentials, with the RBAC karb install ships. */
export function controllerKubeconfig(cluster: TestCluster, dir: string): Promise<string> {
  return serviceAccountKubeconfig(cluster, dir, CONTROLLER_NAME);
}

/** A test cluster with karb installed, a scratch folder, and the controller's own credentials. */
export interface KarbTestCluster {
  cluster: TestCluster;
  /** Scratch folder for logs and files; kept (and named on stderr) with KARB_KEEP_TEST_DIR set. */
  dir: string;
  /** Authenticates as the controller's service account, with the RBAC karb install ships. */
  kubeconfig: string;
  stop(): Promise<void>;
}

export async function startKarbTestCluster(options: TestClusterOptions = {}): Promise<KarbTestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'karb-k8s-'));
  const removeDir = () => {
    if (process.env.KARB_KEEP_TEST_DIR) process.stderr.write(`test folder kept: ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  };
  let cluster: TestCluster | undefined;
  try {
    cluster = await startTestCluster(options);
    await installKarb(cluster);
    const kubeconfig = await controllerKubeconfig(cluster, dir);
    const started = cluster;
    return {
      cluster: started,
      dir,
      kubeconfig,
      async stop() {
        await started.stop();
        removeDir();
      },
    };
  } catch (err) {
    await cluster?.stop();
    removeDir();
    throw err;
  }
}

/**
 * A cluster that serves: karb installed, the test node agent running karb's pods on the routable
 * pod network (addresses EndpointSlices hold, so gateways find them), and `namespace` enforcing
 * Pod Security "restricted" with the model volume pvc://models/… names.
 */
export async function startServingCluster(namespace: string): Promise<KarbTestCluster> {
  await ensureModels();
  const karb = await startKarbTestCluster({ nodeAgent: { podNetwork: 'routable', nodes: [{ name: 'node-1' }] } });
  try {
    await restrictedNamespace(karb.cluster, namespace);
    await modelsVolume(karb.cluster, namespace);
  } catch (err) {
    await karb.stop();
    throw err;
  }
  return karb;
}

/** A namespace whose pods must meet Pod Security "restricted" (refused at admission otherwise). */
export async function restrictedNamespace(cluster: TestCluster, name: string): Promise<void> {
  await kubectlOk(cluster, ['create', 'namespace', name]);
  await kubectlOk(cluster, ['label', 'namespace', name, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=latest']);
}

export async function getJson<T = any>(cluster: TestCluster, args: string[]): Promise<T> {
  return JSON.parse(await kubectlOk(cluster, ['get', ...args, '-o', 'json'])) as T;
}

/** Waits for `kubectl get` to show what `check` wants; the timeout bounds a hang, it is no timing. */
export function waitForObject<T = any>(cluster: TestCluster, what: string, args: string[], check: (obj: T) => boolean, timeoutMs = 60_000): Promise<T> {
  return waitFor(
    what,
    async () => {
      const r = await cluster.kubectl(['get', ...args, '-o', 'json']);
      if (r.code !== 0) return undefined;
      const obj = JSON.parse(r.stdout) as T;
      return check(obj) ? obj : undefined;
    },
    timeoutMs,
    250,
  );
}

export function inferenceService(name: string, namespace: string, spec: Record<string, unknown>): string {
  return stringify({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name, namespace }, spec });
}

/**
 * KEDA's own ScaledObject CRD, from KEDA's published Go module (the module proxy serves the
 * repository's files, its CRDs among them), so the API server validates karb's ScaledObjects
 * against KEDA's real schema. Pinned: the version is part of what the test checks.
 */
export const KEDA_MODULE = 'github.com/kedacore/keda/v2@v2.20.2';

export async function installKedaCrd(cluster: TestCluster): Promise<void> {
  const { stdout } = await promisify(execFile)('go', ['mod', 'download', '-json', KEDA_MODULE], { maxBuffer: 1 << 20 });
  const { Dir, Error: error } = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!Dir) throw new Error(`go mod download ${KEDA_MODULE}: ${error ?? 'no directory'}`);
  await kubectlOk(cluster, ['apply', '--server-side', '-f', '-'], readFileSync(join(Dir, 'config', 'crd', 'bases', 'keda.sh_scaledobjects.yaml'), 'utf8'));
  await kubectlOk(cluster, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/scaledobjects.keda.sh']);
}

/**
 * The model store of a test cluster: a PersistentVolume on this checkout's models/ (or on `root`,
 * a folder of the test's own) and the claim `models` that pvc://models/… names.
 */
export async function modelsVolume(cluster: TestCluster, namespace: string, root = join(import.meta.dirname, '..', '..', 'models')): Promise<void> {
  const objects = [
    { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `models-${namespace}` }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadOnlyMany'], storageClassName: '', hostPath: { path: root, type: 'Directory' }, claimRef: { namespace, name: 'models' } } },
    { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'models', namespace }, spec: { accessModes: ['ReadOnlyMany'], storageClassName: '', volumeName: `models-${namespace}`, resources: { requests: { storage: '1Gi' } } } },
  ];
  await kubectlOk(cluster, ['apply', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
}
