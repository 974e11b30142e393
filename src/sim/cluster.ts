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
 * - Several services (a scenario's `services`) share the pools and the model:
 *   each has its own arrivals, gateway queue, replicas, signal windows and
 *   controller (one per service, the same policy); nodes then follow one
 *   cluster autoscaler for the cluster, as on a shared Kubernetes cluster, and
 *   a decider's `desiredNodes` is not acted on.
 * - Placement `in-order` (the default) is all of the above. `on-prem-first`
 *   runs the placement decider (src/placement) every second, after the
 *   controllers: it gives each new pod a pool (on-prem first; elastic only
 *   when its service's SLO is at risk, read from the service's windows), keeps
 *   the rest waiting with a reason, retires pods where it says (scale-down
 *   takes elastic pods first), and moves elastic pods on-prem when there is
 *   room (the on-prem pod starts; the elastic one drains once it is ready).
 *   Pending pods run only on the pool they were given; the cluster autoscaler
 *   grows each pool for the pods given to it, and nodes follow it whatever the
 *   policy. A controller that reads no signals (the oracle) asks only for what
 *   the SLO needs, so its service counts as at risk.
 *
 * Everything is deterministic for a scenario and controller: arrivals, service
 * times (one draw per arrival, in arrival order), cold starts and provisioning
 * delays all come from seeded streams.
 */
import type { PodSignal, Signals } from '../autoscaler/types.ts';
import { SignalRecorder } from '../observability/windows.ts';
import { decidePlacement } from '../placement/placement.ts';
import { sloRisk } from '../placement/slo-risk.ts';
import type { PendingReason, PlacementPool, ServicePlacement } from '../placement/types.ts';
import { EventQueue, runEvents, type ArrivalCursor, type PoppedEvent } from './engine.ts';
import { QUEUE_FULL, QUEUE_TIMEOUT, RunMetrics, SERVED, type MinuteResult, type Series } from './metrics.ts';
import { BinnedHistogram } from './histogram.ts';
import { capacityRps } from './queueing.ts';
import { lognormalFromMeanP95, seededRandom, type Random } from './random.ts';
import type { Delay, PlacementPolicyName, PoolConfig, Scenario } from './scenario-schema.ts';
import { serviceLanes, type ServiceLane } from './services.ts';
import { openArrivals, type Arrivals } from './traffic.ts';

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
  /** Ready replicas at t=0 (the same for every treatment of a scenario); one number per service when the scenario lists several. */
  initialReplicas: number | readonly number[];
  /** How replicas find pools; default the scenario's first placement policy. */
  placement?: PlacementPolicyName;
}

/** One service's share of a run. */
export interface ServiceResult {
  name: string;
  team: string;
  priority: number;
  /** Its minutes (p95 with failures ranked slowest), as the run's are for all requests. */
  minutes: MinuteResult[];
  arrivals: number;
  peakReplicas: number;
  /** Elastic pods moved on-prem (on-prem-first). */
  moves: number;
  /** Replica-seconds wanted but left without a pool by placement, by reason (on-prem-first). */
  pendingReplicaSeconds: Record<PendingReason, number>;
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
  /** Node-hours of on-prem and of elastic pools. */
  nodeHoursByClass: Record<PoolConfig['class'], number>;
  gpuNodeHours: number;
  placement: PlacementPolicyName;
  /** Replica slots occupied on on-prem nodes over the on-prem slots, time-weighted (0 without on-prem pools). */
  onPremUtilization: number;
  /** Per service, in the scenario's order (one for a scenario with one service). */
  services: ServiceResult[];
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
  readonly lane: Lane;
  state = PENDING;
  node: Node | null = null;
  /** on-prem-first: the pool placement gave this pending pod, and when (null: none yet, it waits). */
  pool: PoolState | null = null;
  assignedAt = NaN;
  /** on-prem-first: moved on-prem; serves until its replacement is ready, counted as a replica no more. */
  retiring = false;
  /** The elastic pod this one replaces; drained when this one is ready (or gone). */
  replaces: Pod | null = null;
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

  constructor(id: number, lane: Lane, createdAt: number) {
    this.id = id;
    this.lane = lane;
    this.createdAt = createdAt;
    this.lastChange = createdAt;
    this.markAt = createdAt;
  }
}

/** One service of the run: its controller, signal windows, gateway queue and replicas. */
class Lane {
  readonly index: number;
  readonly spec: ServiceLane;
  readonly ctl: ScaleController;
  /** What its decider reads, fed as karb's gateway feeds its signal hub (undefined for a controller that reads no signals). */
  readonly signals: SignalRecorder | undefined;
  /** Its own minutes, kept when the run has several services. */
  readonly metrics: RunMetrics | undefined;
  readonly serviceRng: Random;
  /** Pods not gone, in creation order. */
  readonly live = new Set<Pod>();
  /** Heads of the lists of ready pods with k free slots (index k). */
  readonly buckets: (Pod | null)[];
  // Gateway queue: a ring of (arrival time, service time).
  readonly qArrival: Float64Array;
  readonly qService: Float64Array;
  qHead = 0;
  qLen = 0;
  busy = 0;
  ready = 0;
  /** Pods not being removed (pending, starting, ready, not retiring). */
  replicas = 0;
  /** The gauges as last recorded in the signal windows. */
  reportedInFlight = 0;
  reportedWaiting = 0;
  target: number;
  lastDirection = 0;
  lastEventAt = -Infinity;
  nodesWanted: number | undefined;
  arrivals = 0;
  peakReplicas = 0;
  moves = 0;
  readonly pendingSeconds: Record<PendingReason, number> = { quota: 0, 'on-prem-full': 0, 'no-capacity': 0 };
  view!: ClusterView;

