/**
 * Test support for the deciders (imported by *.test.ts only): a seeded PRNG,
 * signal builders, and a small fluid model of a service to close the loop
 * around a decider in simulated time. The model is deliberately simple — each
 * ready replica is an M/M/1 server — so tests run in milliseconds; the
 * evaluation itself uses the discrete-event simulator in src/sim.
 */
import type { Decider, DeciderState, PodSignal, ScaleResult, ScalingInput, Signals, WindowSignals } from './types.ts';
import { seededRandom } from '../util/prng.ts';

/** A seeded uniform source in [0, 1) (karb's one generator, src/util/prng.ts). */
export function seeded(seed: number): () => number {
  return seededRandom(seed).next;
}

export function baseSpec(overrides: Partial<ScalingInput> = {}): ScalingInput {
  return {
    policy: 'gascl',
    minReplicas: 1,
    maxReplicas: 30,
    targetConcurrency: 8,
    scaleToZeroAfterMs: 300_000,
    stabilization: { upSeconds: 0, downSeconds: 300 },
    slo: { latencyP95Ms: 250, coldStartMs: 2_000 },
    ...overrides,
  };
}

/** Signals with both windows equal to `w` (window lengths 60 s and 6 s) unless `panic` is given. */
export function signalsOf(
  replicas: { ready: number; current?: number },
  w: Omit<WindowSignals, 'windowSeconds'>,
  extra: Partial<Signals> & { panicWindow?: Omit<WindowSignals, 'windowSeconds'> } = {},
): Signals {
  const { panicWindow, ...rest } = extra;
  return {
    stable: { windowSeconds: 60, ...w },
    panic: { windowSeconds: 6, ...(panicWindow ?? w) },
    readyReplicas: replicas.ready,
    currentReplicas: replicas.current ?? replicas.ready,
    ...rest,
  };
}

/** `n` ready pods at the given CPU utilizations, started long ago. */
export function podsAt(...utilizations: (number | undefined)[]): PodSignal[] {
  return utilizations.map((u, i) => {
    const pod: PodSignal = { name: `pod-${i}`, ready: true, startedAt: -3_600_000, readyChangedAt: -3_590_000 };
    if (u !== undefined) pod.cpuUtilization = u;
    return pod;
  });
}

/** Drives one decider with its state through calls at chosen times; returns each result. */
export function driver(decider: Decider, spec: ScalingInput) {
  let state: DeciderState | undefined;
  return {
    at(now: number, signals: Signals): ScaleResult {
      const d = decider(signals, spec, state, now);
      state = JSON.parse(JSON.stringify(d.next)) as DeciderState; // state must survive a restart
      return d.result;
    },
    get state(): DeciderState | undefined {
      return state;
    },
  };
}

export interface PlantOptions {
  /** Offered load, requests per second, as a function of seconds since start. */
  arrivalRps: (t: number) => number;
  /** Requests per second one replica serves at full utilization. */
  replicaRps: number;
  /** Time one request spends being served, ms. */
  serviceMs: number;
  coldStartMs: number;
  /** Relative noise on arrivals each second (uniform ±noise). */
  noise: number;
  seed: number;
  initialReplicas: number;
}

export interface PlantStep {
  t: number;
  ready: number;
  current: number;
  desired: number;
  p95Ms: number;
  result: ScaleResult;
}

interface Second {
  rate: number;
  concurrency: number;
  queue: number;
  p50: number;
  p95: number;
  cpu: number;
}

/**
 * A closed loop: every simulated second the service serves what it can, the
 * windows are read, the decider decides, and replicas are added (ready after a
 * cold start) or removed (starting ones first).
 */
