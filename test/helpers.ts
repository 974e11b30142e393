/**
 * Helpers for end-to-end tests that run karb as real processes on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GiveUp, waitFor } from '../src/util/wait-for.ts';
import { freePort } from '../src/util/free-port.ts';
export { freePort };

/** karb's one wait-until helper, for the e2e tests and benchmarks that import it from here. */
export { waitFor };

export const ROOT = resolve(import.meta.dirname, '..');
export const KARB = join(ROOT, 'src/cli/main.ts');

/** A scratch working directory with `models/` linked to the repository's generated models. */
export function workDir(prefix = 'karb-e2e-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  symlinkSync(join(ROOT, 'models'), join(dir, 'models'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface KarbUp {
  process: ChildProcess;
  controlUrl: string;
  gatewayUrl: string;
  output(): string;
  /** The admin token karb up wrote to `.karb/admin-token`. */
  adminToken: string;
  /** `Authorization` for the control plane API. */
  admin: { authorization: string };
  /** An API key for namespace `default`, created after start (gateway auth is on by default). */
  apiKey: string;
  /** `Authorization` for the gateway. */
  auth: { authorization: string };
  /** SIGTERM and wait for the exit. */
  stop(): Promise<number | null>;
}

export async function startKarbUp(
  cwd: string,
  ports: { control?: number; gateway?: number } = {},
  extraArgs: string[] = [],
  /**
   * `openFileLimit`: run karb up with this limit on open files (soft and hard, so Node cannot raise it);
   * `nodeFlags`: flags for the Node that runs it (e.g. --expose-gc); `logLevel`: KARB_LOG_LEVEL (default info);
   * `portRetries`: how many times to start again on new ports when a chosen one was taken meanwhile (default 2).
   */
  limits: { openFileLimit?: number; nodeFlags?: string[]; logLevel?: string; portRetries?: number } = {},
): Promise<KarbUp> {
  const controlPort = ports.control ?? (await freePort());
  // A port just released can be handed out again at once: the two must differ.
  let gatewayPort = ports.gateway ?? (await freePort());
  while (gatewayPort === controlPort) gatewayPort = await freePort();
  const argv = [...(limits.nodeFlags ?? []), KARB, 'up', '--port', String(controlPort), '--gateway-port', String(gatewayPort), ...extraArgs];
  const [command, args] =
    limits.openFileLimit === undefined
      ? [process.execPath, argv]
      : ['bash', ['-c', `ulimit -n ${limits.openFileLimit} && exec "$0" "$@"`, process.execPath, ...argv]];
  const child = spawn(command, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KARB_LOG_LEVEL: limits.logLevel ?? 'info' },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const controlUrl = `http://127.0.0.1:${controlPort}`;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await waitFor('karb up to answer', async () => {
      if (child.exitCode !== null) throw new GiveUp(`karb up exited ${child.exitCode}: ${out}`);
      return (await fetch(`${controlUrl}/healthz`)).ok;
    });
  } catch (err) {
    // A karb up that never answered must not outlive the test (and keep its runner waiting).
    if (child.exitCode === null) child.kill('SIGKILL');
    // Ports this helper chose were free when chosen; another test's server may have taken one since.
    const portsChosenHere = ports.control === undefined && ports.gateway === undefined;
    if (portsChosenHere && out.includes('port is already in use') && (limits.portRetries ?? 2) > 0) {
      return startKarbUp(cwd, ports, extraArgs, { ...limits, portRetries: (limits.portRetries ?? 2) - 1 });
    }
    throw err;
  }
  const adminToken = readFileSync(join(cwd, '.karb', 'admin-token'), 'utf8').trim();
  const admin = { authorization: `Bearer ${adminToken}` };
  const created = await fetch(`${controlUrl}/api/v1/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ namespace: 'default', name: 'e2e' }) });
  if (created.status !== 201) throw new Error(`creating an API key answered ${created.status}: ${await created.text()}`);
  const apiKey = ((await created.json()) as { key: string }).key;
  return {
    process: child,
    controlUrl,
    gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
    output: () => out,
    adminToken,
    admin,
    apiKey,
    auth: { authorization: `Bearer ${apiKey}` },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its exit; with `timeoutMs`, a CLI still running then is killed (and its code is null). */
export function karb(args: string[], options: { cwd?: string; input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolveResult) => {
    const child = spawn(process.execPath, [KARB, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(options.input ?? '');
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolveResult({ code, stdout, stderr });
    });
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A fraud-detector OIP request for `rows` transactions of 8 features each. */
export function fraudRequest(rows: number[][]): string {
  return JSON.stringify({ inputs: [{ name: 'features', shape: [rows.length, 8], datatype: 'FP32', data: rows.flat() }] });
}

export interface ProbeReport {
  sent: number;
  /** Answers by HTTP status; 0 = no answer (connection failed). */
  statuses: Map<number, number>;
  /** Answers by the `x-karb-revision` that served them. */
  revisions: Map<string, number>;
}

/**
 * A steady open-loop probe: one request every `everyMs` (not waiting for the
 * previous answer) until `stop()`, which waits for every answer and reports them.
 */
export function startProbe(url: string, init: { headers: Record<string, string>; body: string }, everyMs = 10): { stop(): Promise<ProbeReport>; report(): ProbeReport } {
  const report: ProbeReport = { sent: 0, statuses: new Map(), revisions: new Map() };
  const inFlight = new Set<Promise<void>>();
  const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);
  const fire = () => {
    report.sent++;
    const p = fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...init.headers }, body: init.body })
      .then(async (res) => {
        await res.arrayBuffer();
        count(report.statuses, res.status);
        count(report.revisions, res.headers.get('x-karb-revision') ?? '-');
      })
      .catch(() => void count(report.statuses, 0))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  // Unref'd: a test that fails before stop() must not keep the test process alive.
  const timer = setInterval(fire, everyMs);
  timer.unref();
  return {
    report: () => report,
    async stop() {
      clearInterval(timer);
      while (inFlight.size > 0) await Promise.all([...inFlight]);
      return report;
    },
  };
}

export interface GatewayProcess {
  url: string;
  /** Where its `GET /metrics` is served (never on `url`). */
  metricsUrl: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** A standalone `karb gateway` fed by the control plane at `controlUrl`, on a free port; `extra` flags after. */
export function startGatewayProcess(cwd: string, controlUrl: string, token: string, extra: string[]): Promise<GatewayProcess> {
  return startGateway(cwd, ['--control-plane', controlUrl, ...extra], { KARB_TOKEN: token });
}

/** A standalone `karb gateway` with `args` for its source of routes (`--control-plane …` or `--kubernetes …`), on free ports. */
export async function startGateway(cwd: string, args: string[], env: Record<string, string> = {}): Promise<GatewayProcess> {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [KARB, 'gateway', '--port', String(port), '--metrics-port', String(metricsPort), ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const g = {
    url,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  try {
    await waitFor(`karb gateway on ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`karb gateway exited ${child.exitCode}: ${out}`);
      return (await fetch(`${url}/v2/health/ready`)).ok;
    });
  } catch (err) {
    await g.stop();
    throw err;
  }
  return g;
}

/** A karb up's control API as the e2e tests use it: apply a service, read its replicas and its Ready condition. */
export function controlApi(up: Pick<KarbUp, 'controlUrl' | 'admin'>) {
  const get = async <T>(path: string): Promise<T> => (await (await fetch(`${up.controlUrl}${path}`, { headers: up.admin })).json()) as T;
  return {
    /** PUTs an InferenceService of `spec` (metadata.name only); asserts it was created. */
    async put(name: string, spec: Record<string, unknown>): Promise<void> {
      const res = await fetch(`${up.controlUrl}/api/v1/services/${name}`, {
        method: 'PUT',
        headers: { ...up.admin, 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name }, spec }),
      });
      if (res.status !== 201) throw new Error(`PUT ${name}: ${res.status} ${await res.text()}`);
    },
    replicas: async <R = { name: string; phase: string }>(service: string): Promise<R[]> => (await get<{ items: R[] }>(`/api/v1/replicas?service=${service}`)).items,
    ready: async (service: string) =>
      (await get<{ status: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } }>(`/api/v1/services/${service}`)).status.conditions?.find((c) => c.type === 'Ready'),
  };
}
