/**
 * One replica: a supervised process of one revision. It starts the process,
 * probes readiness, restarts it after a crash with backoff, and drains it on
 * stop. A replica keeps its name across restarts (each restart is a new process
 * on a new port). An adopted replica is a process a previous karb started: it
 * is not our child, so its exit is noticed by polling the pid.
 *
 * | phase    | event                         | next phase | emits                      |
 * |----------|-------------------------------|------------|----------------------------|
 * | (new)    | no room: quota or GPUs        | Pending    | ReplicaPending (Warning)   |
 * | Pending  | the runtime admits it         | Starting   | ReplicaStarted             |
 * | Starting | probe answers 200             | Ready      | ReplicaReady               |
 * | Ready    | `failureThreshold` bad probes | Starting   | ReplicaNotReady (Warning)  |
 * | Starting | process exits                 | Crashed    | ReplicaCrashed (Warning)   |
 * | Ready    | process exits                 | Crashed    | ReplicaCrashed (Warning)   |
 * | Crashed  | backoff elapses               | Starting   | ReplicaRestarting          |
 * | any      | stop()                        | Draining   | ReplicaDraining            |
 * | Draining | process exits (or SIGKILL)    | Stopped    | ReplicaStopped             |
 *
 * Only a Ready replica is an endpoint, so Draining takes it out of the routing
 * before SIGTERM is sent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../../util/clock.ts';
import type { Endpoint, ReplicaPhase, ReplicaStatus, RuntimeEvent } from '../types.ts';
import type { LocalProcessSpec } from './process-spec.ts';
import { decideRestart, type BackoffPolicy } from './backoff.ts';
import { probeReadiness, allocatePort } from './probe.ts';
import { isProcessAlive, processStartTime, signalReplica } from './process-identity.ts';
import { buildReplicaCommand, processSpecHash } from './replica-command.ts';
import { lastLogLine } from './log-tail.ts';
import type { ReplicaRecord, ReplicaRecordStore } from './replica-record.ts';
import { nothingRequested, type ResourceRequests } from './quota.ts';
import { oomKilledMessage, type Placement, type ReplicaLimiter, type ReplicaLimits } from './resource-limits.ts';

export interface ProbeSettings {
  /** Probe interval while Starting or after a failed probe. */
  startingIntervalMs: number;
  /** Probe interval while Ready, to notice a replica that stops being ready. */
  readyIntervalMs: number;
  timeoutMs: number;
  /** Consecutive failed probes that take a Ready replica out of the endpoints. */
  failureThreshold: number;
}

export const defaultProbeSettings: ProbeSettings = { startingIntervalMs: 100, readyIntervalMs: 1000, timeoutMs: 1000, failureThreshold: 2 };

export const defaultReadinessPath = '/v2/health/ready';
export const defaultDrainSeconds = 10;
/** How often a stopping adopted replica is checked for having exited. */
const adoptedExitPollMs = 50;

/** What every replica of one runtime shares. */
export interface ReplicaEnvironment {
  clock: Clock;
  host: string;
  execPath: string;
  karbEntry: string;
  logsDir: string;
  records: ReplicaRecordStore;
  backoff: BackoffPolicy;
  probe: ProbeSettings;
  /** Enforces each replica's CPU and memory limits (resource-limits.ts). */
  limiter: ReplicaLimiter;
  emit(event: RuntimeEvent): void;
  log(record: Record<string, unknown>): void;
  /** Wait this long between leaving the endpoints and SIGTERM (see LocalRuntimeOptions). */
  deregistrationDelayMs(): number;
}

export interface LocalReplicaStatus extends ReplicaStatus {
  /** The running process was started by an earlier karb and adopted. */
  adopted: boolean;
  port?: number;
  logFile: string;
  /** While Crashed: the backoff before the next restart and when it happens. */
  backoffMs?: number;
  nextRestartAt?: number;
  /** The GPUs (`GPU-…`/`MIG-…` UUIDs) it was given: its CUDA_VISIBLE_DEVICES; missing when none. */
  devices?: string[];
}

export class Replica {
  readonly name: string;
  readonly spec: LocalProcessSpec;
  readonly specHash: string;
  readonly createdAt: number;
  /** Creation order within this runtime; breaks ties between replicas created in the same millisecond. */
  readonly sequence: number;
  readonly logFile: string;
  readonly limits: ReplicaLimits;
  /**
   * What it requests, counted against its namespace's quota (quota.ts). An adopted replica whose
   * record predates them has only its GPUs here until its revision's template says the rest.
   */
  requests: ResourceRequests;
  readonly #env: ReplicaEnvironment;