  constructor(index: number, spec: ServiceLane, ctl: ScaleController, sc: Scenario, slots: number, ownMetrics: boolean, initialReplicas: number) {
    this.index = index;
    this.spec = spec;
    this.ctl = ctl;
    this.serviceRng = seededRandom((spec.seed ^ 0x2f6b1e3d) >>> 0);
    const { stableMs, panicMs } = sc.windows;
    this.signals = ctl.readsSignals === false ? undefined : new SignalRecorder({ stableWindowMs: stableMs, panicWindowMs: Math.min(panicMs, stableMs), startedAt: SIM_EPOCH_MS });
    this.metrics = ownMetrics ? new RunMetrics({ durationSec: Math.ceil(sc.durationMs / 1000) }) : undefined;
    this.buckets = new Array<Pod | null>(slots + 1).fill(null);
    const qCap = Math.max(1, sc.gateway.maxQueue);
    this.qArrival = new Float64Array(qCap);
    this.qService = new Float64Array(qCap);
    this.target = initialReplicas;
  }
}

/** The arrivals of several services in time order (ties: the earlier-listed service); `lane` says whose the current one is. */
class LaneArrivals implements ArrivalCursor {
  time = Infinity;
  lane = 0;
  work = 1;
  readonly #cursors: Arrivals[];

  constructor(cursors: Arrivals[]) {
    this.#cursors = cursors;
    this.#pick();
  }

  advance(): void {
    this.#cursors[this.lane]!.advance();
    this.#pick();
  }

  #pick(): void {
    let best = -1;
    let time = Infinity;
    this.#cursors.forEach((c, i) => {
      if (c.time < time) {
        time = c.time;
        best = i;
      }
    });
    this.time = time;
    if (best >= 0) {
      this.lane = best;
      this.work = this.#cursors[best]!.work;
    }
  }
}

function sampleDelay(d: Delay, rng: Random): number {
  if (d.jitterMs <= 0) return d.meanMs;
  return Math.max(0, d.meanMs + rng.uniform(-d.jitterMs, d.jitterMs));
}

/** GPUs one replica takes on a pool, for GPU quotas. */
function gpusPerReplica(p: PoolConfig): number {
  if (p.gpusPerNode !== undefined) return p.gpusPerNode / p.replicasPerNode;
  return p.accelerator === 'gpu' ? 1 : 0;
}

class ClusterRun {
  readonly #sc: Scenario;
  readonly #lanes: Lane[];
  readonly #placement: PlacementPolicyName;
  /** Several services, or on-prem-first: nodes follow the cluster autoscaler, never a decider's desiredNodes. */
  readonly #sharedNodes: boolean;
  readonly #events = new EventQueue();
  readonly #rng: Random;
  readonly #metrics: RunMetrics;
  readonly #slots: number;
  readonly #pools: PoolState[];
  /** Every pod ever created, by id (completion events name pods by id). */
  readonly #pods: Pod[] = [];
  /** Pods waiting for a node, every service's, oldest first. */
  readonly #pending: Pod[] = [];
  readonly #serviceSigma: number;
  readonly #serviceMu: number;
  readonly #meanServiceMs: number;
  readonly #replicaCapacityRps: number | undefined;
  readonly #gpu: boolean;

  // Levels (all services) and their integrals.
  #now = 0;
  #lastAccrue = 0;
  #busy = 0;
  #ready = 0;
  #replicas = 0;
  /** Integrals (level × ms) for the report's utilization. */
  #cum = { busySlotMs: 0, readyReplicaMs: 0 };
  /** Replica slots occupied and offered on ready on-prem nodes, and their integrals up to `at`. */
  #onPrem = { used: 0, slots: 0, usedMs: 0, slotMs: 0, at: 0 };

  #scaleEvents = 0;
  #oscillations = 0;
  #nodeScaleEvents = 0;
  #arrivals = 0;
  #maxQueue = 0;
  #coldStarts = 0;
  #coldStartTotalMs = 0;
  #coldStartsDone = 0;
  #peakReplicas = 0;
  #peakNodes = 0;
  #nextNodeId = 0;

