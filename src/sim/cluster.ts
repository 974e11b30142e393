/**
 * One simulated run: a cluster of node pools, pods with cold starts, a gateway
 * queue, and a scale controller deciding every period. The model:
 *
 * - Requests arrive on the scenario's schedule (open loop). A request goes to the
 *   ready replica with the most free slots; with none free it waits in the
 *   gateway's FIFO queue (bounded: beyond `maxQueue` it is rejected; waiting
 *   longer than `timeout` it errors out). A slot serves one request at a time for
 *   its drawn service time (lognormal, scaled by the request's work).
 * - Pods: Pending (no node with room) → Starting (image pull, once per node, then
 *   model load) → Ready → Draining (no new requests; gone when idle).
 * - Nodes: Provisioning (the pool's delay) → Ready → removed. Node-hours count from
 *   the request to the removal; pools are tried in the order they are listed.
 * - Nodes follow the controller: `cluster-autoscaler` adds nodes for pods pending
 *   longer than `pendingFor` and removes nodes empty for `emptyFor` (what
 *   Kubernetes' cluster-autoscaler does); `direct` acts on the controller's
 *   `desiredNodes` at once and falls back to the cluster autoscaler when a
 *   decision names none.
 * - On scale-down, pods that are not ready go first, then ready pods on the
 *   emptiest nodes of the last-listed pools (so elastic nodes empty out).
 * - Signals: the simulated gateway reports to observability's signal windows
 *   (src/observability/windows.ts) what karb's gateway reports to its signal
 *   hub: each request a replica served, when it finished, with its latency
 *   since it reached the gateway; the requests at replicas plus those waiting
 *   in the queue (concurrency) and those waiting (queue depth) whenever they
 *   change; each replica's cold start when it becomes ready; and at each
 *   decision every ready replica's CPU (and GPU) use since the previous one.
 *   A request refused at a full queue or timed out in it never reached a
 *   replica, so, as in karb's gateway, the deciders see it only through the
 *   queue. Deciders read the windows at the decision's instant, so simulated
 *   and real deciders see the same numbers for the same traffic.
 *
 * Everything is deterministic for a scenario and controller: arrivals, service
 * times (one draw per arrival, in arrival order), cold starts and provisioning
 * delays all come from seeded streams.
 */
import type { PodSignal, Signals } from '../autoscaler/types.ts';
import { SignalRecorder } from '../observability/windows.ts';
import { EventQueue, runEvents, type PoppedEvent } from './engine.ts';
import { QUEUE_FULL, QUEUE_TIMEOUT, RunMetrics, SERVED, type MinuteResult, type Series } from './metrics.ts';
import { BinnedHistogram } from './histogram.ts';
import { capacityRps } from './queueing.ts';
import { lognormalFromMeanP95, seededRandom, type Random } from './random.ts';
import type { Delay, PoolConfig, Scenario } from './scenario-schema.ts';
import { openArrivals } from './traffic.ts';

/** Deciders see times as milliseconds since the epoch; simulated time 0 is this instant. */
export const SIM_EPOCH_MS = Date.UTC(2025, 0, 1);

export interface ScaleAction {
  desiredReplicas: number;
  /** Total nodes across pools; acted on only by `direct` node management. */
  desiredNodes?: number;
}

/** What a controller sees when it decides. */
export interface ClusterView {
  /** Simulated ms since the start. */
  readonly timeMs: number;
  readonly readyReplicas: number;
  /** Pods not being removed (pending, starting, ready). */
  readonly replicas: number;
  /** Nodes up or provisioning, all pools. */
  readonly nodes: number;
  readonly maxNodes: number;
  /** The decider's inputs, computed on demand. */
  signals(): Signals;
}

export interface ScaleController {
  readonly policy: string;
  readonly periodMs: number;
  readonly nodeManagement: 'cluster-autoscaler' | 'direct';
  /**
   * false: the controller never calls `view.signals()` (the oracle follows its plan), so the run
   * records no signals for it; recording every request is most of a run's cost. Default true.
   */
  readonly readsSignals?: boolean;
  decide(view: ClusterView): ScaleAction | undefined;
}

