/**
 * `karb controller` at scale: N InferenceServices (default 1,000) applied at once to a real API
 * server (the test cluster, docs/cluster.md: kube-apiserver, controller-manager, scheduler and
 * etcd from the official modules; no kubelet, so pods stay Pending and the controller's work is
 * the objects), with the controller's own service-account RBAC. For each N it measures:
 *
 * - how long the apply took (server-side apply, 100 services per `kubectl apply`), and how long
 *   from the first apply until every service is reconciled: its status has observedGeneration ==
 *   generation and its revision's Deployment exists — seen by the controller
 *   (`runtime.revisions().length === N`) and, separately, on the API server (a watch of its own);
 * - the API requests of the bring-up by verb, per service (`client.calls()`), and after settling
 *   (10 s without a write) an idle period with its writes (target 0) and reads; and the writes as
 *   the API server's watches show them (status changes, karb's Events, Deployment spec changes),
 *   which is how the child's bring-up is seen to settle and its idle period to write nothing;
 * - the controller's memory, in a process of its own: `node bin/karb.js controller` as a child,
 *   its VmRSS from /proc/<pid>/status with no services and at the end of the idle period, and its
 *   CPU time while idle. Call counts exist only inside the controller's process, so each N runs
 *   in two phases on fresh namespaces of the same cluster: the controller in this process
 *   (startController) for times and calls, then `karb controller` as a child for times (seen on
 *   the API server) and memory. This benchmark's own process is never what is measured for memory.
 *
 * With --compare M, M services go first (in their own namespaces), so the per-service numbers of
 * both sizes stand side by side. Each phase also says what share of the machine's cores other
 * work used meanwhile (busy time less this process's and its children's, the cluster included).
 * Progress goes to stderr every 15 s.
 *
 *   node bench/cluster-scale.ts [--services 1000] [--compare 100] [--idle 30s] [--json]
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import type { KubernetesObject, ListWatch } from '@kubernetes/client-node';
import { revisionName } from '../src/api/index.ts';
import { startController } from '../src/control/kubernetes/controller.ts';
import { REPORTING_CONTROLLER } from '../src/control/kubernetes/kubernetes-store.ts';
import { KubeClient } from '../src/runtime/kubernetes/api-client.ts';
import { DEPLOYMENTS, EVENTS, INFERENCE_SERVICES } from '../src/runtime/kubernetes/resources.ts';
import { CLOCK_TICKS_PER_SECOND, readProcessCpuSeconds } from '../src/runtime/local/proc-stat.ts';
import { durationFlag, numberFlag } from '../src/util/flags.ts';
import { waitFor } from '../src/util/wait-for.ts';
import { inferenceService, kubectlOk, restrictedNamespace, startKarbTestCluster } from '../test/kubernetes/support.ts';
import type { TestCluster } from '../test/cluster/harness.ts';
import { machineBusySeconds, NODE, REPO, stopChild } from './support.ts';
import { treeCpuSeconds } from './peers/proc-tree.ts';

const { values } = parseArgs({ options: { services: { type: 'string' }, compare: { type: 'string' }, idle: { type: 'string' }, json: { type: 'boolean' } } });
const SERVICES = numberFlag('--services', values.services, 1000, { whole: true, min: 1, max: 2000, expected: 'a number of services from 1 to 2000' });
const COMPARE = values.compare === undefined ? undefined : numberFlag('--compare', values.compare, 0, { whole: true, min: 1, max: 2000, expected: 'a number of services from 1 to 2000' });
const IDLE_MS = durationFlag('--idle', values.idle, 30_000, { min: 1000, minText: '1s' });
/** The controller's default resync (karb controller has no flag for it): both phases run as shipped. */
const RESYNC_MS = 10_000;
const APPLY_BATCH = 100;
const APPLY_IN_FLIGHT = 2;
/** Bounds a hang, not a timing: a bring-up or settling that takes longer fails the run. */
const RECONCILE_TIMEOUT_MS = 45 * 60_000;
const SETTLE_QUIET_MS = 10_000;

const progress = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const seconds = (ms: number) => Math.round(ms / 100) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Calls = { byVerb: Record<string, number>; writes: number; total: number };
const delta = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].sort().map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]));

