/**
 * The control loop that closes GASCL's circle on the embedded platform:
 * every period (2 s) it reads each service's signals (the gateway's, through
 * the SignalHub, and the runtime's replicas and their CPU and GPU use), calls the
 * service's decider, stores the decision and the decider's state (so a
 * restart continues where it stopped), records a scale event when the desired
 * count changes, and asks the reconciler to act. The HPA-based policies keep
 * their own sync periods inside their deciders.
 *
 * The actor around the pure deciders of src/autoscaler: it reads the store
 * and the runtime, and writes the store; the reconciler reads the stored
 * desired count, never this loop. Time comes from the injected Clock only, and
 * what a replica uses (CPU, GPU) from the runtime's `usage()`, whichever
 * runtime runs it.
 */
import { parseCpu } from '../api/index.ts';
import type { AutoscalerRecord, RevisionRecord, Store, StoredService } from './store.ts';
import type { Runtime } from '../runtime/types.ts';
import type { Clock } from '../util/clock.ts';
import { PeriodicTask } from '../util/periodic-task.ts';
import type { Log } from '../util/log.ts';
import type { SignalHub } from '../observability/hub.ts';
import type { WindowPair } from '../observability/windows.ts';
import { decide, scalingInputFromSpec } from '../autoscaler/index.ts';
import type { PodSignal, ScaleReason, ScalingInput } from '../autoscaler/types.ts';
import { isActive } from '../rollout/machine.ts';
import { concurrencyLimit } from '../gateway/discovery/service-route.ts';
import { queueLimit } from '../gateway/buffer/queue-limit.ts';
import type { RolloutState } from '../rollout/types.ts';

export const AUTOSCALER_PERIOD_MS = 2_000;
const DEFAULT_PANIC_WINDOW_MS = 6_000;
const DEFAULT_STABLE_WINDOW_MS = 60_000;

export interface AutoscalerLoopOptions {
  store: Store;
  runtime: Runtime;
  hub: SignalHub;
  clock: Clock;
  periodMs?: number;
  /** Called when a service's desired replica count (or node count) changed; the platform reconciles. */
  onDesiredChanged: (namespace: string, service: string) => void;
  /**
   * Whether another autoscaler decides this service (a cluster's HorizontalPodAutoscaler on the
   * custom metrics the controller serves): then the loop asks no decider. It still obeys
   * spec.scaling.replicas (which that autoscaler writes) and otherwise keeps the count, with
   * this sentence as the reason; the signal windows are kept as ever.
   */
  decidedElsewhere?: (service: StoredService) => string | undefined;
  /**
   * The pool limits a service's decider reads (replicas per node, nodes now and at most, a node's
   * provisioning delay), for services whose pool is known (karb controller with declared pools);
   * gascl then asks for nodes (`desiredNodes` in the record), and a change of them also asks for a pass.
   */
  capacity?: (service: StoredService) => ScalingInput['capacity'] | undefined;
  log?: Log;
}

/** The revision a service's autoscaling decides for: the stable one while it exists, else the latest. */
export function servingRevision(service: StoredService, revisions: readonly RevisionRecord[]): string | undefined {
  const latest = revisions[revisions.length - 1];
  if (latest === undefined) return undefined;
  return revisions.some((r) => r.name === service.status.stableRevision) ? service.status.stableRevision! : latest.name;
}

/**
 * The signal windows a service's decider reads at `now` (those of its serving revision), or
 * undefined while the hub has heard nothing of it. What the hpa-service decider compares with
 * its targets is `stable.p95Ms` and `stable.concurrency`.
 */
export function serviceWindows(store: Store, hub: SignalHub, service: StoredService, now: number): WindowPair | undefined {
  const serving = servingRevision(service, store.listRevisions(service.metadata.namespace, service.metadata.name));
  return serving === undefined ? undefined : hub.recorder(serving)?.windows(now);
}

/**
 * The signal windows a service decides on. A service that scales to zero after
 * less than a minute idle gets a stable window no longer than that, so the
 * windows have forgotten its traffic by the time it counts as idle.
 */