export interface RunOptions {
  /** Ready replicas at t=0 (the same for every treatment of a scenario). */
  initialReplicas: number;
}

export interface RunResult {
  policy: string;
  durationMs: number;
  minutes: MinuteResult[];
  /** Every request: successes by latency, failures in the failure bin. */
  latency: BinnedHistogram;
  arrivals: number;
  succeeded: number;
  rejected: number;
  timedOut: number;
  maxQueueDepth: number;
  /** Slot-busy time over slot-ready time of ready replicas. */
  utilization: number;
  coldStarts: number;
  meanColdStartMs: number;
  nodeHoursByPool: Record<string, number>;
  gpuNodeHours: number;
  costUsd: number;
  scaleEvents: number;
  oscillations: number;
  nodeScaleEvents: number;
  peakReplicas: number;
  peakNodes: number;
  series: Series;
}

const EV_COMPLETE = 1;
const EV_NODE_READY = 2;
const EV_POD_READY = 3;
const EV_TICK = 4;

const PENDING = 0;
const STARTING = 1;
const READY = 2;
const DRAINING = 3;
const GONE = 4;

interface Node {
  id: number;
  pool: PoolState;
  state: 'provisioning' | 'ready' | 'gone';
  requestedAt: number;
  removedAt: number;
  pods: number;
  /** When the model image is on the node (NaN: not pulled yet). */
  imageAt: number;
  emptySince: number;
}

interface PoolState {
  index: number;
  config: PoolConfig;
  /** Nodes not gone. */
  alive: number;
  all: Node[];
}

class Pod {
  readonly id: number;
  state = PENDING;
  node: Node | null = null;
  readonly createdAt: number;
  startedAt = NaN;
  readyAt = NaN;
  busy = 0;
  busyMs = 0;
  lastChange = 0;
  /** busyMs and time at the previous decision, for per-pod CPU. */
  markBusyMs = 0;
  markAt = 0;
  // Intrusive list of ready pods by free slots.
  bucket = -1;
  prev: Pod | null = null;
  next: Pod | null = null;

  constructor(id: number, createdAt: number) {
    this.id = id;
    this.createdAt = createdAt;
    this.lastChange = createdAt;
    this.markAt = createdAt;
  }
}

function sampleDelay(d: Delay, rng: Random): number {
  if (d.jitterMs <= 0) return d.meanMs;
  return Math.max(0, d.meanMs + rng.uniform(-d.jitterMs, d.jitterMs));
}

class ClusterRun implements ClusterView {
  readonly #sc: Scenario;
  readonly #ctl: ScaleController;
  readonly #events = new EventQueue();
  readonly #rng: Random;
  readonly #serviceRng: Random;
  readonly #metrics: RunMetrics;
  /** What the deciders read, fed as karb's gateway feeds its signal hub (times in ms since the epoch). */
  /** Undefined for a controller that reads no signals. */
  readonly #signals: SignalRecorder | undefined;
  readonly #slots: number;
  readonly #pools: PoolState[];
  /** Every pod ever created, by id (completion events name pods by id). */
  readonly #pods: Pod[] = [];
  /** Pods not gone, in creation order. */
  readonly #live = new Set<Pod>();
  readonly #pending: Pod[] = [];
  /** Heads of the lists of ready pods with k free slots (index k). */
  readonly #buckets: (Pod | null)[];
  readonly #serviceSigma: number;
  readonly #serviceMu: number;
  readonly #meanServiceMs: number;
  readonly #replicaCapacityRps: number;
  readonly #gpu: boolean;

  // Gateway queue: a ring of (arrival time, service time).
  readonly #qArrival: Float64Array;
  readonly #qService: Float64Array;
  #qHead = 0;
  #qLen = 0;

