/**
 * One container of a pod on the test node: its process (restarted with backoff as the pod's
 * restartPolicy says), its startup, readiness and liveness probes, and its graceful stop
 * (preStop, SIGTERM, SIGKILL after the grace period). It keeps `obs`, the container's observed
 * status, current and calls `changed()` whenever that moves; the pod worker writes it.
 *
 * Restart backoff: 1 s, doubling to 30 s (a kubelet starts at 10 s and goes to 5 min; tests
 * should not wait that long), reset once a run lasted a minute.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import type { ContainerObserved } from './pod-status.ts';
import type { ProbePlan, ProcessPlan } from './pod-plan.ts';
import { httpGet, runProbe } from './probes.ts';

const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const BACKOFF_RESET_MS = 60_000;
/** After a preStop hook, a container still gets this long to stop after SIGTERM (the kubelet's minimum). */
const MIN_GRACE_AFTER_PRESTOP_MS = 2_000;

export interface RunHooks {
  /** The observed status moved. */
  changed(): void;
  /** An Event on the pod (Started, Killing, BackOff, Unhealthy). */
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
  /** A kill (liveness or startup failure) waits this many seconds between SIGTERM and SIGKILL. */
  graceSeconds(): number;
}

export interface RunOptions {
  plan: ProcessPlan;
  obs: ContainerObserved;
  /** Init containers run to completion: no probes; exit 0 ends them. */
  init: boolean;
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  logFile: string;
  /** File URL of pod-guard.ts, preloaded into the process. */
  guard: string;
  podName: string;
  hooks: RunHooks;
}

type Exit = { exitCode: number; signal: NodeJS.Signals | null };