  constructor(scenario: Scenario, controllers: readonly ScaleController[], options: RunOptions) {
    this.#sc = scenario;
    const specs = serviceLanes(scenario);
    if (controllers.length !== specs.length) throw new RangeError(`scenario ${scenario.name} has ${specs.length} services; give one controller each (got ${controllers.length})`);
    const initial = typeof options.initialReplicas === 'number' ? [options.initialReplicas] : options.initialReplicas;
    if (initial.length !== specs.length) throw new RangeError(`scenario ${scenario.name} has ${specs.length} services; give initial replicas for each (got ${initial.length})`);
    this.#placement = options.placement ?? scenario.placements[0] ?? 'in-order';
    this.#sharedNodes = specs.length > 1 || this.#placement === 'on-prem-first';
    this.#rng = seededRandom((scenario.seed ^ 0x1b873593) >>> 0);
    const durationSec = Math.ceil(scenario.durationMs / 1000);
    this.#metrics = new RunMetrics({ durationSec });
    this.#slots = scenario.service.concurrency;
    const st = scenario.service.serviceTime;
    const unit = lognormalFromMeanP95(1, st.p95Ms / st.meanMs);
    this.#serviceMu = unit.mu;
    this.#serviceSigma = unit.sigma;
    this.#meanServiceMs = st.meanMs;
    // Requests of uneven work (tokens) give a replica no capacity in requests per second: deciders
    // estimate it from what they observe, as they would have to on a real cluster.
    const unevenWork = specs.some((spec) => (spec.traffic.kind === 'replay' ? spec.traffic.work !== undefined : spec.traffic.tokens !== undefined));
    this.#replicaCapacityRps = unevenWork ? undefined : capacityRps(this.#slots, st, scenario.slo.latencyP95Ms);
    this.#gpu = scenario.pools.some((p) => p.accelerator === 'gpu');
    this.#pools = scenario.pools.map((config, index) => ({ index, config, alive: 0, all: [] }));
    this.#lanes = specs.map((spec, i) => new Lane(i, spec, controllers[i]!, scenario, this.#slots, specs.length > 1, initial[i]!));
    for (const lane of this.#lanes) lane.view = new LaneView(this, lane);
    this.#bootstrap(initial);
  }

  // ---- what the controllers see (LaneView) ----
  get timeMs(): number {
    return this.#now;
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

  signalsOf(lane: Lane): Signals {
    const recorder = lane.signals;
    if (recorder === undefined) throw new Error(`controller ${lane.ctl.policy} declared readsSignals: false but asked for signals`);
    const at = SIM_EPOCH_MS + this.#now;
    const pods: PodSignal[] = [];
    const { idle, atFullLoad } = this.#sc.service.cpu;
    for (const pod of lane.live) {
      if (pod.state === DRAINING || pod.retiring) continue;
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
    return recorder.signals(at, { ready: lane.ready, current: lane.replicas, pods, ...(this.#replicaCapacityRps !== undefined ? { replicaCapacityRps: this.#replicaCapacityRps } : {}) });
  }

  // ---- setup ----
  #bootstrap(initial: readonly number[]): void {
    const initialReplicas = initial.reduce((a, b) => a + b, 0);
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
    // on-prem-first: higher priorities first, so no service starts on a slot it would yield at once.
    const order = this.#placement === 'on-prem-first' ? [...this.#lanes].sort((a, b) => b.spec.priority - a.spec.priority || a.index - b.index) : this.#lanes;
    for (const lane of order) {
      for (let i = 0; i < initial[lane.index]!; i++) {
        const pod = this.#newPod(lane);
        const node = this.#nodeWithRoom();
        if (!node) {
          this.#pending.push(pod);
          continue;
        }
        this.#bind(pod, node);
        pod.startedAt = 0;
        this.#makeReady(pod);
      }
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
    if (atStart) this.#onPremSlots(pool, 1);
    else {
      const delay = sampleDelay(pool.config.provisioningDelay, this.#rng);
      this.#events.push(this.#now + delay, EV_NODE_READY, node.id, pool.index);
    }
    const nodes = this.nodes;
    if (nodes > this.#peakNodes) this.#peakNodes = nodes;
    return node;
  }

  #newPod(lane: Lane): Pod {
    const pod = new Pod(this.#pods.length, lane, this.#now);
    this.#pods.push(pod);
    lane.live.add(pod);
    this.#countReplicas(lane, 1);
    return pod;
  }

  #countReplicas(lane: Lane, delta: number): void {
    lane.replicas += delta;
    this.#replicas += delta;
    if (this.#replicas > this.#peakReplicas) this.#peakReplicas = this.#replicas;
    if (lane.replicas > lane.peakReplicas) lane.peakReplicas = lane.replicas;
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

  #accrueOnPrem(): void {
    const o = this.#onPrem;
    const dt = this.#now - o.at;
    if (dt > 0) {
      o.usedMs += o.used * dt;
      o.slotMs += o.slots * dt;
      o.at = this.#now;
    }
  }

  /** A node of `pool` became ready (+1) or went (-1): on-prem slots change with it. */
  #onPremSlots(pool: PoolState, sign: number): void {
    if (pool.config.class !== 'on-prem') return;
    this.#accrueOnPrem();
    this.#onPrem.slots += sign * pool.config.replicasPerNode;
  }

  /**
   * The gauges karb's signal hub records (hub.ts): requests at replicas plus
   * those waiting at the gateway, and those waiting. Checked after every event,
   * so each change is recorded at its instant and the windows' time-weighted
   * averages are exact; recorded every second as well (`always`), as the hub
   * samples on every loop tick, so a level that holds stays fresh.
   */
  #reportLoad(lane: Lane, always = false): void {
    const at = SIM_EPOCH_MS + this.#now;
    const inFlight = lane.busy + lane.qLen;
    if (always || inFlight !== lane.reportedInFlight) {
      lane.signals?.recordConcurrency(at, inFlight);
      lane.reportedInFlight = inFlight;
    }
    if (always || lane.qLen !== lane.reportedWaiting) {
      lane.signals?.recordQueueDepth(at, lane.qLen);
      lane.reportedWaiting = lane.qLen;
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
    const buckets = pod.lane.buckets;
    pod.bucket = k;
    pod.prev = null;
    pod.next = buckets[k]!;
    if (pod.next) pod.next.prev = pod;
    buckets[k] = pod;
  }

  #bucketRemove(pod: Pod): void {
    const k = pod.bucket;
    if (k < 0) return;
    if (pod.prev) pod.prev.next = pod.next;
    else pod.lane.buckets[k] = pod.next;
    if (pod.next) pod.next.prev = pod.prev;
    pod.prev = pod.next = null;
    pod.bucket = -1;
  }

  /** The service's ready pod with the most free slots, or null. */
  #freestPod(lane: Lane): Pod | null {
    const b = lane.buckets;
    for (let k = this.#slots; k >= 1; k--) {
      const pod = b[k];
      if (pod) return pod;
    }
    return null;
  }

  // ---- requests ----
  /**
   * Every arrival draws exactly one normal from its service's stream, in arrival order,
   * so request i gets the same service time under every treatment.
   */
  #serviceTimeMs(lane: Lane, work: number): number {
    const noise = Math.exp(this.#serviceMu + this.#serviceSigma * lane.serviceRng.normal());
    return this.#meanServiceMs * work * noise;
  }

  #dispatch(pod: Pod, arrivedAt: number, serviceMs: number): void {
    this.#accrue();
    this.#accruePod(pod);
    this.#bucketRemove(pod);
    pod.busy++;
    pod.lane.busy++;
    this.#busy++;
    this.#bucketInsert(pod);
    this.#events.push(this.#now + serviceMs, EV_COMPLETE, pod.id, arrivedAt);
    pod.lane.signals?.recordWait(SIM_EPOCH_MS + this.#now, this.#now - arrivedAt);
  }

  #recordFinished(lane: Lane, status: number, latencyMs: number): void {
    this.#metrics.recordFinished(status, latencyMs);
    lane.metrics?.recordFinished(status, latencyMs);
  }

  #onArrival(lane: Lane, work: number): void {
    this.#arrivals++;
    lane.arrivals++;
    const serviceMs = this.#serviceTimeMs(lane, work);
    if (lane.qLen === 0) {
      const pod = this.#freestPod(lane);
      if (pod) {
        this.#dispatch(pod, this.#now, serviceMs);
        return;
      }
    }
    if (lane.qLen >= this.#sc.gateway.maxQueue) {
      this.#recordFinished(lane, QUEUE_FULL, 0);
      lane.signals?.recordRefused(SIM_EPOCH_MS + this.#now);
      return;
    }
    this.#accrue();
    const cap = lane.qArrival.length;
    const tail = (lane.qHead + lane.qLen) % cap;
    lane.qArrival[tail] = this.#now;
    lane.qService[tail] = serviceMs;
    lane.qLen++;
    if (lane.qLen > this.#maxQueue) this.#maxQueue = lane.qLen;
  }

  /** Drops queued requests that waited past the gateway timeout. */
  #expireQueue(lane: Lane): void {
    const timeout = this.#sc.gateway.timeoutMs;
    const cap = lane.qArrival.length;
    while (lane.qLen > 0 && this.#now - lane.qArrival[lane.qHead]! >= timeout) {
      this.#accrue();
      this.#recordFinished(lane, QUEUE_TIMEOUT, this.#now - lane.qArrival[lane.qHead]!);
      lane.signals?.recordRefused(SIM_EPOCH_MS + this.#now);
      lane.qHead = (lane.qHead + 1) % cap;
      lane.qLen--;
    }
  }

  /** Moves queued requests onto free slots. */
  #drainQueue(lane: Lane): void {
    if (lane.qLen === 0) return;
    this.#expireQueue(lane);
    const cap = lane.qArrival.length;
    while (lane.qLen > 0) {
      const pod = this.#freestPod(lane);
      if (!pod) return;
      const arrivedAt = lane.qArrival[lane.qHead]!;
      const serviceMs = lane.qService[lane.qHead]!;
      this.#accrue();
      lane.qHead = (lane.qHead + 1) % cap;
      lane.qLen--;
      this.#dispatch(pod, arrivedAt, serviceMs);
    }
  }

  #complete(podId: number, arrivedAt: number): void {
    const pod = this.#pods[podId]!;
    const lane = pod.lane;
    this.#accrue();
    this.#accruePod(pod);
    this.#bucketRemove(pod);
    pod.busy--;
    lane.busy--;
    this.#busy--;
    const latencyMs = this.#now - arrivedAt;
    this.#recordFinished(lane, SERVED, latencyMs);
    lane.signals?.recordRequest(SIM_EPOCH_MS + this.#now, latencyMs, SERVED);
    if (pod.state === READY) {
      this.#bucketInsert(pod);
      this.#drainQueue(lane);
    } else if (pod.state === DRAINING && pod.busy === 0) {
      this.#terminate(pod);
    }
  }

  // ---- pods ----
  #nodeWithRoom(): Node | null {
    for (const pool of this.#pools) {
      const best = this.#nodeWithRoomIn(pool);
      if (best) return best;
    }
    return null;
  }

  /** The pool's fullest ready node with room, or null. */
  #nodeWithRoomIn(pool: PoolState): Node | null {
    let best: Node | null = null;
    for (const node of pool.all) {
      if (node.state !== 'ready' || node.pods >= pool.config.replicasPerNode) continue;
      if (!best || node.pods > best.pods) best = node;
    }
    return best;
  }

  #bind(pod: Pod, node: Node): void {
    pod.node = node;
    node.pods++;
    if (node.pool.config.class === 'on-prem') {
      this.#accrueOnPrem();
      this.#onPrem.used++;
    }
  }

  #schedulePending(): void {
    if (this.#placement === 'in-order') {
      while (this.#pending.length > 0) {
        const node = this.#nodeWithRoom();
        if (!node) return;
        const pod = this.#pending.shift()!;
        this.#bind(pod, node);
        this.#startPod(pod);
      }
      return;
    }
    // on-prem-first: a pending pod runs only on the pool placement gave it.
    for (let i = 0; i < this.#pending.length; ) {
      const pod = this.#pending[i]!;
      const node = pod.pool ? this.#nodeWithRoomIn(pod.pool) : null;
      if (!node) {
        i++;
        continue;
      }
      this.#pending.splice(i, 1);
      this.#bind(pod, node);
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
    pod.lane.ready++;
    this.#ready++;
    this.#bucketInsert(pod);
  }

  #podReady(podId: number): void {
    const pod = this.#pods[podId]!;
    if (pod.state !== STARTING) return; // removed while starting
    this.#coldStartTotalMs += this.#now - pod.startedAt;
    this.#coldStartsDone++;
    pod.lane.signals?.recordColdStart(SIM_EPOCH_MS + this.#now, this.#now - pod.startedAt);
    this.#makeReady(pod);
    this.#drainQueue(pod.lane);
    this.#releaseReplaced(pod);
  }

  /** A move's new pod is ready, or gone before it was: the elastic pod it replaces drains. */
  #releaseReplaced(pod: Pod): void {
    const old = pod.replaces;
    if (!old) return;
    pod.replaces = null;
    if (old.state === READY) this.#drain(old);
  }