  // Levels and their integrals.
  #now = 0;
  #lastAccrue = 0;
  #busy = 0;
  #ready = 0;
  #replicas = 0;
  /** Integrals (level × ms) for the report's utilization. */
  #cum = { busySlotMs: 0, readyReplicaMs: 0 };
  /** The gauges as last recorded in the signal windows. */
  #reportedInFlight = 0;
  #reportedWaiting = 0;

  #target: number;
  #lastDirection = 0;
  #lastEventAt = -Infinity;
  #scaleEvents = 0;
  #oscillations = 0;
  #nodeScaleEvents = 0;
  #nodesWanted: number | undefined;
  #arrivals = 0;
  #maxQueue = 0;
  #coldStarts = 0;
  #coldStartTotalMs = 0;
  #coldStartsDone = 0;
  #peakReplicas = 0;
  #peakNodes = 0;
  #nextNodeId = 0;

  constructor(scenario: Scenario, controller: ScaleController, options: RunOptions) {
    this.#sc = scenario;
    this.#ctl = controller;
    this.#rng = seededRandom((scenario.seed ^ 0x1b873593) >>> 0);
    this.#serviceRng = seededRandom((scenario.seed ^ 0x2f6b1e3d) >>> 0);
    const durationSec = Math.ceil(scenario.durationMs / 1000);
    this.#metrics = new RunMetrics({ durationSec });
    const { stableMs, panicMs } = scenario.windows;
    this.#signals =
      controller.readsSignals === false ? undefined : new SignalRecorder({ stableWindowMs: stableMs, panicWindowMs: Math.min(panicMs, stableMs), startedAt: SIM_EPOCH_MS });
    this.#slots = scenario.service.concurrency;
    this.#buckets = new Array<Pod | null>(this.#slots + 1).fill(null);
    const st = scenario.service.serviceTime;
    const unit = lognormalFromMeanP95(1, st.p95Ms / st.meanMs);
    this.#serviceMu = unit.mu;
    this.#serviceSigma = unit.sigma;
    this.#meanServiceMs = st.meanMs;
    this.#replicaCapacityRps = capacityRps(this.#slots, st, scenario.slo.latencyP95Ms);
    this.#gpu = scenario.pools.some((p) => p.accelerator === 'gpu');
    const qCap = Math.max(1, scenario.gateway.maxQueue);
    this.#qArrival = new Float64Array(qCap);
    this.#qService = new Float64Array(qCap);
    this.#pools = scenario.pools.map((config, index) => ({ index, config, alive: 0, all: [] }));
    this.#target = options.initialReplicas;
    this.#bootstrap(options.initialReplicas);
  }