/** The agent's lines in a container's log: JSON like karb's own, with msg starting "karb test node:". */
const logLine = (msg: string, fields: Record<string, unknown>) => `${JSON.stringify({ time: new Date().toISOString(), msg: `karb test node: ${msg}`, ...fields })}\n`;
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ContainerRun {
  readonly obs: ContainerObserved;
  readonly #o: RunOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<Exit> | undefined;
  #generation = 0;
  #timers = new Set<NodeJS.Timeout>();
  #stopping = false;
  #crashes = 0;
  #startedAtMs = 0;
  /** For init containers: resolves true on exit 0, false when it failed for good (restartPolicy Never) or was stopped. */
  readonly finished: Promise<boolean>;
  #finish!: (ok: boolean) => void;

  constructor(options: RunOptions) {
    this.#o = options;
    this.obs = options.obs;
    this.finished = new Promise((resolve) => (this.#finish = resolve));
  }

  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }

  start(): void {
    if (this.#stopping) return;
    const gen = ++this.#generation;
    const { plan } = this.#o;
    const argv = ['--import', this.#o.guard, ...plan.args];
    let log: number | 'ignore' = 'ignore';
    let child: ChildProcess;
    try {
      log = openSync(this.#o.logFile, 'a');
      writeSync(log, logLine('starting container', { container: plan.name, restartCount: this.obs.restartCount, argv: [plan.command, ...argv], cwd: plan.cwd }));
    } catch {
      // the log's folder is gone (the agent's folder removed under it): run without a log
    }
    try {
      // Its own process group, so a stop reaches whatever it starts; output straight to the log.
      child = spawn(plan.command, argv, { cwd: plan.cwd, env: plan.env, detached: true, stdio: ['ignore', log, log] });
    } finally {
      if (log !== 'ignore') closeSync(log);
    }
    this.#child = child;
    this.#startedAtMs = Date.now();
    const startedAt = now();
    this.#exited = new Promise<Exit>((resolve) => {
      child.once('error', (err) => {
        this.#onExit(gen, startedAt, { exitCode: 128, signal: null }, `StartError: ${err.message}`);
        resolve({ exitCode: 128, signal: null });
      });
      child.once('exit', (code, signal) => {
        const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
        this.#onExit(gen, startedAt, { exitCode, signal }, undefined);
        resolve({ exitCode, signal });
      });
    });
    this.obs.state = { kind: 'running', startedAt };
    this.obs.containerID = `karb-test-node://${child.pid ?? 'none'}`;
    this.obs.ready = false;
    this.obs.started = false;
    this.#o.hooks.event('Normal', 'Started', `Started container ${plan.name} (pid ${child.pid})`);
    if (this.#o.init) {
      this.#o.hooks.changed();
      return;
    }
    if (plan.startup) this.#probeLoop(gen, plan.startup, 'Startup');
    else this.#onStarted(gen);
    this.#o.hooks.changed();
  }

  #onStarted(gen: number): void {
    this.obs.started = true;
    const { plan } = this.#o;
    if (plan.readiness) this.#probeLoop(gen, plan.readiness, 'Readiness');
    else this.obs.ready = true;
    if (plan.liveness) this.#probeLoop(gen, plan.liveness, 'Liveness');
    this.#o.hooks.changed();
  }

  /** A probe every period while this incarnation runs; what a result means depends on the probe. */
  #probeLoop(gen: number, probe: ProbePlan, which: 'Startup' | 'Readiness' | 'Liveness'): void {
    let successes = 0;
    let failures = 0;
    const tick = async () => {
      if (gen !== this.#generation || this.obs.state.kind !== 'running') return;
      const result = await runProbe(probe.action, probe.timeoutSeconds * 1000);
      if (gen !== this.#generation || this.obs.state.kind !== 'running') return;
      if (result.ok) {
        successes++;
        failures = 0;
      } else {
        failures++;
        successes = 0;
      }
      switch (which) {
        case 'Startup':
          if (result.ok) {
            this.#onStarted(gen);
            return; // the startup probe is done
          }
          if (failures >= probe.failureThreshold) {
            this.#o.hooks.event('Warning', 'Unhealthy', `Startup probe failed: ${result.message}`);
            this.#kill(gen, `Container ${this.#o.plan.name} failed startup probe, will be restarted`);
            return;
          }
          break;
        case 'Readiness': {
          const ready = result.ok ? successes >= probe.successThreshold || this.obs.ready : failures < probe.failureThreshold && this.obs.ready;
          if (!result.ok && failures === probe.failureThreshold) this.#o.hooks.event('Warning', 'Unhealthy', `Readiness probe failed: ${result.message}`);
          if (ready !== this.obs.ready) {
            this.obs.ready = ready;
            this.#o.hooks.changed();
          }
          break;
        }
        case 'Liveness':
          if (failures >= probe.failureThreshold) {
            this.#o.hooks.event('Warning', 'Unhealthy', `Liveness probe failed: ${result.message}`);
            this.#kill(gen, `Container ${this.#o.plan.name} failed liveness probe, will be restarted`);
            return;
          }
          break;
      }
      this.#after(probe.periodSeconds * 1000, tick);
    };
    this.#after(probe.initialDelaySeconds * 1000, tick);
  }

  #after(ms: number, fn: () => void | Promise<void>): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      void fn();
    }, ms);
    this.#timers.add(t);
  }

  /** A probe failed for good: SIGTERM, SIGKILL after the grace period; the exit restarts it. */
  #kill(gen: number, message: string): void {
    this.#o.hooks.event('Normal', 'Killing', message);
    const child = this.#child;
    if (!child?.pid) return;
    this.#note(`${message}: SIGTERM`);
    signalGroup(child.pid, 'SIGTERM');
    this.#after(this.#o.hooks.graceSeconds() * 1000, () => {
      if (gen !== this.#generation || !child.pid) return;
      this.#note('grace period over: SIGKILL');
      signalGroup(child.pid, 'SIGKILL');
    });
  }

  /** A line of the agent's own in the container's log, so the log tells the whole story. */
  #note(msg: string, fields: Record<string, unknown> = {}): void {
    try {
      appendFileSync(this.#o.logFile, logLine(msg, fields));
    } catch {
      // the folder is gone with the cluster
    }
  }

  #onExit(gen: number, startedAt: string, exit: Exit, startError: string | undefined): void {
    if (gen !== this.#generation) return;
    this.#generation++; // probes of this incarnation stop
    this.#clearTimers();
    this.#child = undefined;
    const terminated = {
      kind: 'terminated' as const,
      exitCode: exit.exitCode,
      reason: startError ? 'StartError' : exit.exitCode === 0 ? 'Completed' : 'Error',
      ...(startError ? { message: startError } : {}),
      startedAt,
      finishedAt: now(),
    };
    this.obs.ready = false;
    this.obs.started = false;
    const { restartPolicy, init } = this.#o;
    const succeeded = exit.exitCode === 0;
    const restart = !this.#stopping && (init ? !succeeded && restartPolicy !== 'Never' : restartPolicy === 'Always' || (restartPolicy === 'OnFailure' && !succeeded));
    this.#note('container exited', { exitCode: exit.exitCode, signal: exit.signal, ...(startError ? { error: startError } : {}) });
    if (!restart) {
      this.obs.state = terminated;
      this.#o.hooks.changed();
      if (init) this.#finish(succeeded && !this.#stopping);
      return;
    }
    if (Date.now() - this.#startedAtMs >= BACKOFF_RESET_MS) this.#crashes = 0;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.#crashes);
    this.#crashes++;
    this.obs.lastState = terminated;
    const message = `back-off ${Math.round(delay / 1000)}s restarting failed container=${this.#o.plan.name} pod=${this.#o.podName}`;
    this.obs.state = { kind: 'waiting', reason: 'CrashLoopBackOff', message };
    this.#o.hooks.event('Warning', 'BackOff', `Back-off restarting failed container ${this.#o.plan.name} (exit code ${exit.exitCode})`);
    this.#o.hooks.changed();
    this.#after(delay, () => {
      if (this.#stopping) return;
      this.obs.restartCount++;
      this.start();
    });
  }

  /**
   * Stops the container for good: its preStop hook (when asked, bounded by the grace period),
   * SIGTERM, and SIGKILL once `graceSeconds` (at least 2 s after a preStop) are up. Resolves once
   * the process is gone.
   */
  async stop(graceSeconds: number, runPreStop: boolean): Promise<void> {
    this.#stopping = true;
    this.#clearTimersExceptProbes();
    const child = this.#child;
    const exited = this.#exited;
    if (!child?.pid || !exited || this.obs.state.kind !== 'running') {
      if (this.#o.init) this.#finish(false);
      return;
    }
    const deadline = Date.now() + graceSeconds * 1000;
    const pre = this.#o.plan.preStop;
    if (runPreStop && pre && graceSeconds > 0) {
      this.#note(`preStop hook: ${pre.kind === 'sleep' ? `sleep ${pre.seconds} s` : `GET ${pre.url}`}`);
      const hook = pre.kind === 'sleep' ? sleep(pre.seconds * 1000) : httpGet(pre.url, pre.headers, Math.max(1, deadline - Date.now()));
      await Promise.race([hook, exited, sleep(Math.max(0, deadline - Date.now()))]);
    }
    const killAt = pre && runPreStop ? Math.max(deadline, Date.now() + MIN_GRACE_AFTER_PRESTOP_MS) : deadline;
    this.#note('stopping: SIGTERM', { graceSeconds });
    signalGroup(child.pid, 'SIGTERM');
    const killed = await Promise.race([exited.then(() => false), sleep(Math.max(0, killAt - Date.now())).then(() => true)]);
    if (killed) {
      this.#note('grace period over: SIGKILL');
      signalGroup(child.pid, 'SIGKILL');
    }
    await exited;
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  /** Backoff and kill timers go; probes keep running while the container stops (a kubelet's readiness probes do). */
  #clearTimersExceptProbes(): void {
    if (this.obs.state.kind !== 'running') this.#clearTimers();
  }
}

/** A signal to the process group the container's process leads (it was started detached). */
export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // gone
    }
  }
}
