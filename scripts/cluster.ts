/**
 * A Kubernetes control plane on this machine for karb's tests and for trying karb by hand:
 *
 *   npm run cluster:up [-- --dir DIR]     build once (cached), start, wait until ready
 *   npm run cluster:down [-- --dir DIR]   stop and remove the state folder
 *
 *   npm run cluster:up -- --nodes node-1,gpu-1:gpus=1 [--pod-network routable]
 *                                         also the test node agent (stands in for a kubelet:
 *                                         karb's pods run as local processes; docs/cluster.md)
 *
 * `up` starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler (Kubernetes as
 * test/cluster/go.mod pins it) in the background, in DIR (default ~/.cache/karb-cluster/run),
 * prints progress on stderr and, as the last lines of stdout,
 *
 *   export PATH="DIR/bin:$PATH"           (DIR/bin/kubectl is the matching kubectl)
 *   export KUBECONFIG=DIR/admin.kubeconfig
 *
 * so `eval "$(npm run -s cluster:up)"` points this shell at it. Exit 2 on bad usage; exit 1 on a
 * failure, with one line naming the reason and the log to read, and nothing left running.
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cacheRoot, ClusterError, ensureBinary } from '../test/cluster/build.ts';
import { readState, running, startControlPlane, stopProcesses, type ClusterState } from '../test/cluster/control-plane.ts';
import { nodeAgentLog, startNodeAgentProcess, stopNodeAgentProcess } from '../test/cluster/node-agent-process.ts';
import { parseNodeSpecs } from '../test/cluster/node-agent.ts';

const USAGE = 'usage: node scripts/cluster.ts up|down [--dir DIR] [--nodes node-1,gpu-1:gpus=1:mig-1g.10gb=7] [--pod-network loopback|routable]';

const log = (line: string) => console.error(`cluster: ${line}`);

function exports(state: ClusterState): string {
  return `export PATH="${path.dirname(state.kubectl)}:$PATH"\nexport KUBECONFIG=${state.kubeconfig}`;
}

function allRunning(state: ClusterState): boolean {
  return Object.values(state.pids).length === 4 && Object.values(state.pids).every((pid) => pid !== undefined && running(pid, state.binary));
}

async function up(dir: string, agent: { nodes: string; podNetwork?: string } | undefined): Promise<number> {
  const previous = readState(dir);
  if (previous && allRunning(previous)) {
    log(`already up in ${dir} (${previous.server}); kubectl: ${previous.kubectl}`);
    console.log(exports(previous));
    return 0;
  }
  if (previous) {
    log(`stopping what is left of an earlier cluster in ${dir}`);
    await stopNodeAgentProcess(dir);
    await stopProcesses(previous);
  }
  if (previous || existsSync(path.join(dir, 'pki'))) rmSync(dir, { recursive: true, force: true });
  const binary = await ensureBinary(log);
  const started = Date.now();
  // Ctrl-C while starting: stop what was started rather than leave it behind.
  const interrupted = () => {
    const state = readState(dir);
    void stopNodeAgentProcess(dir)
      .then(() => (state ? stopProcesses(state) : undefined))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const { state } = await startControlPlane({ binary, dir, detached: true, log });
  if (agent) {
    log(`starting the test node agent (nodes ${agent.nodes}), log in ${nodeAgentLog(dir)}`);
    try {
      await startNodeAgentProcess({ dir, kubeconfig: state.kubeconfig, ...agent });
    } catch (err) {
      await stopProcesses(state);
      throw err;
    }
  }
  process.off('SIGINT', interrupted);
  process.off('SIGTERM', interrupted);
  log(`up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${state.server}, logs in ${path.join(dir, 'logs')}, kubectl: ${state.kubectl}`);
  console.log(exports(state));
  return 0;
}

async function down(dir: string): Promise<number> {
  const state = readState(dir);
  if (!state) {
    if (!existsSync(dir)) {
      log(`nothing to stop: ${dir} does not exist`);
      return 0;
    }
    // Never remove a folder this script did not make.
    throw new ClusterError(`${dir} is not a test cluster's state folder (no state.json): not removing it`);
  }
  await stopNodeAgentProcess(dir);
  await stopProcesses(state);
  rmSync(dir, { recursive: true, force: true });
  log(`stopped the cluster and removed ${dir}`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { dir: { type: 'string' }, nodes: { type: 'string' }, 'pod-network': { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, ...extra] = parsed.positionals;
  const { nodes, 'pod-network': podNetwork } = parsed.values;
  const agentFlags = nodes !== undefined || podNetwork !== undefined;
  if ((command !== 'up' && command !== 'down') || extra.length > 0 || parsed.values.dir === '' || (agentFlags && command !== 'up') || nodes === '' || (podNetwork !== undefined && podNetwork !== 'loopback' && podNetwork !== 'routable')) {
    console.error(USAGE);
    return 2;
  }
  try {
    if (nodes !== undefined) parseNodeSpecs(nodes);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const dir = path.resolve(parsed.values.dir ?? path.join(cacheRoot(), 'run'));
  try {
    const agent = agentFlags ? { nodes: nodes ?? 'node-1', ...(podNetwork ? { podNetwork } : {}) } : undefined;
    return command === 'up' ? await up(dir, agent) : await down(dir);
  } catch (err) {
    console.error(`cluster ${command}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