  // ---- ClusterView ----
  get timeMs(): number {
    return this.#now;
  }
  get readyReplicas(): number {
    return this.#ready;
  }
  get replicas(): number {
    return this.#replicas;
  }
  get nodes(): number {
    let n = 0;
    for (const p of this.#pools) n += p.alive;
    return n;
  }
  get maxNodes(): number {
    let n = 0;
    for (const p of this.#pools) n += p.config.maxNodes;
    return n;
  }

  signals(): Signals {
    const recorder = this.#signals;
    if (recorder === undefined) throw new Error(`controller ${this.#ctl.policy} declared readsSignals: false but asked for signals`);
    const at = SIM_EPOCH_MS + this.#now;
    const pods: PodSignal[] = [];
    const { idle, atFullLoad } = this.#sc.service.cpu;
    for (const pod of this.#live) {
      if (pod.state === DRAINING) continue;
      const startedAt = SIM_EPOCH_MS + (Number.isNaN(pod.startedAt) ? pod.createdAt : pod.startedAt);
      const signal: PodSignal = { name: `pod-${pod.id}`, ready: pod.state === READY, startedAt };
      // Kubernetes calls a pod Pending until its containers run: unscheduled, or pulling the image.
      if (pod.state === PENDING || (pod.state === STARTING && !(pod.node!.imageAt <= this.#now))) signal.pending = true;
      if (pod.state === READY) {
        signal.readyChangedAt = SIM_EPOCH_MS + pod.readyAt;
        this.#accruePod(pod);
        const span = this.#now - Math.max(pod.markAt, pod.readyAt);
        if (span > 0) {
          // Sampled at each decision, as the control loop samples each replica's process.
          const busyFraction = (pod.busyMs - pod.markBusyMs) / (span * this.#slots);
          signal.cpuUtilization = idle + (atFullLoad - idle) * busyFraction;
          signal.cpuSampledAt = at;
          recorder.recordCpu(at, signal.name, signal.cpuUtilization);
          if (this.#gpu) recorder.recordGpu(at, signal.name, busyFraction);
        }
        pod.markBusyMs = pod.busyMs;
        pod.markAt = this.#now;
      }
      pods.push(signal);
    }
    return recorder.signals(at, { ready: this.#ready, current: this.#replicas, pods, replicaCapacityRps: this.#replicaCapacityRps });
  }

  // ---- setup ----
  #bootstrap(initialReplicas: number): void {
    // Initial nodes: each pool's own floor, then what the initial replicas need, pools in order.
    let room = 0;
    for (const pool of this.#pools) {
      const n = pool.config.initialNodes ?? pool.config.minNodes;
      for (let i = 0; i < n; i++) this.#addNode(pool, true);
      room += n * pool.config.replicasPerNode;
    }
    for (const pool of this.#pools) {
      while (room < initialReplicas && pool.alive < pool.config.maxNodes) {
        this.#addNode(pool, true);
        room += pool.config.replicasPerNode;
      }
    }
    for (let i = 0; i < initialReplicas; i++) {
      const pod = this.#newPod();
      const node = this.#nodeWithRoom();
      if (!node) {
        this.#pending.push(pod);
        continue;
      }
      pod.node = node;
      node.pods++;
      pod.startedAt = 0;
      this.#makeReady(pod);
    }
  }

  #addNode(pool: PoolState, atStart: boolean): Node {
    const node: Node = {
      id: this.#nextNodeId++,
      pool,
      state: atStart ? 'ready' : 'provisioning',
      requestedAt: this.#now,
      removedAt: NaN,
      pods: 0,
      imageAt: atStart ? 0 : NaN,
      emptySince: this.#now,
    };
    pool.all.push(node);
    pool.alive++;
    if (!atStart) {
      const delay = sampleDelay(pool.config.provisioningDelay, this.#rng);
      this.#events.push(this.#now + delay, EV_NODE_READY, node.id, pool.index);
    }
    const nodes = this.nodes;
    if (nodes > this.#peakNodes) this.#peakNodes = nodes;
    return node;
  }

  #newPod(): Pod {
    const pod = new Pod(this.#pods.length, this.#now);
    this.#pods.push(pod);
    this.#live.add(pod);
    this.#replicas++;
    if (this.#replicas > this.#peakReplicas) this.#peakReplicas = this.#replicas;
    return pod;
  }

  // ---- levels ----
  #accrue(): void {
    const dt = this.#now - this.#lastAccrue;
    if (dt > 0) {
      const c = this.#cum;
      c.busySlotMs += this.#busy * dt;
      c.readyReplicaMs += this.#ready * dt;
      this.#lastAccrue = this.#now;
    }
  }

  /**
   * The gauges karb's signal hub records (hub.ts): requests at replicas plus
   * those waiting at the gateway, and those waiting. Checked after every event,
   * so each change is recorded at its instant and the windows' time-weighted
   * averages are exact; recorded every second as well (`always`), as the hub
   * samples on every loop tick, so a level that holds stays fresh.
   */
  #reportLoad(always = false): void {
    const at = SIM_EPOCH_MS + this.#now;
    const inFlight = this.#busy + this.#qLen;
    if (always || inFlight !== this.#reportedInFlight) {
      this.#signals?.recordConcurrency(at, inFlight);
      this.#reportedInFlight = inFlight;
    }
    if (always || this.#qLen !== this.#reportedWaiting) {
      this.#signals?.recordQueueDepth(at, this.#qLen);
      this.#reportedWaiting = this.#qLen;
    }
  }

  #accruePod(pod: Pod): void {
    pod.busyMs += pod.busy * (this.#now - pod.lastChange);
    pod.lastChange = this.#now;
  }

  // ---- free-slot buckets ----
  #bucketInsert(pod: Pod): void {
    const k = this.#slots - pod.busy;
    if (k <= 0) return;
    pod.bucket = k;
    pod.prev = null;
    pod.next = this.#buckets[k]!;
    if (pod.next) pod.next.prev = pod;
    this.#buckets[k] = pod;
  }

  #bucketRemove(pod: Pod): void {
    const k = pod.bucket;
    if (k < 0) return;
    if (pod.prev) pod.prev.next = pod.next;
    else this.#buckets[k] = pod.next;
    if (pod.next) pod.next.prev = pod.prev;
    pod.prev = pod.next = null;
    pod.bucket = -1;
  }

  /** The ready pod with the most free slots, or null. */
  #freestPod(): Pod | null {
    const b = this.#buckets;
    for (let k = this.#slots; k >= 1; k--) {
      const pod = b[k];
      if (pod) return pod;
    }
    return null;
  }

  // ---- requests ----
  /**
   * Every arrival draws exactly one normal from its own stream, in arrival order,
   * so request i gets the same service time under every treatment.
   */
  #serviceTimeMs(work: number): number {
    const noise = Math.exp(this.#serviceMu + this.#serviceSigma * this.#serviceRng.normal());
    return this.#meanServiceMs * work * noise;
  }

  #dispatch(pod: Pod, arrivedAt: number, serviceMs: number): void {
    this.#accrue();
    this.#accruePod(pod);
    this.#bucketRemove(pod);
    pod.busy++;
    this.#busy++;
    this.#bucketInsert(pod);
    this.#events.push(this.#now + serviceMs, EV_COMPLETE, pod.id, arrivedAt);
  }

  #onArrival(work: number): void {
    this.#arrivals++;
    const serviceMs = this.#serviceTimeMs(work);
    if (this.#qLen === 0) {
      const pod = this.#freestPod();
      if (pod) {
        this.#dispatch(pod, this.#now, serviceMs);
        return;
      }
    }
    if (this.#qLen >= this.#sc.gateway.maxQueue) {
      this.#metrics.recordFinished(QUEUE_FULL, 0);
      return;
    }
    this.#accrue();
    const cap = this.#qArrival.length;
    const tail = (this.#qHead + this.#qLen) % cap;
    this.#qArrival[tail] = this.#now;
    this.#qService[tail] = serviceMs;
    this.#qLen++;
    if (this.#qLen > this.#maxQueue) this.#maxQueue = this.#qLen;
  }

  /** Drops queued requests that waited past the gateway timeout. */
  #expireQueue(): void {
    const timeout = this.#sc.gateway.timeoutMs;
    const cap = this.#qArrival.length;
    while (this.#qLen > 0 && this.#now - this.#qArrival[this.#qHead]! >= timeout) {
      this.#accrue();
      this.#metrics.recordFinished(QUEUE_TIMEOUT, this.#now - this.#qArrival[this.#qHead]!);
      this.#qHead = (this.#qHead + 1) % cap;
      this.#qLen--;
    }
  }

  /** Moves queued requests onto free slots. */
  #drainQueue(): void {
    if (this.#qLen === 0) return;
    this.#expireQueue();
    const cap = this.#qArrival.length;
    while (this.#qLen > 0) {
      const pod = this.#freestPod();
      if (!pod) return;
      const arrivedAt = this.#qArrival[this.#qHead]!;
      const serviceMs = this.#qService[this.#qHead]!;
      this.#accrue();
      this.#qHead = (this.#qHead + 1) % cap;
      this.#qLen--;
      this.#dispatch(pod, arrivedAt, serviceMs);
    }
  }

  #complete(podId: number, arrivedAt: number): void {
    const pod = this.#pods[podId]!;
    this.#accrue();
    this.#accruePod(pod);
    this.#bucketRemove(pod);
    pod.busy--;
    this.#busy--;
    const latencyMs = this.#now - arrivedAt;
    this.#metrics.recordFinished(SERVED, latencyMs);
    this.#signals?.recordRequest(SIM_EPOCH_MS + this.#now, latencyMs, SERVED);
    if (pod.state === READY) {
      this.#bucketInsert(pod);
      this.#drainQueue();
    } else if (pod.state === DRAINING && pod.busy === 0) {
      this.#terminate(pod);
    }
  }

  // ---- pods ----
  #nodeWithRoom(): Node | null {
    for (const pool of this.#pools) {
      let best: Node | null = null;
      for (const node of pool.all) {
        if (node.state !== 'ready' || node.pods >= pool.config.replicasPerNode) continue;
        if (!best || node.pods > best.pods) best = node;
      }
      if (best) return best;
    }
    return null;
  }

  #schedulePending(): void {
    while (this.#pending.length > 0) {
      const node = this.#nodeWithRoom();
      if (!node) return;
      const pod = this.#pending.shift()!;
      pod.node = node;
      node.pods++;
      this.#startPod(pod);
    }
  }

  #startPod(pod: Pod): void {
    const node = pod.node!;
    const cold = this.#sc.service.coldStart;
    pod.state = STARTING;
    pod.startedAt = this.#now;
    this.#coldStarts++;
    if (Number.isNaN(node.imageAt)) node.imageAt = this.#now + sampleDelay(cold.imagePull, this.#rng);
    const readyAt = Math.max(this.#now, node.imageAt) + sampleDelay(cold.modelLoad, this.#rng);
    this.#events.push(readyAt, EV_POD_READY, pod.id, 0);
  }

  #makeReady(pod: Pod): void {
    this.#accrue();
    pod.state = READY;
    pod.readyAt = this.#now;
    pod.lastChange = this.#now;
    pod.markAt = this.#now;
    pod.markBusyMs = pod.busyMs;
    this.#ready++;
    this.#bucketInsert(pod);
  }