  #phase: ReplicaPhase = 'Starting';
  /** Started or adopted: it holds its requests until its process is gone. */
  #admitted = false;
  #pid: number | undefined;
  #port: number | undefined;
  #url: string | undefined;
  #argv: string[] = [];
  #processStartTime: string | undefined;
  #adopted = false;
  #restarts: number;
  #startedAt: number;
  #readyAt: number | undefined;
  #lastExitCode: number | null | undefined;
  #message: string | undefined;
  /** Where the running process's output begins in the log file; unknown for an adopted one. */
  #logStart: number | undefined;
  #backoffMs: number | undefined;
  #nextRestartAt: number | undefined;
  #consecutiveCrashes = 0;
  #probeFailures = 0;
  /** The GPUs the runtime assigned; every process of this replica sees exactly these. */
  #visibleDevices: string[] = [];

  /** Identifies the current process; callbacks of an older one are ignored. */
  #incarnation = 0;
  #child: ChildProcess | undefined;
  /** The running process's limits; cleaned up when it exits. */
  #placement: Placement | undefined;
  #exitPromise: Promise<void> | undefined;
  #resolveExit: (() => void) | undefined;
  #probeTimer: TimerHandle | undefined;
  #restartTimer: TimerHandle | undefined;
  #stopping: Promise<void> | undefined;
  /** Set before the drain starts, so an exit seen during it is never taken for a crash. */
  #stopRequested = false;
  #detached = false;

  constructor(env: ReplicaEnvironment, spec: LocalProcessSpec, name: string, options: { createdAt: number; sequence: number; restarts?: number; hash?: string; limits?: ReplicaLimits; requests?: ResourceRequests }) {
    this.#env = env;
    this.name = name;
    this.spec = spec;
    this.specHash = options.hash ?? processSpecHash(spec);
    this.createdAt = options.createdAt;
    this.sequence = options.sequence;
    this.#startedAt = options.createdAt;
    this.#restarts = options.restarts ?? 0;
    this.limits = options.limits ?? {};
    this.requests = options.requests ?? nothingRequested;
    this.logFile = join(env.logsDir, `${name}.log`);
  }

  /** A replica around a live process from `record`; Ready when `ready`, otherwise Starting (and about to be stopped). */
  static adopt(env: ReplicaEnvironment, record: ReplicaRecord, ready: boolean, sequence: number): Replica {
    const requests = record.requests ?? { ...nothingRequested, gpus: record.template.accelerator?.count ?? 0 };
    const r = new Replica(env, record.template, record.name, { createdAt: record.createdAt, sequence, restarts: record.restarts, hash: record.templateHash, limits: record.limits, requests });
    const incarnation = ++r.#incarnation;
    r.#adopted = true;
    r.#admitted = true;
    r.#pid = record.pid;
    r.#port = record.port;
    r.#url = record.url;
    r.#argv = record.argv;
    r.#processStartTime = record.processStartTime;
    r.#startedAt = record.startedAt;
    r.#visibleDevices = [...(record.devices ?? [])];
    try {
      // Its group is there already (an earlier karb made it); this tells OOM kills from now on apart, and starts a watchdog.
      r.#placement = env.limiter.prepare(record.name, r.limits);
      r.#placement.started(record.pid);
    } catch (err) {
      env.log({ level: 'warn', msg: 'could not watch the limits of an adopted replica', replica: record.name, error: errorMessage(err) });
    }
    const exit = Promise.withResolvers<void>();
    r.#exitPromise = exit.promise;
    r.#resolveExit = exit.resolve;
    if (ready) {
      r.#phase = 'Ready';
      r.#readyAt = env.clock.now();
      r.#emit('Normal', 'ReplicaAdopted', `adopted pid ${record.pid} on port ${record.port} from an earlier karb; it answers readiness`);
      r.#scheduleProbe(incarnation, env.probe.readyIntervalMs);
    }
    return r;
  }

  get phase(): ReplicaPhase {
    return this.#phase;
  }

  /** The running process, if any. */
  get pid(): number | undefined {
    return this.#pid;
  }

  get stopping(): boolean {
    return this.#stopRequested;
  }

  /** Started (or adopted) and its process not yet gone: Starting, Ready, Crashed or Draining — what a quota counts. */
  get holdsRequests(): boolean {
    return this.#admitted && this.#phase !== 'Stopped';
  }

