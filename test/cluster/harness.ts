/**
 * A private Kubernetes control plane for one node:test file:
 *
 *   const cluster = await startTestCluster();
 *   after(() => cluster.stop());
 *   const { code, stdout } = await cluster.kubectl(['get', 'namespaces']);
 *
 * It builds the binary on first use (once per machine: see build.ts), starts the control plane
 * in a temporary folder on free loopback ports (so test files running at once each have their
 * own), and `stop()` ends every process and removes the folder. No kubelet: Pods stay Pending,
 * unless the test node agent stands in for one (`startTestCluster({ nodeAgent: true })`:
 * node-agent.ts), which runs karb's pods as local processes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureBinary, type Log } from './build.ts';
import { startControlPlane, stopProcesses, type ClusterState } from './control-plane.ts';
import { startNodeAgent, type NodeAgent, type TestNodeSpec } from './node-agent.ts';
import type { PodNetwork } from './pod-addresses.ts';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. for `apply -f -`). */
  input?: string;
  /** Another kubeconfig than the admin's. */
  kubeconfig?: string;
}

export interface TestCluster {
  /** The admin kubeconfig (O=system:masters). */
  kubeconfig: string;
  /** The apiserver's URL, https://127.0.0.1:<port>. */
  server: string;
  /** The CA that signed the apiserver's certificate. */
  caFile: string;
  /** Everything the cluster wrote: certificates, logs/, state.json. */
  dir: string;
  state: ClusterState;
  /** The test node agent, when asked for: its nodes, pod processes and logs. */
  nodeAgent?: NodeAgent;
  /** Runs the matching kubectl against this cluster; never throws on a non-zero exit. */
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Stops every process and removes the folder. */
  stop(): Promise<void>;
}

export interface TestClusterOptions {
  /** Progress lines (the build, each start); default: stderr. */
  log?: Log;
  /**
   * Start the test node agent too (it stands in for a kubelet: see node-agent.ts): `true` for
   * one node, `node-1`; or the nodes to register, e.g. `{ nodes: [{ name: 'node-1' }, { name: 'gpu-1', gpus: 1 }] }`,
   * and `podNetwork: 'routable'` for pod IPs that EndpointSlices can hold (needs root or CAP_NET_ADMIN).
   */
  nodeAgent?: boolean | { nodes?: TestNodeSpec[]; podNetwork?: PodNetwork };
}

export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const log = options.log ?? ((line: string) => process.stderr.write(`test cluster: ${line}\n`));
  const binary = await ensureBinary(log);
  const dir = mkdtempSync(path.join(tmpdir(), 'karb-cluster-'));
  // Should this process exit without stop() (a crash, process.exit), the cluster goes with it.
  let state: ClusterState | undefined;
  const killOnExit = () => {
    for (const pid of Object.values(state?.pids ?? {})) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };
  process.once('exit', killOnExit);
  let plane;
  try {
    plane = await startControlPlane({ binary, dir, detached: false, log });
  } catch (err) {
    process.off('exit', killOnExit);
    // the folder stays: the error names a log in it
    throw err;
  }
  state = plane.state;
  const started = plane.state;
  let nodeAgent: NodeAgent | undefined;
  if (options.nodeAgent) {
    try {
      nodeAgent = await startNodeAgent({
        kubeconfig: started.kubeconfig,
        dir: path.join(dir, 'node-agent'),
        ...(options.nodeAgent === true ? {} : options.nodeAgent),
        log: (line) => log(`node agent: ${line}`),
      });
    } catch (err) {
      await plane.stop();
      process.off('exit', killOnExit);
      throw err;
    }
  }
  let stopped: Promise<void> | undefined;
  return {
    kubeconfig: started.kubeconfig,
    server: started.server,
    caFile: path.join(dir, 'pki', 'ca.crt'),
    dir,
    state: started,
    ...(nodeAgent ? { nodeAgent } : {}),
    kubectl: (args, opts = {}) => runKubectl(binary, args, opts.kubeconfig ?? started.kubeconfig, opts.input),
    stop() {
      // the agent first: it ends the pods' processes while the API server still answers
      stopped ??= (nodeAgent?.stop() ?? Promise.resolve()).then(() => stopProcesses(started)).then(() => {
        process.off('exit', killOnExit);
        rmSync(dir, { recursive: true, force: true });
      });
      return stopped;
    },
  };
}

function runKubectl(binary: string, args: string[], kubeconfig: string, input: string | undefined): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['kubectl', ...args], {
      env: { ...process.env, KUBECONFIG: kubeconfig },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}