  #podReady(podId: number): void {
    const pod = this.#pods[podId]!;
    if (pod.state !== STARTING) return; // removed while starting
    this.#coldStartTotalMs += this.#now - pod.startedAt;
    this.#coldStartsDone++;
    this.#signals?.recordColdStart(SIM_EPOCH_MS + this.#now, this.#now - pod.startedAt);
    this.#makeReady(pod);
    this.#drainQueue();
  }

  #terminate(pod: Pod): void {
    pod.state = GONE;
    this.#live.delete(pod);
    const node = pod.node;
    if (node) {
      node.pods--;
      if (node.pods === 0) node.emptySince = this.#now;
      pod.node = null;
    }
    this.#schedulePending();
  }

  /** Removes one pod (not ready ones first, then ready pods on the emptiest elastic nodes). */
  #removeOne(): boolean {
    if (this.#pending.length > 0) {
      const pod = this.#pending.pop()!;
      pod.state = GONE;
      this.#live.delete(pod);
      this.#replicas--;
      return true;
    }
    let victim: Pod | null = null;
    let victimRank = -Infinity;
    for (const pod of this.#live) {
      if (pod.state !== STARTING && pod.state !== READY) continue;
      const node = pod.node!;
      // Higher rank goes first: starting before ready, later pools, emptier nodes, newer pods.
      const rank = (pod.state === STARTING ? 1e12 : 0) + node.pool.index * 1e8 + (1e4 - node.pods) * 1e3 + pod.id / 1e6;
      if (rank > victimRank) {
        victimRank = rank;
        victim = pod;
      }
    }
    if (!victim) return false;
    this.#replicas--;
    if (victim.state === STARTING) {
      this.#terminate(victim);
      return true;
    }
    this.#accrue();
    this.#ready--;
    this.#bucketRemove(victim);
    victim.state = DRAINING;
    if (victim.busy === 0) this.#terminate(victim);
    return true;
  }

  #applyReplicas(desired: number): void {
    desired = Math.max(0, Math.floor(desired));
    if (desired !== this.#target) {
      const direction = desired > this.#target ? 1 : -1;
      if (this.#lastDirection !== 0 && direction !== this.#lastDirection && this.#now - this.#lastEventAt <= this.#sc.oscillationWindowMs) this.#oscillations++;
      this.#lastDirection = direction;
      this.#lastEventAt = this.#now;
      this.#scaleEvents++;
      this.#target = desired;
    }
    while (this.#replicas < desired) this.#pending.push(this.#newPod());
    while (this.#replicas > desired && this.#removeOne());
    this.#schedulePending();
  }

  // ---- nodes ----
  #nodeReady(nodeId: number, poolIndex: number): void {
    const pool = this.#pools[poolIndex]!;
    const node = pool.all.find((n) => n.id === nodeId);
    if (!node || node.state !== 'provisioning') return;
    node.state = 'ready';
    node.emptySince = this.#now;
    this.#schedulePending();
  }

  #removeNode(node: Node): void {
    node.state = 'gone';
    node.removedAt = this.#now;
    node.pool.alive--;
  }

  /** Adds nodes in the first pools with room, for `count` more nodes; returns how many were added. */
  #growNodes(count: number): number {
    let added = 0;
    for (const pool of this.#pools) {
      while (added < count && pool.alive < pool.config.maxNodes) {
        this.#addNode(pool, false);
        added++;
      }
    }
    if (added > 0) this.#nodeScaleEvents++;
    return added;
  }

  /** Pods the nodes being provisioned will hold. */
  #incomingRoom(): number {
    let room = 0;
    for (const pool of this.#pools) for (const node of pool.all) if (node.state === 'provisioning') room += pool.config.replicasPerNode;
    return room;
  }

  #clusterAutoscalerScan(): void {
    const ca = this.#sc.clusterAutoscaler;
    // Scale up: pods pending for long enough that the incoming nodes will not hold.
    let waiting = 0;
    for (const pod of this.#pending) if (this.#now - pod.createdAt >= ca.pendingForMs) waiting++;
    const uncovered = waiting - this.#incomingRoom();
    if (uncovered > 0) {
      let need = uncovered;
      let nodes = 0;
      for (const pool of this.#pools) {
        const free = pool.config.maxNodes - pool.alive;
        const take = Math.min(free, Math.ceil(need / pool.config.replicasPerNode));
        nodes += take;
        need -= take * pool.config.replicasPerNode;
        if (need <= 0) break;
      }
      this.#growNodes(nodes);
    }
    // Scale down: nodes empty for long enough, above their pool's floor.
    let removed = false;
    for (const pool of this.#pools) {
      for (const node of pool.all) {
        if (pool.alive <= pool.config.minNodes) break;
        if (node.state === 'ready' && node.pods === 0 && this.#now - node.emptySince >= ca.emptyForMs) {
          this.#removeNode(node);
          removed = true;
        }
      }
    }
    if (removed) this.#nodeScaleEvents++;
  }

  /** Brings the node count to `desired`: grows at once, or removes empty nodes (provisioning first, last pools first). */
  #applyNodes(desired: number): void {
    const current = this.nodes;
    if (desired > current) {
      this.#growNodes(desired - current);
      return;
    }
    let excess = current - desired;
    if (excess <= 0) return;
    let removed = false;
    for (const state of ['provisioning', 'ready'] as const) {
      for (let p = this.#pools.length - 1; p >= 0 && excess > 0; p--) {
        const pool = this.#pools[p]!;
        for (let i = pool.all.length - 1; i >= 0 && excess > 0; i--) {
          const node = pool.all[i]!;
          if (pool.alive <= pool.config.minNodes) break;
          if (node.state === state && node.pods === 0) {
            this.#removeNode(node);
            excess--;
            removed = true;
          }
        }
      }
    }
    if (removed) this.#nodeScaleEvents++;
  }

  // ---- the loop ----
  #tick(): void {
    this.#accrue();
    this.#expireQueue();
    const sec = Math.round(this.#now / 1000);
    this.#metrics.closeSecond(sec, { readyReplicas: this.#ready, replicas: this.#replicas, queueDepth: this.#qLen, nodes: this.nodes });
    if (this.#now % this.#ctl.periodMs === 0) {
      const action = this.#ctl.decide(this);
      if (action) {
        this.#applyReplicas(action.desiredReplicas);
        this.#nodesWanted = this.#ctl.nodeManagement === 'direct' ? action.desiredNodes : undefined;
        if (this.#nodesWanted !== undefined) this.#applyNodes(this.#nodesWanted);
      }
    }
    const usesAutoscaler = this.#ctl.nodeManagement === 'cluster-autoscaler' || this.#nodesWanted === undefined;
    if (usesAutoscaler && this.#now % this.#sc.clusterAutoscaler.scanIntervalMs === 0) this.#clusterAutoscalerScan();
    if (this.#now + 1000 <= this.#sc.durationMs) this.#events.push(this.#now + 1000, EV_TICK);
  }

  run(): RunResult {
    const sc = this.#sc;
    const arrivals = openArrivals(sc.traffic, sc.durationMs, sc.seed);
    this.#metrics.start({ readyReplicas: this.#ready, replicas: this.#replicas, queueDepth: 0, nodes: this.nodes });
    this.#events.push(1000, EV_TICK);
    this.#reportLoad(true);
    const onEvent = (ev: PoppedEvent): void => {
      this.#now = ev.time;
      switch (ev.type) {
        case EV_COMPLETE:
          this.#complete(ev.a, ev.b);
          break;
        case EV_TICK:
          this.#tick();
          this.#reportLoad(true);
          break;
        case EV_POD_READY:
          this.#podReady(ev.a);
          break;
        case EV_NODE_READY:
          this.#nodeReady(ev.a, ev.b);
          break;
      }
      this.#reportLoad();
    };
    const onArrival = (time: number): void => {
      this.#now = time;
      this.#onArrival(arrivals.work);
      this.#reportLoad();
    };
    runEvents(this.#events, arrivals, sc.durationMs, onEvent, onArrival);
    this.#now = sc.durationMs;
    this.#accrue();
    this.#metrics.finish();
    return this.#result();
  }

  #result(): RunResult {
    const sc = this.#sc;
    const end = sc.durationMs;
    const nodeHoursByPool: Record<string, number> = {};
    let gpuNodeHours = 0;
    let costUsd = 0;
    for (const pool of this.#pools) {
      let ms = 0;
      for (const node of pool.all) ms += (Number.isNaN(node.removedAt) ? end : node.removedAt) - node.requestedAt;
      const hours = ms / 3_600_000;
      nodeHoursByPool[pool.config.name] = hours;
      if (pool.config.accelerator === 'gpu') gpuNodeHours += hours;
      costUsd += hours * pool.config.costPerHour;
    }
    const m = this.#metrics;
    return {
      policy: this.#ctl.policy,
      durationMs: end,
      minutes: m.minutes,
      latency: m.overall,
      arrivals: this.#arrivals,
      succeeded: m.succeeded,
      rejected: m.rejected,
      timedOut: m.timedOut,
      maxQueueDepth: this.#maxQueue,
      utilization: this.#cum.readyReplicaMs > 0 ? this.#cum.busySlotMs / (this.#cum.readyReplicaMs * this.#slots) : 0,
      coldStarts: this.#coldStarts,
      meanColdStartMs: this.#coldStartsDone > 0 ? this.#coldStartTotalMs / this.#coldStartsDone : 0,
      nodeHoursByPool,
      gpuNodeHours,
      costUsd,
      scaleEvents: this.#scaleEvents,
      oscillations: this.#oscillations,
      nodeScaleEvents: this.#nodeScaleEvents,
      peakReplicas: this.#peakReplicas,
      peakNodes: this.#peakNodes,
      series: m.series,
    };
  }
}

/** Runs one controller through one scenario. Deterministic for the same inputs. */
export function simulate(scenario: Scenario, controller: ScaleController, options: RunOptions): RunResult {
  return new ClusterRun(scenario, controller, options).run();
}