export function runPlant(decider: Decider, spec: ScalingInput, options: PlantOptions, seconds: number): PlantStep[] {
  const random = seeded(options.seed);
  const mu = options.replicaRps;
  let replicas: { readyAt: number; startedAt: number }[] = [];
  for (let i = 0; i < options.initialReplicas; i++) replicas.push({ readyAt: -1, startedAt: -600_000 });
  let backlog = 0;
  let lastRequestAt: number | undefined;
  let state: DeciderState | undefined;
  const history: Second[] = [];
  const steps: PlantStep[] = [];

  // Each replica serves up to `mu` requests per second with service time S; a request
  // first waits about 2S in the replica's batcher, then queues when the replica runs hot.
  const serviceMs = options.serviceMs;
  for (let s = 0; s < seconds; s++) {
    const now = s * 1000;
    const ready = replicas.filter((r) => r.readyAt <= now).length;
    const offered = Math.max(0, options.arrivalRps(s) * (1 + options.noise * (2 * random() - 1)));
    const capacity = ready * mu;
    let served: number;
    if (capacity <= 0) {
      backlog += offered;
      served = 0;
    } else if (offered >= capacity) {
      backlog += offered - capacity;
      served = capacity;
    } else {
      const drained = Math.min(backlog, capacity - offered);
      backlog -= drained;
      served = offered + drained;
    }
    if (served > 0) lastRequestAt = now;
    const rho = capacity > 0 ? Math.min(0.98, served / capacity) : 0;
    const perReplica = ready > 0 ? served / ready : 0;
    const queueingMs = (serviceMs * rho ** 10) / (1 - rho);
    const backlogWaitMs = capacity > 0 ? (backlog / capacity) * 1000 : 0;
    const latencyMs = 3 * serviceMs + queueingMs + backlogWaitMs;
    const waitingPerReplica = (perReplica * (2 * serviceMs + queueingMs)) / 1000;
    history.push({
      rate: served,
      concurrency: ready * (waitingPerReplica + (perReplica * serviceMs) / 1000) + backlog,
      queue: ready * waitingPerReplica + backlog,
      p50: latencyMs,
      p95: 1.5 * latencyMs,
      cpu: rho,
    });
    if (history.length > 60) history.shift();

    const window = (k: number): Omit<WindowSignals, 'windowSeconds'> => {
      const last = history.slice(-k);
      const mean = (f: (x: Second) => number) => last.reduce((a, x) => a + f(x), 0) / last.length;
      const w: Omit<WindowSignals, 'windowSeconds'> = {
        requestRate: mean((x) => x.rate),
        concurrency: mean((x) => x.concurrency),
        queueDepth: mean((x) => x.queue),
      };
      const withRequests = last.filter((x) => x.rate > 0);
      if (withRequests.length > 0) {
        w.p50Ms = withRequests.reduce((a, x) => a + x.p50, 0) / withRequests.length;
        w.p95Ms = withRequests.reduce((a, x) => a + x.p95, 0) / withRequests.length;
      }
      if (ready > 0) w.cpuUtilization = mean((x) => x.cpu);
      const half = Math.floor(last.length / 2);
      if (half > 0) {
        const early = last.slice(0, half).reduce((a, x) => a + x.queue, 0) / half;
        const late = last.slice(-half).reduce((a, x) => a + x.queue, 0) / half;
        w.queueGrowthPerSec = (late - early) / half;
      }
      return w;
    };
    const stable = window(60);
    const pods: PodSignal[] = replicas.map((r, i) => {
      const pod: PodSignal = { name: `r${i}`, ready: r.readyAt <= now, startedAt: r.startedAt, readyChangedAt: Math.max(r.startedAt, r.readyAt) };
      if (r.readyAt <= now) pod.cpuUtilization = Math.max(0, rho * (1 + 0.02 * (2 * random() - 1)));
      else pod.pending = true;
      return pod;
    });
    const signals: Signals = {
      stable: { windowSeconds: 60, ...stable },
      panic: { windowSeconds: 6, ...window(6) },
      readyReplicas: ready,
      currentReplicas: replicas.length,
      pods,
      coldStartMs: options.coldStartMs,
    };
    if (lastRequestAt !== undefined) signals.lastRequestAt = lastRequestAt;

    const decision = decider(signals, spec, state, now);
    state = decision.next;
    let desired = replicas.length;
    if (decision.result.valid) desired = decision.result.desiredReplicas;
    if (desired > replicas.length) {
      for (let i = replicas.length; i < desired; i++) replicas.push({ readyAt: now + options.coldStartMs, startedAt: now });
    } else if (desired < replicas.length) {
      // Remove replicas that are still starting first, then the youngest ready ones.
      replicas = replicas.sort((a, b) => a.readyAt - b.readyAt).slice(0, desired);
    }
    steps.push({ t: s, ready, current: replicas.length, desired, p95Ms: stable.p95Ms ?? 0, result: decision.result });
  }
  return steps;
}

/** How many times the replica count changed direction (up then down, or down then up). */
export function directionChanges(counts: readonly number[]): number {
  let last = 0;
  let changes = 0;
  for (let i = 1; i < counts.length; i++) {
    const d = Math.sign(counts[i]! - counts[i - 1]!);
    if (d === 0) continue;
    if (last !== 0 && d !== last) changes++;
    last = d;
  }
  return changes;
}
