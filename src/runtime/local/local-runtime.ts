/**
 * The embedded runtime: each replica is a child process on this machine.
 *
 * State lives under `stateDir`: `replicas/<replica>.json` records every live
 * replica (so a restarted karb, even one that was SIGKILLed, adopts them instead
 * of starting duplicates) and `logs/<replica>.log` collects each replica's
 * stdout and stderr across its restarts.
 *
 * Recovery starts in the constructor; `await runtime.recover()` waits for it.
 * `ensureRevision`, `removeRevision` and `close` wait for it themselves, so
 * adopted replicas are always counted before anything new is started.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkReplicaCount, RuntimeClosedError } from '../errors.ts';
import { InvalidRequestError } from '../../errors.ts';
import { systemClock, type Clock } from '../../util/clock.ts';
import type { Endpoint, ReplicaUsage, RevisionTemplate, Runtime, RuntimeEvent } from '../types.ts';
import { defaultBackoffPolicy, type BackoffPolicy } from './backoff.ts';
import { probeReadiness } from './probe.ts';
import { ProcessCpuSampler } from './process-cpu.ts';
import { GpuSampler, nvidiaSmiPmon, type PmonReader } from './process-gpu.ts';
import { defaultTimeSlices, GpuAllocator, holdMode, type Holding } from './gpu-allocator.ts';
import { describeInventory, discoverGpus, type GpuInventory } from './gpu-inventory.ts';
import { matchProcess } from './process-identity.ts';
import { localProcessSpec } from './process-spec.ts';
import { defaultProbeSettings, defaultReadinessPath, Replica, type LocalReplicaStatus, type ProbeSettings, type ReplicaEnvironment } from './replica.ts';
import { processSpecHash, validateProcessSpec } from './replica-command.ts';
import { ReplicaRecordStore, type ReplicaRecord } from './replica-record.ts';
import { quotaFits, replicaRequests, sumRequests, validateQuotas, type NamespaceQuotas, type QuotaDecision } from './quota.ts';
import { detectReplicaLimiter, replicaLimits, type ReplicaLimiter } from './resource-limits.ts';

export type { LocalReplicaStatus } from './replica.ts';

export interface LocalRuntimeOptions {
  /** Directory for replica records and logs, e.g. `.karb`. */
  stateDir: string;
  /** Relative `file://` model URIs resolve against this directory (`karb up --models-root`); default the working directory. */
  modelsRoot?: string;
  clock?: Clock;
  /** The karb CLI entry the built-in server runs from; defaults to this checkout's `src/cli/main.ts`. */
  karbEntry?: string;
  /** Structured log records (JSON-line shaped) for problems that are not replica events. */
  log?: (record: Record<string, unknown>) => void;
  restartBackoff?: Partial<BackoffPolicy>;
  probe?: Partial<ProbeSettings>;
  /** Address replicas listen on and are probed at. */
  host?: string;
  /**
   * How long a stopping replica keeps serving after it left the endpoints,
   * before its SIGTERM, so gateways that poll the routes (standalone ones)
   * stop sending it requests first. Asked at each stop; default 0.
   */
  deregistrationDelayMs?: () => number;
  /** Reads a process's CPU seconds (tests give a fixed reading); default `/proc/<pid>/stat`. */
  readCpuSeconds?: (pid: number) => number | undefined;
  /** Reads per-process GPU use (tests give a fixed text); default `nvidia-smi pmon`, missing where there is no GPU. */
  readPmon?: PmonReader;
  /** Finds this machine's GPUs (at start and on `refreshGpus`); default nvidia-smi (`gpu-inventory.ts`), none where it is missing. */
  discoverGpus?: () => Promise<GpuInventory>;
  /** Replicas that may share one GPU with `sharing: time-slice` (`karb up --gpu-time-slices`); default 4. */
  gpuTimeSlices?: number;
  /** How replicas' CPU and memory limits are enforced; default: detected (and logged) when the runtime starts. */
  limiter?: ReplicaLimiter;
  /**
   * Per namespace, the most its live replicas may request in all (the governance file's
   * `spec.quotas`, in numbers); a replica that would pass it waits Pending. Default: none.
   */
  quotas?: NamespaceQuotas;
}