  #terminate(pod: Pod): void {
    pod.state = GONE;
    pod.lane.live.delete(pod);
    const node = pod.node;
    if (node) {
      node.pods--;
      if (node.pods === 0) node.emptySince = this.#now;
      if (node.pool.config.class === 'on-prem') {
        this.#accrueOnPrem();
        this.#onPrem.used--;
      }
      pod.node = null;
    }
    this.#releaseReplaced(pod);
    this.#schedulePending();
  }

  /** A ready pod takes no new requests and goes once idle. */
  #drain(pod: Pod): void {
    this.#accrue();
    pod.lane.ready--;
    this.#ready--;
    this.#bucketRemove(pod);
    pod.state = DRAINING;
    if (pod.busy === 0) this.#terminate(pod);
  }

  /** Removes one of the service's pods (not ready ones first, then ready pods on the emptiest elastic nodes). */
  #removeOne(lane: Lane): boolean {
    for (let i = this.#pending.length - 1; i >= 0; i--) {
      const pod = this.#pending[i]!;
      if (pod.lane !== lane) continue;
      this.#pending.splice(i, 1);
      pod.state = GONE;
      lane.live.delete(pod);
      this.#countReplicas(lane, -1);
      return true;
    }
    let victim: Pod | null = null;
    let victimRank = -Infinity;
    for (const pod of lane.live) {
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
    this.#countReplicas(lane, -1);
    if (victim.state === STARTING) {
      this.#terminate(victim);
      return true;
    }
    this.#drain(victim);
    return true;
  }

  #applyReplicas(lane: Lane, desired: number): void {
    desired = Math.max(0, Math.floor(desired));
    if (desired !== lane.target) {
      const direction = desired > lane.target ? 1 : -1;
      if (lane.lastDirection !== 0 && direction !== lane.lastDirection && this.#now - lane.lastEventAt <= this.#sc.oscillationWindowMs) this.#oscillations++;
      lane.lastDirection = direction;
      lane.lastEventAt = this.#now;
      this.#scaleEvents++;
      lane.target = desired;
    }
    // on-prem-first: the placement pass, right after the decisions, brings the pods to the target.
    if (this.#placement === 'on-prem-first') return;
    while (lane.replicas < desired) this.#pending.push(this.#newPod(lane));
    while (lane.replicas > desired && this.#removeOne(lane));
    this.#schedulePending();
  }

  // ---- placement (on-prem-first) ----
  /** Asks the placement decider where every service's pods belong, and moves them there. */
  #placementPass(): void {
    const at = SIM_EPOCH_MS + this.#now;
    const pools: PlacementPool[] = this.#pools.map((p) => ({
      name: p.config.name,
      class: p.config.class,
      capacity: (p.config.class === 'on-prem' ? p.alive : p.config.maxNodes) * p.config.replicasPerNode,
      gpusPerReplica: gpusPerReplica(p.config),
    }));
    const services = this.#lanes.map((lane) => ({
      name: lane.spec.name,
      team: lane.spec.team,
      priority: lane.spec.priority,
      wanted: lane.target,
      sloAtRisk: lane.signals ? sloRisk(lane.signals.windows(at), this.#sc.slo).atRisk : true,
      placed: this.#placedOf(lane),
    }));
    const decision = decidePlacement({ pools, services, quotas: this.#sc.quotas });
    this.#lanes.forEach((lane, i) => {
      const p = decision.services[i]!;
      this.#applyPlacement(lane, p);
      if (p.pending) lane.pendingSeconds[p.pending.reason] += p.pending.count;
    });
    this.#schedulePending();
  }

  /** The service's pods by pool: running, starting, or given the pool and waiting for a node (not retiring or draining). */
  #placedOf(lane: Lane): Record<string, number> {
    const placed: Record<string, number> = {};
    for (const pod of lane.live) {
      if (pod.retiring || pod.state === DRAINING) continue;
      const pool = pod.node ? pod.node.pool : pod.pool;
      if (pool) placed[pool.config.name] = (placed[pool.config.name] ?? 0) + 1;
    }
    return placed;
  }

  #poolNamed(name: string): PoolState {
    return this.#pools.find((p) => p.config.name === name)!;
  }

  #applyPlacement(lane: Lane, p: ServicePlacement): void {
    const movedOut = new Map<string, number>();
    const movedIn = new Map<string, number>();
    for (const move of p.moves) {
      const from = this.#poolNamed(move.from);
      const to = this.#poolNamed(move.to);
      for (let k = 0; k < move.count; k++) {
        const victim = this.#victimIn(lane, from);
        if (!victim) break;
        const pod = this.#newPod(lane);
        this.#assign(pod, to);
        if (victim.state === READY) {
          // Make before break: it serves until its replacement is ready.
          victim.retiring = true;
          this.#countReplicas(lane, -1);
          pod.replaces = victim;
        } else this.#retire(victim);
        lane.moves++;
      }
      movedOut.set(move.from, (movedOut.get(move.from) ?? 0) + move.count);
      movedIn.set(move.to, (movedIn.get(move.to) ?? 0) + move.count);
    }
    for (const pool of this.#pools) {
      const name = pool.config.name;
      for (let n = (p.retire[name] ?? 0) - (movedOut.get(name) ?? 0); n > 0; n--) {
        const victim = this.#victimIn(lane, pool);
        if (!victim) break;
        this.#retire(victim);
      }
    }
    for (const pool of this.#pools) {
      const name = pool.config.name;
      for (let n = (p.start[name] ?? 0) - (movedIn.get(name) ?? 0); n > 0; n--) this.#assign(this.#waitingPod(lane, 'oldest') ?? this.#newPod(lane), pool);
    }
    // What waits is what placement says waits.
    const wanted = p.pending?.count ?? 0;
    let waiting = 0;
    for (const pod of this.#pending) if (pod.lane === lane && pod.pool === null) waiting++;
    for (; waiting > wanted; waiting--) this.#retire(this.#waitingPod(lane, 'newest')!);
    for (; waiting < wanted; waiting++) this.#pending.push(this.#newPod(lane));
  }

  /** Gives a pod a pool: a new one joins the pending pods; a waiting one keeps its place in line. */
  #assign(pod: Pod, pool: PoolState): void {
    if (pod.pool === null && !this.#pending.includes(pod)) this.#pending.push(pod);
    pod.pool = pool;
    pod.assignedAt = this.#now;
  }

  /** One of the service's pods waiting without a pool. */
  #waitingPod(lane: Lane, which: 'oldest' | 'newest'): Pod | null {
    const list = this.#pending;
    if (which === 'oldest') {
      for (const pod of list) if (pod.lane === lane && pod.pool === null) return pod;
    } else {
      for (let i = list.length - 1; i >= 0; i--) if (list[i]!.lane === lane && list[i]!.pool === null) return list[i]!;
    }
    return null;
  }

  /** The pod to retire from a pool: waiting for a node first, then starting, then ready on the emptiest node; newest first. */
  #victimIn(lane: Lane, pool: PoolState): Pod | null {
    let victim: Pod | null = null;
    let victimRank = -Infinity;
    for (const pod of lane.live) {
      if (pod.retiring) continue;
      let rank: number;
      if (pod.state === PENDING) {
        if (pod.pool !== pool) continue;
        rank = 2e12 + pod.id;
      } else if (pod.state === STARTING || pod.state === READY) {
        if (pod.node!.pool !== pool) continue;
        rank = (pod.state === STARTING ? 1e12 : 0) + (1e4 - pod.node!.pods) * 1e3 + pod.id / 1e6;
      } else continue;
      if (rank > victimRank) {
        victimRank = rank;
        victim = pod;
      }
    }
    return victim;
  }

  /** Removes a pod now: pending or starting ones at once, a ready one after its requests. */
  #retire(pod: Pod): void {
    if (!pod.retiring) this.#countReplicas(pod.lane, -1);
    if (pod.state === PENDING) {
      this.#pending.splice(this.#pending.indexOf(pod), 1);
      pod.state = GONE;
      pod.lane.live.delete(pod);
      this.#releaseReplaced(pod);
    } else if (pod.state === STARTING) this.#terminate(pod);
    else if (pod.state === READY) this.#drain(pod);
  }

  // ---- nodes ----
  #nodeReady(nodeId: number, poolIndex: number): void {
    const pool = this.#pools[poolIndex]!;
    const node = pool.all.find((n) => n.id === nodeId);
    if (!node || node.state !== 'provisioning') return;
    node.state = 'ready';
    node.emptySince = this.#now;
    this.#onPremSlots(pool, 1);
    this.#schedulePending();
  }

  #removeNode(node: Node): void {
    if (node.state === 'ready') this.#onPremSlots(node.pool, -1);
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

  /** Pods the nodes being provisioned will hold (in one pool, or all). */
  #incomingRoom(only?: PoolState): number {
    let room = 0;
    for (const pool of this.#pools) {
      if (only && pool !== only) continue;
      for (const node of pool.all) if (node.state === 'provisioning') room += pool.config.replicasPerNode;
    }
    return room;
  }

  #clusterAutoscalerScan(): void {
    const ca = this.#sc.clusterAutoscaler;
    if (this.#placement === 'on-prem-first') this.#growForGivenPods();
    else {
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

  /** on-prem-first: each pool grows for the pods placement gave it that waited pendingFor, beyond its nodes on the way. */
  #growForGivenPods(): void {
    const pendingForMs = this.#sc.clusterAutoscaler.pendingForMs;
    let added = 0;
    for (const pool of this.#pools) {
      let waiting = 0;
      for (const pod of this.#pending) if (pod.pool === pool && this.#now - pod.assignedAt >= pendingForMs) waiting++;
      const uncovered = waiting - this.#incomingRoom(pool);
      if (uncovered <= 0) continue;
      const n = Math.min(pool.config.maxNodes - pool.alive, Math.ceil(uncovered / pool.config.replicasPerNode));
      for (let i = 0; i < n; i++) this.#addNode(pool, false);
      added += Math.max(0, n);
    }
    if (added > 0) this.#nodeScaleEvents++;
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
    let queueDepth = 0;
    for (const lane of this.#lanes) {
      this.#expireQueue(lane);
      queueDepth += lane.qLen;
    }
    const sec = Math.round(this.#now / 1000);
    const nodes = this.nodes;
    let gpuNodes = 0;
    for (const p of this.#pools) if (p.config.accelerator === 'gpu') gpuNodes += p.alive;
    this.#metrics.closeSecond(sec, { readyReplicas: this.#ready, replicas: this.#replicas, queueDepth, nodes, gpuNodes });
    for (const lane of this.#lanes) lane.metrics?.closeSecond(sec, { readyReplicas: lane.ready, replicas: lane.replicas, queueDepth: lane.qLen, nodes, gpuNodes });
    for (const lane of this.#lanes) {
      if (this.#now % lane.ctl.periodMs !== 0) continue;
      const action = lane.ctl.decide(lane.view);
      if (action) {
        this.#applyReplicas(lane, action.desiredReplicas);
        lane.nodesWanted = !this.#sharedNodes && lane.ctl.nodeManagement === 'direct' ? action.desiredNodes : undefined;
        if (lane.nodesWanted !== undefined) this.#applyNodes(lane.nodesWanted);
      }
    }
    if (this.#placement === 'on-prem-first') this.#placementPass();
    const first = this.#lanes[0]!;
    const usesAutoscaler = this.#sharedNodes || first.ctl.nodeManagement === 'cluster-autoscaler' || first.nodesWanted === undefined;
    if (usesAutoscaler && this.#now % this.#sc.clusterAutoscaler.scanIntervalMs === 0) this.#clusterAutoscalerScan();
    if (this.#now + 1000 <= this.#sc.durationMs) this.#events.push(this.#now + 1000, EV_TICK);
  }

  run(): RunResult {
    const sc = this.#sc;
    const lanes = this.#lanes;
    const cursors = lanes.map((lane) => openArrivals(lane.spec.traffic, sc.durationMs, lane.spec.seed));
    const merged = cursors.length > 1 ? new LaneArrivals(cursors) : undefined;
    const arrivals: ArrivalCursor & { readonly work: number } = merged ?? cursors[0]!;
    const only = lanes[0]!;
    this.#metrics.start({ readyReplicas: this.#ready, replicas: this.#replicas, queueDepth: 0, nodes: this.nodes });
    for (const lane of lanes) lane.metrics?.start({ readyReplicas: lane.ready, replicas: lane.replicas, queueDepth: 0, nodes: this.nodes });
    this.#events.push(1000, EV_TICK);
    for (const lane of lanes) this.#reportLoad(lane, true);
    const onEvent = (ev: PoppedEvent): void => {
      this.#now = ev.time;
      switch (ev.type) {
        case EV_COMPLETE:
          this.#complete(ev.a, ev.b);
          break;
        case EV_TICK:
          this.#tick();
          for (const lane of lanes) this.#reportLoad(lane, true);
          break;
        case EV_POD_READY:
          this.#podReady(ev.a);
          break;
        case EV_NODE_READY:
          this.#nodeReady(ev.a, ev.b);
          break;
      }
      for (const lane of lanes) this.#reportLoad(lane);
    };
    const onArrival = (time: number): void => {
      this.#now = time;
      const lane = merged ? lanes[merged.lane]! : only;
      this.#onArrival(lane, arrivals.work);
      this.#reportLoad(lane);
    };
    runEvents(this.#events, arrivals, sc.durationMs, onEvent, onArrival);
    this.#now = sc.durationMs;
    this.#accrue();
    this.#accrueOnPrem();
    this.#metrics.finish();
    for (const lane of lanes) lane.metrics?.finish();
    return this.#result();
  }

  #result(): RunResult {
    const sc = this.#sc;
    const end = sc.durationMs;
    const nodeHoursByPool: Record<string, number> = {};
    const nodeHoursByClass: Record<PoolConfig['class'], number> = { 'on-prem': 0, elastic: 0 };
    let gpuNodeHours = 0;
    let costUsd = 0;
    for (const pool of this.#pools) {
      let ms = 0;
      for (const node of pool.all) ms += (Number.isNaN(node.removedAt) ? end : node.removedAt) - node.requestedAt;
      const hours = ms / 3_600_000;
      nodeHoursByPool[pool.config.name] = hours;
      nodeHoursByClass[pool.config.class] += hours;
      if (pool.config.accelerator === 'gpu') gpuNodeHours += hours;
      costUsd += hours * pool.config.costPerHour;
    }
    const m = this.#metrics;
    return {
      policy: this.#lanes[0]!.ctl.policy,
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
      nodeHoursByClass,
      gpuNodeHours,
      costUsd,
      scaleEvents: this.#scaleEvents,
      oscillations: this.#oscillations,
      nodeScaleEvents: this.#nodeScaleEvents,
      peakReplicas: this.#peakReplicas,
      peakNodes: this.#peakNodes,
      series: m.series,
      placement: this.#placement,
      onPremUtilization: this.#onPrem.slotMs > 0 ? this.#onPrem.usedMs / this.#onPrem.slotMs : 0,
      services: this.#lanes.map((lane) => ({
        name: lane.spec.name,
        team: lane.spec.team,
        priority: lane.spec.priority,
        minutes: lane.metrics ? lane.metrics.minutes : m.minutes,
        arrivals: lane.arrivals,
        peakReplicas: lane.peakReplicas,
        moves: lane.moves,
        pendingReplicaSeconds: { ...lane.pendingSeconds },
      })),
    };
  }
}

/** What one service's controller sees: its own replicas and signals, the cluster's nodes. */
class LaneView implements ClusterView {
  readonly #run: ClusterRun;
  readonly #lane: Lane;

  constructor(run: ClusterRun, lane: Lane) {
    this.#run = run;
    this.#lane = lane;
  }
  get timeMs(): number {
    return this.#run.timeMs;
  }
  get readyReplicas(): number {
    return this.#lane.ready;
  }
  get replicas(): number {
    return this.#lane.replicas;
  }
  get nodes(): number {
    return this.#run.nodes;
  }
  get maxNodes(): number {
    return this.#run.maxNodes;
  }
  signals(): Signals {
    return this.#run.signalsOf(this.#lane);
  }
}

/** Runs one controller (one per service, for a scenario with several) through one scenario. Deterministic for the same inputs. */
export function simulate(scenario: Scenario, controller: ScaleController | readonly ScaleController[], options: RunOptions): RunResult {
  const controllers = Array.isArray(controller) ? (controller as readonly ScaleController[]) : [controller as ScaleController];
  return new ClusterRun(scenario, controllers, options).run();
}