  /** Starts the first process, seeing only `devices` (GPU or MIG UUIDs) of this machine's GPUs. */
  start(devices: readonly string[] = []): void {
    this.#visibleDevices = [...devices];
    this.#admitted = true;
    if (this.#phase === 'Pending') this.#message = undefined;
    void this.#spawn();
  }

  /** Not started: it waits for devices or room in its namespace's quota, and `reason` says for what; emits ReplicaPending when the reason is new. */
  wait(reason: string): void {
    if (this.#stopRequested || this.#detached) return;
    if (this.#phase === 'Pending' && this.#message === reason) return;
    this.#phase = 'Pending';
    this.#message = reason;
    this.#emit('Warning', 'ReplicaPending', `not started: ${reason}`);
  }

  /** Takes the replica out of the endpoints, sends SIGTERM, and SIGKILLs it after the drain grace. */
  stop(reason: string): Promise<void> {
    if (this.#stopping === undefined) {
      this.#stopRequested = true;
      this.#stopping = this.#drain(reason);
    }
    return this.#stopping;
  }

  /** Stops supervising and leaves the process running for a later karb to adopt. */
  detach(): void {
    if (this.#stopRequested) return;
    this.#detached = true;
    this.#clearTimers();
    this.#child?.unref();
    this.#placement?.release();
  }

  endpoint(): Endpoint | undefined {
    if (this.#phase !== 'Ready' || this.#url === undefined) return undefined;
    const t = this.spec;
    return { replica: this.name, revision: t.revision, service: t.service, namespace: t.namespace, url: this.#url };
  }

  status(): LocalReplicaStatus {
    const t = this.spec;
    return {
      name: this.name,
      revision: t.revision,
      service: t.service,
      namespace: t.namespace,
      phase: this.#phase,
      url: this.#url,
      pid: this.#pid,
      restarts: this.#restarts,
      startedAt: this.#startedAt,
      readyAt: this.#readyAt,
      lastExitCode: this.#lastExitCode,
      message: this.#message,
      adopted: this.#adopted,
      port: this.#port,
      logFile: this.logFile,
      backoffMs: this.#phase === 'Crashed' ? this.#backoffMs : undefined,
      nextRestartAt: this.#phase === 'Crashed' ? this.#nextRestartAt : undefined,
      ...(this.#visibleDevices.length === 0 ? {} : { devices: [...this.#visibleDevices] }),
    };
  }

  async #spawn(): Promise<void> {
    const incarnation = ++this.#incarnation;
    this.#phase = 'Starting';
    this.#pid = this.#port = this.#url = this.#readyAt = undefined;
    this.#adopted = false;
    this.#probeFailures = 0;
    this.#logStart = undefined;

    let port: number;
    try {
      port = await allocatePort(this.#env.host);
    } catch (err) {
      this.#onExit(incarnation, null, `could not allocate a port: ${errorMessage(err)}`);
      return;
    }
    // Stopped or detached while the port was being found: start nothing.
    if (incarnation !== this.#incarnation || this.#stopRequested || this.#detached) return;

    let placement: Placement;
    try {
      placement = this.#env.limiter.prepare(this.name, this.limits);
    } catch (err) {
      this.#onExit(incarnation, null, `could not apply its resource limits: ${errorMessage(err)}`);
      return;
    }
    this.#placement = placement;

    let child: ChildProcess;
    let argv: string[];
    let log: number | undefined;
    try {
      const cmd = buildReplicaCommand(this.spec, {
        replica: this.name,
        port,
        host: this.#env.host,
        execPath: this.#env.execPath,
        karbEntry: this.#env.karbEntry,
        baseEnv: process.env,
        visibleDevices: this.#visibleDevices,
      });
      argv = [cmd.command, ...cmd.args];
      log = openSync(this.logFile, 'a');
      writeSync(log, `${JSON.stringify({ time: new Date(this.#env.clock.now()).toISOString(), level: 'info', msg: 'karb: starting replica', replica: this.name, port, restarts: this.#restarts, argv })}\n`);
      this.#logStart = fstatSync(log).size;
      // Own process group so it outlives a SIGKILLed karb; output goes straight to the log file, not through karb.
      // Started inside its limits; after the wrapper's exec the pid runs `argv`, which adoption compares.
      const [command, ...args] = placement.command(argv);
      child = spawn(command!, args, { detached: true, stdio: ['ignore', log, log], env: cmd.env });
    } catch (err) {
      this.#onExit(incarnation, null, `could not start: ${errorMessage(err)}`);
      return;
    } finally {
      if (log !== undefined) closeSync(log);
    }

    this.#child = child;
    const exit = Promise.withResolvers<void>();
    this.#exitPromise = exit.promise;
    this.#resolveExit = exit.resolve;
    child.once('error', (err) => this.#onExit(incarnation, null, `could not start: ${err.message}`));
    child.once('exit', (code, signal) => this.#onExit(incarnation, code, signal ? `killed by ${signal}` : `exited with code ${code}`));
    if (child.pid === undefined) return; // 'error' follows

    placement.started(child.pid);
    this.#pid = child.pid;
    this.#port = port;
    this.#url = `http://${urlHost(this.#env.host)}:${port}`;
    this.#argv = argv;
    this.#processStartTime = processStartTime(child.pid);
    this.#startedAt = this.#env.clock.now();
    this.#writeRecord();
    const gpus = this.#visibleDevices.length === 0 ? '' : ` with CUDA_VISIBLE_DEVICES=${this.#visibleDevices.join(',')}`;
    if (this.#restarts === 0) this.#emit('Normal', 'ReplicaStarted', `started pid ${child.pid} on port ${port}${gpus}`);
    else this.#emit('Normal', 'ReplicaRestarting', `restart ${this.#restarts}: started pid ${child.pid} on port ${port}`);
    this.#scheduleProbe(incarnation, this.#env.probe.startingIntervalMs);
  }

  #onExit(incarnation: number, code: number | null, description: string): void {
    if (incarnation !== this.#incarnation) return;
    this.#incarnation++; // anything still in flight for this process is now stale
    const readySince = this.#readyAt;
    const pid = this.#pid;
    this.#clearProbe();
    this.#child = undefined;
    const placement = this.#placement;
    this.#placement = undefined;
    if (placement?.wasOomKilled() === true) description = `${oomKilledMessage(this.limits)} (${description})`;
    placement?.cleanup();
    this.#pid = this.#url = this.#readyAt = undefined;
    this.#lastExitCode = code;
    this.#message = description;
    this.#resolveExit?.();
    this.#resolveExit = undefined;
    if (this.#stopRequested || this.#detached) return;

    const now = this.#env.clock.now();
    const decision = decideRestart(this.#env.backoff, this.#consecutiveCrashes, readySince, now);
    this.#consecutiveCrashes = decision.consecutiveCrashes;
    this.#phase = 'Crashed';
    this.#backoffMs = decision.delayMs;
    this.#nextRestartAt = now + decision.delayMs;
    // A process that exited by itself may have said why (karb serve's one-line refusals); a signal says it all.
    const said = code !== null && this.#logStart !== undefined ? lastLogLine(this.logFile, this.#logStart) : undefined;
    this.#message = `${pid === undefined ? '' : `pid ${pid} `}${description}${said === undefined ? '' : ` (last output: ${said})`}; restarting in ${decision.delayMs} ms`;
    this.#emit('Warning', 'ReplicaCrashed', this.#message);
    this.#restartTimer = this.#env.clock.setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopRequested || this.#detached) return;
      this.#restarts++;
      void this.#spawn();
    }, decision.delayMs);
  }

  #scheduleProbe(incarnation: number, delayMs: number): void {
    this.#probeTimer = this.#env.clock.setTimeout(() => {
      this.#probeTimer = undefined;
      void this.#probe(incarnation);
    }, delayMs);
  }

  async #probe(incarnation: number): Promise<void> {
    if (!this.#supervising(incarnation) || this.#url === undefined || this.#pid === undefined) return;
    if (this.#adopted && !isProcessAlive(this.#pid)) {
      this.#onExit(incarnation, null, 'exited (status unknown: the process was adopted)');
      return;
    }
    const result = await probeReadiness(this.#url + (this.spec.readinessPath ?? defaultReadinessPath), this.#env.probe.timeoutMs);
    if (!this.#supervising(incarnation)) return;
    const now = this.#env.clock.now();
    if (result.inconclusive === true) {
      // karb itself could not probe (out of file descriptors): neither a pass nor a failure.
      this.#scheduleProbe(incarnation, this.#env.probe.startingIntervalMs);
      return;
    }
    if (result.ready) {
      this.#probeFailures = 0;
      if (this.#phase === 'Starting') {
        this.#phase = 'Ready';
        this.#readyAt = now;
        this.#message = undefined;
        this.#emit('Normal', 'ReplicaReady', `ready at ${this.#url} (pid ${this.#pid})`);
      }
    } else {
      this.#probeFailures++;
      if (this.#phase === 'Ready' && this.#probeFailures >= this.#env.probe.failureThreshold) {
        this.#phase = 'Starting';
        this.#readyAt = undefined;
        this.#message = `readiness probe failing: ${result.detail}`;
        this.#emit('Warning', 'ReplicaNotReady', `removed from endpoints: ${this.#probeFailures} readiness probes failed (${result.detail})`);
      } else if (this.#phase === 'Starting') {
        this.#message = `waiting for readiness: ${result.detail}`;
      }
    }
    const steady = this.#phase === 'Ready' && this.#probeFailures === 0;
    this.#scheduleProbe(incarnation, steady ? this.#env.probe.readyIntervalMs : this.#env.probe.startingIntervalMs);
  }

  #supervising(incarnation: number): boolean {
    return incarnation === this.#incarnation && !this.#stopRequested && !this.#detached;
  }

  async #drain(reason: string): Promise<void> {
    this.#clearTimers();
    const pid = this.#pid;
    const exited = this.#exitPromise;
    const graceSeconds = this.spec.drainSeconds ?? defaultDrainSeconds;
    this.#phase = 'Draining';
    this.#readyAt = undefined;
    this.#message = reason;

    let outcome: string;
    if (pid === undefined || exited === undefined) {
      this.#emit('Normal', 'ReplicaDraining', `${reason}; no process is running`);
      outcome = 'stopped (no process was running)';
    } else {
      const { clock } = this.#env;
      const delayMs = this.#env.deregistrationDelayMs();
      this.#emit('Normal', 'ReplicaDraining', `${reason}; out of endpoints, SIGTERM to pid ${pid}${delayMs > 0 ? ` in ${delayMs} ms (gateways polling the routes stop sending first)` : ''}, SIGKILL after ${graceSeconds} s`);
      if (delayMs > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, delayMs));
      let killed = false;
      signalReplica(pid, 'SIGTERM');
      const grace = clock.setTimeout(() => {
        killed = true;
        signalReplica(pid, 'SIGKILL');
      }, graceSeconds * 1000);
      let poll: TimerHandle | undefined;
      if (this.#adopted) {
        const incarnation = this.#incarnation;
        const check = () => {
          if (!isProcessAlive(pid)) this.#onExit(incarnation, null, 'exited');
          else poll = clock.setTimeout(check, adoptedExitPollMs);
        };
        check();
      }
      await exited;
      clock.clearTimeout(grace);
      if (poll !== undefined) clock.clearTimeout(poll);
      outcome = killed ? `pid ${pid} killed with SIGKILL after the ${graceSeconds} s drain grace` : `pid ${pid} ${this.#message ?? 'exited'} after SIGTERM`;
    }
    this.#phase = 'Stopped';
    this.#message = outcome;
    try {
      this.#env.records.remove(this.name);
    } catch (err) {
      this.#env.log({ level: 'warn', msg: 'could not remove replica record', replica: this.name, error: errorMessage(err) });
    }
    this.#emit('Normal', 'ReplicaStopped', outcome);
  }

  #writeRecord(): void {
    const t = this.spec;
    try {
      this.#env.records.write({
        version: 1,
        name: this.name,
        namespace: t.namespace,
        service: t.service,
        revision: t.revision,
        templateHash: this.specHash,
        template: t,
        pid: this.#pid!,
        port: this.#port!,
        url: this.#url!,
        argv: this.#argv,
        ...(this.#processStartTime === undefined ? {} : { processStartTime: this.#processStartTime }),
        createdAt: this.createdAt,
        startedAt: this.#startedAt,
        restarts: this.#restarts,
        ...(this.#visibleDevices.length === 0 ? {} : { devices: [...this.#visibleDevices] }),
        ...(Object.keys(this.limits).length === 0 ? {} : { limits: this.limits }),
        requests: this.requests,
      });
    } catch (err) {
      // The replica still runs; only adoption after a karb restart is lost for it.
      this.#env.log({ level: 'warn', msg: 'could not write replica record', replica: this.name, error: errorMessage(err) });
    }
  }

  #emit(type: RuntimeEvent['type'], reason: RuntimeEvent['reason'], message: string): void {
    const t = this.spec;
    this.#env.emit({ time: this.#env.clock.now(), type, reason, message: `${this.name}: ${message}`, namespace: t.namespace, service: t.service, revision: t.revision, replica: this.name });
  }

  #clearProbe(): void {
    if (this.#probeTimer !== undefined) this.#env.clock.clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
  }

  #clearTimers(): void {
    this.#clearProbe();
    if (this.#restartTimer !== undefined) this.#env.clock.clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
  }
}

function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