type Filter = { namespace?: string; service?: string; revision?: string };

export const defaultKarbEntry = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

export class LocalRuntime implements Runtime {
  readonly stateDir: string;
  readonly modelsRoot: string;
  readonly #env: ReplicaEnvironment;
  readonly #cpu: ProcessCpuSampler;
  readonly #gpu: GpuSampler;
  readonly #gpus: GpuAllocator;
  readonly #discoverGpus: () => Promise<GpuInventory>;
  readonly #quotas: NamespaceQuotas;
  #discovery: Promise<GpuInventory>;
  #inventoryLogged: string | undefined;
  readonly #replicas = new Map<string, Replica>();
  readonly #listeners = new Set<(event: RuntimeEvent) => void>();
  readonly #stops = new Set<Promise<void>>();
  readonly #recovery: Promise<void>;
  #closing: Promise<void> | undefined;
  #sequence = 0;

  constructor(options: LocalRuntimeOptions) {
    const timeSlices = options.gpuTimeSlices ?? defaultTimeSlices;
    if (!Number.isInteger(timeSlices) || timeSlices < 1) {
      throw new InvalidRequestError(`gpuTimeSlices must be a whole number of 1 or more (replicas that may share one GPU), got ${timeSlices}`, { code: 'RUNTIME_INVALID_GPU_TIME_SLICES' });
    }
    const quotas = options.quotas ?? {};
    validateQuotas(quotas);
    this.#quotas = quotas;
    this.stateDir = resolve(options.stateDir);
    this.modelsRoot = resolve(options.modelsRoot ?? process.cwd());
    const logsDir = join(this.stateDir, 'logs');
    const records = new ReplicaRecordStore(join(this.stateDir, 'replicas'));
    mkdirSync(logsDir, { recursive: true });
    mkdirSync(records.dir, { recursive: true });
    const log = options.log ?? (() => {});
    this.#env = {
      clock: options.clock ?? systemClock,
      host: options.host ?? '127.0.0.1',
      execPath: process.execPath,
      karbEntry: options.karbEntry ?? defaultKarbEntry,
      logsDir,
      records,
      backoff: { ...defaultBackoffPolicy, ...options.restartBackoff },
      probe: { ...defaultProbeSettings, ...options.probe },
      limiter: options.limiter ?? detectReplicaLimiter({ log: (record) => log({ component: 'local-runtime', ...record }) }),
      emit: (event) => this.#emit(event),
      log: (record) => log({ component: 'local-runtime', ...record }),
      deregistrationDelayMs: options.deregistrationDelayMs ?? (() => 0),
    };
    this.#cpu = new ProcessCpuSampler(options.readCpuSeconds);
    this.#gpu = new GpuSampler(options.readPmon ?? nvidiaSmiPmon);
    this.#gpus = new GpuAllocator({ timeSlices });
    this.#discoverGpus = options.discoverGpus ?? (() => discoverGpus());
    this.#discovery = this.refreshGpus();
    this.#recovery = this.#recover();
  }

  /** Resolves once the replicas left by an earlier karb are adopted or cleaned up. Safe to call any number of times. */
  recover(): Promise<void> {
    return this.#recovery;
  }

  async ensureRevision(template: RevisionTemplate, replicas: number): Promise<void> {
    checkReplicaCount(template, replicas);
    const spec = localProcessSpec(template, this.modelsRoot);
    validateProcessSpec(spec);
    const limits = replicaLimits(`revision ${template.namespace}/${template.revision}`, template.resources?.limits);
    const requests = replicaRequests(`revision ${template.namespace}/${template.revision}`, template.resources);
    await this.#recovery;
    // The allocator needs this machine's GPUs before it places a replica that asks for some.
    if (spec.accelerator !== undefined) await this.#discovery;
    if (this.#closing) throw new RuntimeClosedError('local');

    const hash = processSpecHash(spec);
    const current = this.#select({ namespace: template.namespace, revision: template.revision }).filter((r) => !r.stopping);
    // A revision is immutable, so a different process under the same name comes from an older karb: replace those replicas.
    for (const r of current) if (r.specHash !== hash) this.#stop(r, 'its template differs from the revision karb now runs');
    const matching = current.filter((r) => r.specHash === hash);
    // A revision's requests never change; this tells adopted replicas whose records predate them.
    for (const r of matching) r.requests = requests;

    for (let i = matching.length; i < replicas; i++) {
      const replica = new Replica(this.#env, spec, this.#newName(template.revision), { createdAt: this.#env.clock.now(), sequence: ++this.#sequence, hash, limits, requests });
      this.#replicas.set(replica.name, replica);
      this.#admit(replica);
    }
    if (matching.length > replicas) {
      // Scale down the replicas that serve least: pending (waiting for quota or a GPU) first, then not ready, then the newest.
      const byExpendability = [...matching].sort(
        (a, b) => Number(b.phase === 'Pending') - Number(a.phase === 'Pending') || Number(a.phase === 'Ready') - Number(b.phase === 'Ready') || b.createdAt - a.createdAt || b.sequence - a.sequence,
      );
      for (const r of byExpendability.slice(0, matching.length - replicas)) this.#stop(r, `scaling ${template.revision} down to ${replicas}`);
    }
  }

  /** Starts draining every replica of the revision; resolves once they are out of the endpoints and signalled, not when they exit (see `settled`). */
  async removeRevision(namespace: string, revision: string): Promise<void> {
    await this.#recovery;
    if (this.#closing) throw new RuntimeClosedError('local');
    for (const r of this.#select({ namespace, revision })) if (!r.stopping) this.#stop(r, `revision ${revision} removed`);
  }

  /** Revisions with replicas that are not being stopped; `replicas` counts those. */
  revisions(): Array<{ namespace: string; service: string; revision: string; replicas: number }> {
    const byRevision = new Map<string, { namespace: string; service: string; revision: string; replicas: number }>();
    for (const r of this.#replicas.values()) {
      if (r.stopping) continue;
      const { namespace, service, revision } = r.spec;
      const key = `${namespace}/${revision}`;
      const entry = byRevision.get(key) ?? { namespace, service, revision, replicas: 0 };
      entry.replicas++;
      byRevision.set(key, entry);
    }
    return [...byRevision.values()];
  }

  replicas(filter: Filter = {}): LocalReplicaStatus[] {
    return this.#select(filter).map((r) => r.status());
  }

  endpoints(filter: Filter = {}): Endpoint[] {
    const out: Endpoint[] = [];
    for (const r of this.#select(filter)) {
      const e = r.endpoint();
      if (e) out.push(e);
    }
    return out;
  }

  /**
   * CPU cores each running replica's process used since the previous call
   * (user + system time from `/proc/<pid>/stat` over the clock's time between
   * the two samples); missing on a process's first sample, after a restart
   * (a new process), and where `/proc` is missing. GPU utilization is the
   * last `nvidia-smi pmon` sample of the process: each call starts the next
   * read in the background (it takes tens of milliseconds), so this stays
   * synchronous and reports what the previous read found.
   */
  usage(filter: Filter = {}): ReplicaUsage[] {
    const now = this.#env.clock.now();
    void this.#gpu.refresh();
    const out: ReplicaUsage[] = [];
    for (const r of this.#select(filter)) {
      if (r.stopping) continue;
      const { name: replica, spec, pid } = r;
      const cpuCores = pid === undefined ? undefined : this.#cpu.sample(pid, now);
      const gpuUtilization = pid === undefined ? undefined : this.#gpu.utilization(pid);
      out.push({
        replica,
        namespace: spec.namespace,
        service: spec.service,
        revision: spec.revision,
        ...(cpuCores === undefined ? {} : { cpuCores }),
        ...(gpuUtilization === undefined ? {} : { gpuUtilization }),
      });
    }
    const live = new Set<number>();
    for (const r of this.#replicas.values()) {
      if (r.pid !== undefined && !r.stopping) live.add(r.pid);
    }
    this.#cpu.retain(live);
    return out;
  }

  /**
   * Every event concerns one replica; endpoints change with ReplicaReady,
   * ReplicaAdopted, ReplicaNotReady, ReplicaCrashed and ReplicaDraining, so
   * re-reading `endpoints()` on any event keeps a routing table current.
   */
  onEvent(listener: (event: RuntimeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves when every stop under way has finished (the processes have exited). */
  async settled(): Promise<void> {
    while (this.#stops.size > 0) await Promise.all(this.#stops);
  }

  logFile(replica: string): string {
    return join(this.#env.logsDir, `${replica}.log`);
  }

  /**
   * Asks for this machine's GPUs again (nvidia-smi by default) — after a driver came up or MIG
   * instances were made — and starts the pending replicas that now fit. Never rejects: a failed
   * discovery is no GPUs, logged when the finding changes.
   */
  refreshGpus(): Promise<GpuInventory> {
    const found = this.#discoverGpus().catch((err: unknown): GpuInventory => ({ gpus: [], problem: `GPU discovery failed: ${err instanceof Error ? err.message : String(err)}` }));
    this.#discovery = found.then((inventory) => {
      this.#gpus.inventory = inventory;
      const summary = describeInventory(inventory);
      if (summary !== this.#inventoryLogged) {
        this.#inventoryLogged = summary;
        this.#env.log({ level: 'info', msg: inventory.gpus.length > 0 ? 'GPUs found' : 'no GPUs: replicas that ask for one wait', gpus: summary });
      }
      this.#startPending();
      return inventory;
    });
    return this.#discovery;
  }

  /** The GPUs found and what each replica holds (UUIDs). */
  gpus(): { inventory: GpuInventory; holdings: Holding[] } {
    return { inventory: this.#gpus.inventory, holdings: this.#gpus.holdings() };
  }

  /**
   * Normal shutdown drains and stops every replica. With `leaveRunning` the
   * processes keep running (and keep their records) for the next karb to adopt.
   */
  close(options: { leaveRunning?: boolean } = {}): Promise<void> {
    this.#closing ??= (async () => {
      await this.#recovery;
      if (options.leaveRunning) {
        for (const r of this.#replicas.values()) r.detach();
      } else {
        for (const r of this.#replicas.values()) if (!r.stopping) this.#stop(r, 'karb is shutting down');
      }
      await this.settled();
    })();
    return this.#closing;
  }

  #stop(replica: Replica, reason: string): void {
    const done = replica.stop(reason).then(
      () => {
        this.#replicas.delete(replica.name);
        this.#stops.delete(done);
        this.#release(replica);
      },
      (err: unknown) => {
        this.#replicas.delete(replica.name);
        this.#stops.delete(done);
        this.#env.log({ level: 'error', msg: 'stopping a replica failed', replica: replica.name, error: err instanceof Error ? err.message : String(err) });
        this.#release(replica);
      },
    );
    this.#stops.add(done);
  }

  /**
   * Starts the replica when both its namespace's quota has room for it and the GPUs it asks for
   * are free; otherwise leaves it Pending with the reason of the first that does not (the quota is
   * asked first, so a replica past it takes no GPU).
   */
  #admit(replica: Replica): void {
    const quota = this.#quotaRoom(replica);
    if (!quota.fits) return replica.wait(quota.reason);
    const request = replica.spec.accelerator;
    if (request === undefined) return replica.start();
    const placement = this.#gpus.assign(replica.name, request);
    if (placement.fits) replica.start(placement.devices);
    else replica.wait(placement.reason);
  }

  /** Whether the replica fits in its namespace's quota beside the live replicas of that namespace (adopted ones included). */
  #quotaRoom(replica: Replica): QuotaDecision {
    const { namespace } = replica.spec;
    const quota = this.#quotas[namespace];
    if (quota === undefined) return { fits: true };
    const live = [...this.#replicas.values()].filter((r) => r !== replica && r.spec.namespace === namespace && r.holdsRequests);
    return quotaFits(namespace, quota, sumRequests(live.map((r) => r.requests)), replica.requests);
  }

  /**
   * Its process is gone: its GPUs are free and its requests no longer count against its
   * namespace's quota, so the pending replicas are tried again in the order they were created.
   */
  #release(replica: Replica): void {
    this.#gpus.release(replica.name);
    this.#startPending();
  }

  #startPending(): void {
    if (this.#closing) return;
    const pending = [...this.#replicas.values()].filter((r) => r.phase === 'Pending' && !r.stopping).sort((a, b) => a.sequence - b.sequence);
    for (const r of pending) this.#admit(r);
  }

  async #recover(): Promise<void> {
    await Promise.resolve(); // let the caller subscribe to events first
    const { records, discarded } = this.#env.records.readAll();
    for (const d of discarded) this.#env.log({ level: 'warn', msg: 'discarded an unreadable replica record', file: d.file, reason: d.reason });
    records.sort((a, b) => a.createdAt - b.createdAt);
    await Promise.all(records.map((record) => this.#recoverOne(record, ++this.#sequence)));
  }

  async #recoverOne(record: ReplicaRecord, sequence: number): Promise<void> {
    const match = matchProcess(record);
    if (!match.same) {
      this.#removeRecord(record.name);
      this.#env.limiter.forget(record.name);
      const why = match.reason === 'Exited' ? 'has exited' : `now belongs to another process (${match.reason})`;
      this.#emitFor(record, 'Normal', 'ReplicaStopped', `pid ${record.pid} from an earlier karb ${why}; record removed`);
      return;
    }
    const url = record.url + (record.template.readinessPath ?? defaultReadinessPath);
    const timeoutMs = this.#env.probe.timeoutMs;
    const ready = (await probeReadiness(url, timeoutMs)).ready || (await probeReadiness(url, timeoutMs)).ready;
    const replica = Replica.adopt(this.#env, record, ready, sequence);
    this.#replicas.set(replica.name, replica);
    // Its GPUs stay taken while its process lives, as the earlier karb assigned them.
    if (record.template.accelerator !== undefined) this.#gpus.hold(replica.name, holdMode(record.template.accelerator), record.devices ?? []);
    if (!ready) this.#stop(replica, `pid ${record.pid} from an earlier karb does not answer readiness`);
  }

  #removeRecord(name: string): void {
    try {
      this.#env.records.remove(name);
    } catch (err) {
      this.#env.log({ level: 'warn', msg: 'could not remove replica record', replica: name, error: err instanceof Error ? err.message : String(err) });
    }
  }

  #select(filter: Filter): Replica[] {
    const out: Replica[] = [];
    for (const r of this.#replicas.values()) {
      const t = r.spec;
      if (filter.namespace !== undefined && t.namespace !== filter.namespace) continue;
      if (filter.service !== undefined && t.service !== filter.service) continue;
      if (filter.revision !== undefined && t.revision !== filter.revision) continue;
      out.push(r);
    }
    return out;
  }

  #newName(revision: string): string {
    for (;;) {
      const suffix = [...randomBytes(5)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
      const name = `${revision}-${suffix}`;
      if (!this.#replicas.has(name)) return name;
    }
  }

  #emitFor(record: ReplicaRecord, type: RuntimeEvent['type'], reason: RuntimeEvent['reason'], message: string): void {
    this.#emit({ time: this.#env.clock.now(), type, reason, message: `${record.name}: ${message}`, namespace: record.namespace, service: record.service, revision: record.revision, replica: record.name });
  }

  #emit(event: RuntimeEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#env.log({ level: 'warn', msg: 'a runtime event listener threw', reason: event.reason, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}