/** Counts log records at warn and error by message (retries, refusals, 429s show up here). */
class LogTally {
  readonly counts = new Map<string, number>();
  add(record: { level?: unknown; msg?: unknown; error?: unknown }): void {
    if (record.level !== 'warn' && record.level !== 'error') return;
    const status = typeof record.error === 'string' ? /\b(4\d\d|5\d\d)\b/.exec(record.error)?.[1] : undefined;
    const k = `${String(record.level)}: ${String(record.msg)}${status ? ` (${status})` : ''}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

/**
 * What the API server holds for a namespace, through watches of its own (the admin's credentials,
 * this process), and when it last saw a write of the controller's: an InferenceService changed
 * (its status), an Event of karb's created, or a Deployment's spec changed (a new generation;
 * the controller-manager writes only their status). Watching the statuses alone is not enough:
 * the controller's writes go out one at a time in the order they were asked for, so a run of
 * Events can keep them from changing for longer than a quiet window.
 */
class ApiServerView {
  readonly #client: KubeClient;
  readonly #services: ListWatch<KubernetesObject & { status?: { observedGeneration?: number } }>;
  readonly #deployments: ListWatch<KubernetesObject>;
  readonly #events: ListWatch<KubernetesObject & { reportingController?: string }>;
  readonly #generations = new Map<string, number | undefined>();
  #lastWrite = performance.now();
  /** Writes of the controller's seen so far: status changes, Events, Deployment spec changes. */
  readonly writes = { statuses: 0, events: 0, deployments: 0 };

  private constructor(client: KubeClient, namespace: string) {
    this.#client = client;
    this.#services = client.informer(INFERENCE_SERVICES, { namespace });
    this.#deployments = client.informer(DEPLOYMENTS, { namespace });
    this.#events = client.informer(EVENTS, { namespace });
    const wrote = (kind: keyof ApiServerView['writes']) => {
      this.#lastWrite = performance.now();
      this.writes[kind]++;
    };
    this.#services.on('update', () => wrote('statuses'));
    this.#events.on('add', (e) => e.reportingController === REPORTING_CONTROLLER && wrote('events'));
    const deployment = (d: KubernetesObject) => {
      const name = d.metadata!.name!;
      if (this.#generations.has(name) && this.#generations.get(name) === d.metadata!.generation) return;
      this.#generations.set(name, d.metadata!.generation);
      wrote('deployments');
    };
    this.#deployments.on('add', deployment);
    this.#deployments.on('update', deployment);
  }

  static async start(cluster: TestCluster, namespace: string): Promise<ApiServerView> {
    const view = new ApiServerView(await KubeClient.connect(cluster.kubeconfig), namespace);
    await Promise.all([view.#services.start(), view.#deployments.start(), view.#events.start()]);
    return view;
  }

  /** Services whose status has observedGeneration == generation and whose first revision's Deployment exists. */
  reconciled(): { services: number; observed: number; deployments: number; done: number } {
    const deployments = new Set(this.#deployments.list().map((d) => d.metadata?.name));
    const services = this.#services.list();
    let observed = 0;
    let done = 0;
    for (const s of services) {
      const ok = s.status?.observedGeneration !== undefined && s.status.observedGeneration === s.metadata?.generation;
      if (ok) observed++;
      if (ok && deployments.has(revisionName(s.metadata!.name!, 1))) done++;
    }
    return { services: services.length, observed, deployments: deployments.size, done };
  }

  msSinceWrite(): number {
    return performance.now() - this.#lastWrite;
  }

  async stop(): Promise<void> {
    await Promise.all([this.#services.stop(), this.#deployments.stop(), this.#events.stop()]);
    await this.#client.close();
  }
}

/** Server-side apply of N services, APPLY_BATCH per kubectl, APPLY_IN_FLIGHT at once; resolves with the milliseconds it took. */
async function applyServices(cluster: TestCluster, namespace: string, n: number): Promise<number> {
  const started = performance.now();
  const batches: string[] = [];
  for (let i = 0; i < n; i += APPLY_BATCH) {
    const manifests = [];
    for (let j = i; j < Math.min(n, i + APPLY_BATCH); j++) manifests.push(inferenceService(`svc-${String(j).padStart(4, '0')}`, namespace, { model: { uri: 'pvc://models/fraud-v1.onnx' }, scaling: { minReplicas: 1 } }));
    batches.push(manifests.join('---\n'));
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(APPLY_IN_FLIGHT, batches.length) }, async () => {
      while (next < batches.length) await kubectlOk(cluster, ['apply', '--server-side', '-f', '-'], batches[next++]!);
    }),
  );
  return performance.now() - started;
}

function procStatusKiB(pid: number, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
const mib = (kib: number | undefined) => (kib === undefined ? NaN : Math.round((kib / 1024) * 10) / 10);

/**
 * CPU seconds of this process and everything it started: the test cluster, kubectl, the child
 * controller (live ones from /proc, exited ones from this process's cutime and cstime).
 */
function ourCpuSeconds(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
  return treeCpuSeconds(process.pid) + (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_SECOND;
}

/** The share of the machine's cores that work other than this benchmark's used while `run` ran. */
async function measuringOtherWork<T>(run: () => Promise<T>): Promise<T & { otherWorkShare: number }> {
  const busy0 = machineBusySeconds();
  const ours0 = ourCpuSeconds();
  const t0 = performance.now();
  const result = await run();
  const other = machineBusySeconds() - busy0 - (ourCpuSeconds() - ours0);
  return { ...result, otherWorkShare: Math.round((Math.max(0, other) / (((performance.now() - t0) / 1000) * availableParallelism())) * 100) / 100 };
}

interface InProcessResult {
  namespace: string;
  applySeconds: number;
  /** From the first apply until the controller's own view holds every service reconciled. */
  reconciledSeconds: number;
  /** The same, on the API server (its writes arrived). */
  apiServerSeconds: number;
  settledSeconds: number;
  bringUp: { byVerb: Record<string, number>; total: number; writes: number; perService: Record<string, number>; writesPerService: number };
  idle: { seconds: number; passes: number; byVerb: Record<string, number>; writes: number; reads: number };
  /** The same writes as the API server's watches showed them (a cross-check of the child's). */
  writesSeen: { bringUp: { statuses: number; events: number; deployments: number }; idle: { statuses: number; events: number; deployments: number } };
  log: Record<string, number>;
}

async function inProcess(cluster: TestCluster, kubeconfig: string, n: number): Promise<InProcessResult> {
  const namespace = `bench-${n}`;
  await restrictedNamespace(cluster, namespace);
  const tally = new LogTally();
  const controller = await startController({ kubeconfig, namespace, resyncMs: RESYNC_MS, identity: 'bench', log: (r) => tally.add(r) });
  const view = await ApiServerView.start(cluster, namespace);
  try {
    const atStart: Calls = controller.client.calls();
    const t0 = performance.now();
    const report = setInterval(() => {
      const r = view.reconciled();
      const c = controller.client.calls();
      progress(`in-process ${n}: ${seconds(performance.now() - t0)} s, controller sees ${controller.runtime.revisions().length} revisions; API server: ${r.services} services, ${r.observed} observed, ${r.deployments} deployments; ${c.writes - atStart.writes} writes so far`);
    }, 15_000).unref();
    let applyMs = NaN;
    let reconciledMs = NaN;
    let apiServerMs = NaN;
    try {
      await Promise.all([
        applyServices(cluster, namespace, n).then((ms) => (applyMs = ms)),
        waitFor(
          'the controller to see every service reconciled',
          () => controller.runtime.revisions().length === n && controller.store.listServices(namespace).filter((s) => s.status.observedGeneration === s.metadata.generation).length === n,
          RECONCILE_TIMEOUT_MS,
          250,
        ).then(() => (reconciledMs = performance.now() - t0)),
        waitFor('the API server to show every service reconciled', () => view.reconciled().done === n, RECONCILE_TIMEOUT_MS, 250).then(() => (apiServerMs = performance.now() - t0)),
      ]);
    } finally {
      clearInterval(report);
    }
    progress(`in-process ${n}: applied in ${seconds(applyMs)} s, reconciled (controller) ${seconds(reconciledMs)} s, (API server) ${seconds(apiServerMs)} s; settling`);

    // Settled: ten seconds without a write (the autoscaling loop's first decisions come a few periods after a service appears).
    let settled = controller.client.calls();
    await waitFor(
      'ten seconds without a write',
      async () => {
        await sleep(SETTLE_QUIET_MS);
        await controller.sync();
        const now = controller.client.calls();
        const quiet = now.writes === settled.writes;
        settled = now;
        return quiet;
      },
      RECONCILE_TIMEOUT_MS,
    );
    const settledMs = performance.now() - t0;
    const idleStart: Calls = controller.client.calls();
    const seenAtSettle = { ...view.writes };
    progress(`in-process ${n}: settled at ${seconds(settledMs)} s; idle for ${IDLE_MS / 1000} s`);
    await sleep(IDLE_MS);
    await controller.sync();
    const idleEnd: Calls = controller.client.calls();

    const bringUp = delta(atStart.byVerb, idleStart.byVerb);
    const idle = delta(idleStart.byVerb, idleEnd.byVerb);
    const idleWrites = idleEnd.writes - idleStart.writes;
    return {
      namespace,
      applySeconds: seconds(applyMs),
      reconciledSeconds: seconds(reconciledMs),
      apiServerSeconds: seconds(apiServerMs),
      settledSeconds: seconds(settledMs),
      bringUp: {
        byVerb: bringUp,
        total: idleStart.total - atStart.total,
        writes: idleStart.writes - atStart.writes,
        perService: Object.fromEntries(Object.entries(bringUp).map(([k, v]) => [k, Math.round((v / n) * 100) / 100])),
        writesPerService: Math.round(((idleStart.writes - atStart.writes) / n) * 100) / 100,
      },
      idle: { seconds: IDLE_MS / 1000, passes: Math.floor(IDLE_MS / RESYNC_MS), byVerb: idle, writes: idleWrites, reads: idleEnd.total - idleStart.total - idleWrites },
      writesSeen: { bringUp: seenAtSettle, idle: writesSince(view.writes, seenAtSettle) },
      log: tally.toJSON(),
    };
  } finally {
    await view.stop();
    await controller.close();
  }
}

interface ChildResult {
  namespace: string;
  pid: number;
  applySeconds: number;
  /** From the first apply until the API server shows every service reconciled (the child's writes arrived). */
  apiServerSeconds: number;
  settledSeconds: number;
  /** VmRSS with no services (5 s after it said it was up), at the end of the idle period, and VmHWM (peak) then; MiB. */
  rssMiB: { empty: number; idle: number; idleMin: number; idleMax: number; peak: number };
  rssGrowthKiBPerService: number;
  cpuSeconds: { bringUp: number; idle: number };
  /** The controller's writes as the API server's watches showed them (status changes, karb's Events, Deployment spec changes), in the bring-up and in the idle period (target 0). */
  writesSeen: { bringUp: { statuses: number; events: number; deployments: number }; idle: { statuses: number; events: number; deployments: number } };
  log: Record<string, number>;
}

async function childProcess(cluster: TestCluster, kubeconfig: string, n: number, logDir: string): Promise<ChildResult> {
  const namespace = `bench-${n}-proc`;
  await restrictedNamespace(cluster, namespace);
  const tally = new LogTally();
  const logFile = createWriteStream(join(logDir, `controller-${namespace}.log`));
  const child = spawn(NODE, [join(REPO, 'bin/karb.js'), 'controller', '--kubeconfig', kubeconfig, '--namespace', namespace, '--identity', 'bench-proc', '--port', '0', '--host', '127.0.0.1'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  // Should this process end without its finally blocks (a crash, a signal), the controller goes with it.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  let exited = false;
  child.once('exit', () => {
    exited = true;
    process.off('exit', killChild);
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    logFile.write(`${line}\n`);
    try {
      tally.add(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log record
    }
  });
  const up = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      logFile.write(`${line}\n`);
      if (line.startsWith('karb controller is up')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`karb controller exited ${code} before it was up (log: ${join(logDir, `controller-${namespace}.log`)})`)));
  });
  const view = await ApiServerView.start(cluster, namespace);
  try {
    await up;
    await sleep(5000);
    const empty = procStatusKiB(pid, 'VmRSS');
    const cpu0 = readProcessCpuSeconds(pid) ?? NaN;
    const t0 = performance.now();
    const report = setInterval(() => {
      const r = view.reconciled();
      progress(`child ${n}: ${seconds(performance.now() - t0)} s; API server: ${r.services} services, ${r.observed} observed, ${r.deployments} deployments; controller RSS ${mib(procStatusKiB(pid, 'VmRSS'))} MiB`);
    }, 15_000).unref();
    let applyMs = NaN;
    let apiServerMs = NaN;
    try {
      await Promise.all([
        applyServices(cluster, namespace, n).then((ms) => (applyMs = ms)),
        waitFor('the API server to show every service reconciled', () => {
          if (exited) throw new Error('karb controller exited');
          return view.reconciled().done === n;
        }, RECONCILE_TIMEOUT_MS, 250).then(() => (apiServerMs = performance.now() - t0)),
      ]);
    } finally {
      clearInterval(report);
    }
    progress(`child ${n}: applied in ${seconds(applyMs)} s, reconciled (API server) ${seconds(apiServerMs)} s; settling`);
    // Settled: ten seconds in which the API server saw no write of the controller's.
    await waitFor('ten seconds without a write of the controller\'s', () => view.msSinceWrite() >= SETTLE_QUIET_MS, RECONCILE_TIMEOUT_MS, 500);
    const settledMs = performance.now() - t0;
    const cpu1 = readProcessCpuSeconds(pid) ?? NaN;
    const seenAtSettle = { ...view.writes };
    progress(`child ${n}: settled at ${seconds(settledMs)} s; idle for ${IDLE_MS / 1000} s`);
    const samples: number[] = [];
    const idleEnd = performance.now() + IDLE_MS;
    while (performance.now() < idleEnd) {
      await sleep(Math.min(1000, Math.max(0, idleEnd - performance.now())));
      const v = procStatusKiB(pid, 'VmRSS');
      if (v !== undefined) samples.push(v);
    }
    const cpu2 = readProcessCpuSeconds(pid) ?? NaN;
    const idle = samples.at(-1);
    return {
      namespace,
      pid,
      applySeconds: seconds(applyMs),
      apiServerSeconds: seconds(apiServerMs),
      settledSeconds: seconds(settledMs),
      rssMiB: { empty: mib(empty), idle: mib(idle), idleMin: mib(Math.min(...samples)), idleMax: mib(Math.max(...samples)), peak: mib(procStatusKiB(pid, 'VmHWM')) },
      rssGrowthKiBPerService: empty === undefined || idle === undefined ? NaN : Math.round(((idle - empty) / n) * 10) / 10,
      cpuSeconds: { bringUp: Math.round((cpu1 - cpu0) * 100) / 100, idle: Math.round((cpu2 - cpu1) * 100) / 100 },
      writesSeen: { bringUp: seenAtSettle, idle: writesSince(view.writes, seenAtSettle) },
      log: tally.toJSON(),
    };
  } finally {
    await view.stop();
    await stopChild(child, 10_000);
    logFile.end();
  }
}

const sizes = COMPARE !== undefined && COMPARE !== SERVICES ? [COMPARE, SERVICES].sort((a, b) => a - b) : [SERVICES];
const { cluster, kubeconfig, dir, stop } = await startKarbTestCluster({ log: (line) => progress(`test cluster: ${line}`) });
const runs: Array<{ services: number; inProcess: InProcessResult & { otherWorkShare: number }; childProcess: ChildResult & { otherWorkShare: number } }> = [];
try {
  for (const n of sizes) {
    progress(`${n} services: the controller in this process (times, API calls)`);
    const a = await measuringOtherWork(() => inProcess(cluster, kubeconfig, n));
    progress(`${n} services: karb controller as a child process (times, memory)`);
    const b = await measuringOtherWork(() => childProcess(cluster, kubeconfig, n, dir));
    runs.push({ services: n, inProcess: a, childProcess: b });
  }
} finally {
  await stop();
}

const report = {
  machine: `${process.platform} ${process.arch}, ${availableParallelism()} cores, node ${process.version}`,
  note: 'test cluster on the same cores; no kubelet (pods stay Pending); controller resync 10 s (the default); services applied with kubectl apply --server-side, 100 per call, 2 calls at a time. API calls: the controller in the benchmark process (client.calls()). Memory and CPU: node bin/karb.js controller as a child process, VmRSS/VmHWM from /proc/<pid>/status, utime+stime from /proc/<pid>/stat; the benchmark process is not measured.',
  idleSeconds: IDLE_MS / 1000,
  resyncSeconds: RESYNC_MS / 1000,
  runs: runs.map((r) => ({
    ...r,
    perService: {
      reconciledMs: Math.round((r.inProcess.apiServerSeconds * 1000) / r.services),
      childReconciledMs: Math.round((r.childProcess.apiServerSeconds * 1000) / r.services),
      writes: r.inProcess.bringUp.writesPerService,
      requests: Math.round((r.inProcess.bringUp.total / r.services) * 100) / 100,
      rssGrowthKiB: r.childProcess.rssGrowthKiBPerService,
    },
  })),
};

if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
else {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(report.machine);
  out(report.note);
  const cols = report.runs;
  const row = (label: string, f: (r: (typeof cols)[number]) => string) => out(`${label.padEnd(68)}${cols.map((r) => f(r).padStart(22)).join('')}`);
  row('services', (r) => String(r.services));
  row('apply (server-side, 100 per kubectl), s', (r) => `${r.inProcess.applySeconds} / ${r.childProcess.applySeconds}`);
  row('first apply → all reconciled, controller\'s view, s', (r) => String(r.inProcess.reconciledSeconds));
  row('first apply → all reconciled on the API server, s', (r) => `${r.inProcess.apiServerSeconds} / ${r.childProcess.apiServerSeconds}`);
  row('  per service, ms', (r) => `${r.perService.reconciledMs} / ${r.perService.childReconciledMs}`);
  row('first apply → settled (10 s without a write), s', (r) => `${r.inProcess.settledSeconds} / ${r.childProcess.settledSeconds}`);
  row('bring-up requests per service', (r) => String(r.perService.requests));
  for (const verb of [...new Set(cols.flatMap((r) => Object.keys(r.inProcess.bringUp.byVerb)))].sort()) row(`  ${verb}`, (r) => `${r.inProcess.bringUp.byVerb[verb] ?? 0} (${r.inProcess.bringUp.perService[verb] ?? 0}/svc)`);
  row('bring-up writes per service', (r) => String(r.perService.writes));
  row(`idle ${report.idleSeconds} s: writes`, (r) => String(r.inProcess.idle.writes));
  const nonzero = (byVerb: Record<string, number>) => Object.entries(byVerb).filter(([, v]) => v !== 0).map(([k, v]) => `${v} ${k}`).join(', ');
  row(`idle ${report.idleSeconds} s (${report.idleSeconds / report.resyncSeconds} resyncs): reads`, (r) => `${r.inProcess.idle.reads}${r.inProcess.idle.reads ? ` (${nonzero(r.inProcess.idle.byVerb)})` : ''}`);
  const seen = (w: { statuses: number; events: number; deployments: number }) => `${w.statuses}+${w.events}+${w.deployments}`;
  row('writes the API server saw (statuses+Events+Deployments): bring-up', (r) => `${seen(r.inProcess.writesSeen.bringUp)} / ${seen(r.childProcess.writesSeen.bringUp)}`);
  row('  idle (target 0)', (r) => `${seen(r.inProcess.writesSeen.idle)} / ${seen(r.childProcess.writesSeen.idle)}`);
  row('child RSS, no services, MiB', (r) => String(r.childProcess.rssMiB.empty));
  row('child RSS at the end of idle, MiB (min–max over idle)', (r) => `${r.childProcess.rssMiB.idle} (${r.childProcess.rssMiB.idleMin}–${r.childProcess.rssMiB.idleMax})`);
  row('child peak RSS (VmHWM), MiB', (r) => String(r.childProcess.rssMiB.peak));
  row('  RSS growth per service, KiB', (r) => String(r.perService.rssGrowthKiB));
  row('child CPU, bring-up / idle, s', (r) => `${r.childProcess.cpuSeconds.bringUp} / ${r.childProcess.cpuSeconds.idle}`);
  row('other work on the machine, share of its cores', (r) => `${r.inProcess.otherWorkShare} / ${r.childProcess.otherWorkShare}`);
  row('warnings and errors logged (in-process / child)', (r) => `${Object.values(r.inProcess.log).reduce((a, b) => a + b, 0)} / ${Object.values(r.childProcess.log).reduce((a, b) => a + b, 0)}`);
  for (const r of cols) {
    for (const [k, v] of Object.entries(r.inProcess.log)) out(`  ${r.services}, in-process: ${k} ×${v}`);
    for (const [k, v] of Object.entries(r.childProcess.log)) out(`  ${r.services}, child: ${k} ×${v}`);
  }
  out('(a / b: the controller in this process / karb controller as a child process)');
}

/** The writes the API server's watches saw since `before`, by kind. */
function writesSince(now: { statuses: number; events: number; deployments: number }, before: { statuses: number; events: number; deployments: number }) {
  return { statuses: now.statuses - before.statuses, events: now.events - before.events, deployments: now.deployments - before.deployments };
}
