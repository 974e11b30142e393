/**
 * The test node agent as a background process of its own, for `npm run cluster:up -- --nodes …`
 * (the harness runs it inside the test process instead): started detached, its output in
 * <dir>/logs/node-agent.log, its pid in <dir>/node-agent.pid; stopped by SIGTERM, which ends
 * its pods' processes first.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../src/util/wait-for.ts';
import { ClusterError } from './build.ts';

const AGENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node-agent.ts');
const PID_FILE = 'node-agent.pid';

export function nodeAgentLog(dir: string): string {
  return path.join(dir, 'logs', 'node-agent.log');
}

/** Starts the agent and resolves with its pid once its nodes are registered; throws a ClusterError naming its log if it exits first. */
export async function startNodeAgentProcess(options: { dir: string; kubeconfig: string; nodes: string; podNetwork?: string }): Promise<number> {
  const log = nodeAgentLog(options.dir);
  const out = openSync(log, 'a');
  const args = [AGENT, '--kubeconfig', options.kubeconfig, '--dir', path.join(options.dir, 'node-agent'), '--nodes', options.nodes];
  if (options.podNetwork) args.push('--pod-network', options.podNetwork);
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = signal ?? `exit ${code}`));
  child.once('error', (err) => (exited = err.message));
  let outcome: { failed?: string };
  try {
    outcome = await waitFor(
      'the node agent to register its nodes',
      () => (exited ? { failed: exited } : /^ready: /m.test(readFileSync(log, 'utf8')) ? {} : undefined),
      120_000,
      250,
    );
  } catch (err) {
    outcome = { failed: (err as Error).message };
  }
  if (outcome.failed !== undefined) {
    if (child.pid && !exited) process.kill(child.pid, 'SIGKILL');
    throw new ClusterError(`the node agent did not start (${outcome.failed}): ${lastLine(log)}`, log);
  }
  child.unref();
  writeFileSync(path.join(options.dir, PID_FILE), String(child.pid));
  return child.pid!;
}

/** Stops the agent of this state folder, if one runs: SIGTERM, SIGKILL after 15 s. */
export async function stopNodeAgentProcess(dir: string): Promise<void> {
  const file = path.join(dir, PID_FILE);
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return;
  }
  const running = () => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(AGENT) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  if (running()) {
    process.kill(pid, 'SIGTERM');
    try {
      await waitFor('the node agent to stop', () => !running(), 15_000, 100);
    } catch {
      process.kill(pid, 'SIGKILL');
    }
  }
  rmSync(file, { force: true });
}

function lastLine(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').at(-1) ?? '';
  } catch {
    return '';
  }
}