export function windowsFor(input: ScalingInput): { stableWindowMs: number; panicWindowMs: number } {
  if (input.minReplicas > 0) return { stableWindowMs: DEFAULT_STABLE_WINDOW_MS, panicWindowMs: DEFAULT_PANIC_WINDOW_MS };
  const seconds = Math.ceil(input.scaleToZeroAfterMs / 1000) * 1000;
  return { stableWindowMs: Math.min(DEFAULT_STABLE_WINDOW_MS, Math.max(DEFAULT_PANIC_WINDOW_MS, seconds)), panicWindowMs: DEFAULT_PANIC_WINDOW_MS };
}

export class AutoscalerLoop {
  readonly #o: AutoscalerLoopOptions;
  readonly #coldStartMs = new Map<string, number>();
  readonly #coldStartSeen = new Set<string>();
  readonly #task: PeriodicTask;

  constructor(options: AutoscalerLoopOptions) {
    this.#o = options;
    this.#task = new PeriodicTask({
      clock: options.clock,
      periodMs: options.periodMs ?? AUTOSCALER_PERIOD_MS,
      run: () => this.tick(),
      // One failed tick must not end the loop.
      onError: (err) => this.#o.log?.({ level: 'error', msg: 'autoscaler tick failed', error: err instanceof Error ? err.message : String(err) }),
    });
  }

  start(): void {
    this.#task.start();
  }

  /** A tick is synchronous, so none is in flight when this runs: nothing to wait for. */
  stop(): void {
    void this.#task.stop();
  }

  /** The service's `slo.coldStartMs` as of the last tick (how long the gateway holds its requests). */
  coldStartMs(namespace: string, service: string): number | undefined {
    return this.#coldStartMs.get(`${namespace}/${service}`);
  }

  /**
   * A request is held for a service that has no ready replica: if it is at
   * zero, ask for one replica now rather than at the next tick.
   */
  activate(namespace: string, service: string): void {
    const { store, clock } = this.#o;
    const prev = store.getAutoscaler(namespace, service);
    if (prev === undefined || prev.desiredReplicas >= 1) return;
    const svc = store.getService(namespace, service);
    if (svc === undefined) return;
    const message = '0→1: a request is held while the service has no replica';
    store.setAutoscaler(namespace, service, { ...prev, desiredReplicas: 1, reason: 'Activation', message, decidedAt: clock.now() });
    this.#event(svc, 'Activation', message);
    this.#o.onDesiredChanged(namespace, service);
  }

  /** One decision for every service. Synchronous: store and runtime reads are. */
  tick(): void {
    const now = this.#o.clock.now();
    this.#o.hub.sample();
    const services = this.#o.store.listServices();
    this.#o.hub.retainServices(new Set(services.map((s) => s.metadata.name)));
    for (const service of services) {
      try {
        this.#decide(service, now);
      } catch (err) {
        this.#o.log?.({ level: 'error', msg: 'autoscaler decision failed', service: service.metadata.name, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  #decide(service: StoredService, now: number): void {
    const { store, runtime, hub } = this.#o;
    const { namespace, name } = service.metadata;
    const serving = servingRevision(service, store.listRevisions(namespace, name));
    if (serving === undefined) return;
    const input = scalingInputFromSpec(service.spec, this.#o.capacity?.(service));
    this.#coldStartMs.set(`${namespace}/${name}`, service.spec.slo.coldStartMs);

    hub.track(name, [serving], windowsFor(input));
    hub.forget(name, new Set([serving]));
    const recorder = hub.recorder(serving)!;

    // Replicas being stopped no longer count: they take no new work.
    const replicas = runtime.replicas({ namespace, revision: serving }).filter((r) => r.phase !== 'Stopped' && r.phase !== 'Draining');
    // CPU utilization is relative to the cores the spec requests: 1.0 = using exactly its request.
    const cores = parseCpu(service.spec.resources.requests.cpu ?? '1') ?? 1;
    const usage = new Map(runtime.usage({ namespace, revision: serving }).map((u) => [u.replica, u]));
    for (const r of replicas) {
      const used = usage.get(r.name);
      if (used?.cpuCores !== undefined) recorder.recordCpu(now, r.name, used.cpuCores / cores);
      if (used?.gpuUtilization !== undefined) recorder.recordGpu(now, r.name, used.gpuUtilization);
      if (r.readyAt !== undefined && !this.#coldStartSeen.has(r.name)) {
        this.#coldStartSeen.add(r.name);
        if (r.readyAt >= r.startedAt) recorder.recordColdStart(now, r.readyAt - r.startedAt);
      }
    }
    const podCpu = recorder.podCpu(now);
    const pods: PodSignal[] = replicas.map((r) => {
      const pod: PodSignal = { name: r.name, ready: r.phase === 'Ready', startedAt: r.startedAt, pending: r.phase === 'Pending' || (r.phase === 'Starting' && r.pid === undefined) };
      if (r.readyAt !== undefined) pod.readyChangedAt = r.readyAt;
      const cpu = podCpu.get(r.name);
      if (cpu !== undefined) pod.cpuUtilization = cpu;
      return pod;
    });
    const ready = runtime.endpoints({ namespace, revision: serving }).length;
    // What can wait now, so GASCL projects no queue the gateways would refuse (the simulator passes its own).
    const gateways = hub.gateways();
    if (gateways > 0) input.queueLimit = queueLimit({ concurrencyLimit: concurrencyLimit(service.spec), readyReplicas: ready, gateways });
    const signals = recorder.signals(now, { ready, current: replicas.length, pods });

    const prev = store.getAutoscaler(namespace, name);
    const elsewhere = input.replicas === undefined ? this.#o.decidedElsewhere?.(service) : undefined;
    const { result, next } =
      elsewhere === undefined ? decide(signals, input, prev?.state, now) : { result: { valid: false as const, reason: 'NoData' as const, message: elsewhere }, next: prev?.state ?? {} };
    let record: AutoscalerRecord;
    if (result.valid) {
      // The same decision keeps its first message, so status (and its writes) stay put while nothing changes.
      const same = prev !== undefined && prev.desiredReplicas === result.desiredReplicas && prev.desiredNodes === result.desiredNodes && prev.reason === result.reason && prev.panic === result.panic;
      record = {
        desiredReplicas: result.desiredReplicas,
        ...(result.desiredNodes !== undefined ? { desiredNodes: result.desiredNodes } : {}),
        reason: result.reason,
        message: same ? prev.message : result.message,
        panic: result.panic,
        decidedAt: now,
        state: next,
      };
    } else if (prev !== undefined) {
      const message = prev.reason === result.reason ? prev.message : `kept at ${prev.desiredReplicas}: ${result.message}`;
      record = { ...prev, reason: result.reason, message, decidedAt: now, state: next };
      // Nodes are asked for by karb's own deciders only: another autoscaler deciding asks for none.
      if (elsewhere !== undefined) delete record.desiredNodes;
    } else {
      return; // nothing decided yet: the reconciler keeps its warm floor
    }
    record = holdDuringRollout(record, prev, store.getRollout<RolloutState>(namespace, name));
    store.setAutoscaler(namespace, name, record);

    const bound = (n: number) => Math.max(input.minReplicas, Math.min(input.maxReplicas, n));
    const before = bound(prev?.desiredReplicas ?? replicas.length);
    if (bound(record.desiredReplicas) !== before) {
      this.#event(service, record.reason, record.message, serving);
      this.#o.onDesiredChanged(namespace, name);
    } else if (record.desiredNodes !== prev?.desiredNodes) {
      // The same replicas on other nodes: what acts on node requests (a capacity reservation) is due.
      this.#o.onDesiredChanged(namespace, name);
    }
  }

  #event(service: StoredService, reason: ScaleReason, message: string, revision?: string): void {
    const { namespace, name } = service.metadata;
    this.#o.store.addEvent({ type: 'Normal', reason, message, namespace, service: name, ...(revision ? { revision } : {}) });
    this.#o.log?.({ level: 'info', msg: 'scaled', component: 'autoscaler', service: name, reason, message });
  }
}

/**
 * No scale-down while a rollout is in progress: the serving revision sees only
 * its share of the traffic then, and both revisions are sized from its count.
 */
export function holdDuringRollout(record: AutoscalerRecord, prev: AutoscalerRecord | undefined, rollout: RolloutState | undefined): AutoscalerRecord {
  if (rollout === undefined || !isActive(rollout) || prev === undefined || record.desiredReplicas >= prev.desiredReplicas) return record;
  const message = `kept at ${prev.desiredReplicas}: no scale-down while ${rollout.revision} rolls out (the serving revision sees only part of the traffic)`;
  return { ...record, desiredReplicas: prev.desiredReplicas, reason: 'RolloutHold', message: prev.reason === 'RolloutHold' ? prev.message : message };
}

