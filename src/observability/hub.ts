/**
 * Where the gateway's view of each revision meets the control loop: one
 * `SignalRecorder` per revision, fed by the gateway through the small
 * `SignalSink` interface (request started, request finished, requests held
 * while cold, requests turned away before a replica began them) and read by
 * the loop. Gauges (concurrency, queue depth) are recorded when they change,
 * and sampled once more on every loop tick.
 *
 * Concurrency of a revision = its requests at replicas + the service's
 * requests waiting at the gateway (held while cold, or in the gateway's wait
 * queue for a free replica slot); queue depth = those waiting + what its
 * replicas last said was waiting (`x-karb-queue-depth`). A replica's queue only holds gateway
 * requests, so once none is in flight those reports are dropped. Each answered request's wait
 * (before its replica began it: see `requestFinished`) is recorded when it finishes, like its latency.
 * A request the gateway turned away (`requestRefused`) counts on each revision serving its service,
 * as held requests do; one refused before the loop named any is kept until it does (`track`).
 */
import type { Clock } from '../util/clock.ts';
import { SignalRecorder, type SignalRecorderOptions } from './windows.ts';
import type { SignalReport } from './signal-report.ts';
import type { ReplicaLoad } from './replica-load.ts';

/** What the gateway reports; every method is cheap and allocation-free on the hot path. */
export interface SignalSink {
  /** A request was sent to a replica of `revision`. */
  requestStarted(service: string, revision: string): void;
  /**
   * That request finished: milliseconds since it reached the gateway or, if it
   * was held while the service had no replica, since it was released; HTTP
   * status (0 = no response), the replica's reported queue depth (-1 = none), and
   * how long the request waited before this replica began it (absent or -1: not
   * known, as for an attempt that got no answer or was retried): from its arrival
   * (hold and the gateway's queue included) to this attempt being sent, plus what
   * the replica said it waited in its own queue (`x-karb-queue-ms`).
   */
  requestFinished(service: string, revision: string, endpoint: string, latencyMs: number, status: number, replicaQueueDepth: number, waitMs?: number): void;
  /** The number of requests held for `service` (no ready replica) is now `held`. */
  heldChanged(service: string, held: number): void;
  /**
   * The gateway turned a request for `service` away before any replica began it, for want of
   * capacity: its wait queue (or hold) was full, or it waited past its deadline (or the hold's
   * timeout). Demand the completed requests do not show. Not for a caller's own mistakes or
   * limits (401, 404, the edge's 429), nor a caller that gave up.
   */
  requestRefused(service: string): void;
}

interface RevisionSignals {
  readonly name: string;
  readonly recorder: SignalRecorder;
  readonly service: string;
  inFlight: number;
  /** Last queue depth each endpoint reported. */
  readonly replicaQueue: Map<string, number>;
}

/** Refusals of a service no revision is tracked for yet, kept per second for at most this many seconds. */
const PENDING_REFUSALS_KEPT = 600;

/** A standalone gateway's gauges count until this long after its last report (it reports every second). */
export const REMOTE_GAUGE_STALE_MS = 5_000;

interface RemoteGauges {
  at: number;
  /** revision → requests at its replicas, and what they said was waiting. */
  revisions: Map<string, { inFlight: number; replicaQueue: number }>;
  /** service → requests waiting at that gateway. */
  waiting: Map<string, number>;
}

export class SignalHub implements SignalSink {
  readonly #clock: Clock;
  readonly #revisions = new Map<string, RevisionSignals>();
  readonly #held = new Map<string, number>();
  readonly #remote = new Map<string, RemoteGauges>();
  /** Revisions of each service that the loop tracks; held requests count towards them. */
  readonly #serving = new Map<string, string[]>();
  /** service → [second (ms), refusals] before the loop tracked any revision of it, oldest first. */
  readonly #pendingRefused = new Map<string, Array<[at: number, count: number]>>();
  #gatewayQueued: (service: string) => number = () => 0;
  /** Whether a gateway runs in this process (it said where its queue is read). */
  #localGateway = false;

  constructor(options: { clock: Clock }) {
    this.#clock = options.clock;
  }

  /**
   * The loop names the revisions it decides for, with the windows they use.
   * A revision seen first by the gateway, or with other windows, starts a fresh recorder.
   */
  track(service: string, revisions: string[], windows: Pick<SignalRecorderOptions, 'stableWindowMs' | 'panicWindowMs'> = {}): void {
    const now = this.#clock.now();
    for (const name of revisions) {
      const existing = this.#revisions.get(name);
      const stable = windows.stableWindowMs ?? 60_000;
      const panic = windows.panicWindowMs ?? 6_000;
      if (existing && existing.recorder.stableWindowMs === stable && existing.recorder.panicWindowMs === panic) continue;
      const recorder = new SignalRecorder({ stableWindowMs: stable, panicWindowMs: panic, startedAt: now });
      this.#revisions.set(name, { name, recorder, service, inFlight: existing?.inFlight ?? 0, replicaQueue: existing?.replicaQueue ?? new Map() });
    }
    this.#serving.set(service, revisions);
    const pending = this.#pendingRefused.get(service);
    if (pending !== undefined && revisions.length > 0) {
      this.#pendingRefused.delete(service);
      for (const [at, count] of pending) this.#refuse(service, at, count);
    }
  }

  /** Drops the signals of revisions no longer tracked for `service`. */
  forget(service: string, keep: ReadonlySet<string> = new Set()): void {
    for (const [name, r] of this.#revisions) if (r.service === service && !keep.has(name)) this.#revisions.delete(name);
    if (keep.size === 0) this.#serving.delete(service);
  }

  /** Where to read how many requests of a service wait in the gateway's queue for a replica slot. */
  countGatewayQueue(depth: (service: string) => number): void {
    this.#gatewayQueued = depth;
    this.#localGateway = true;
  }

  /** Gateways whose signals this hub holds now: this process's own, and standalone ones still reporting. */
  gateways(): number {
    let n = this.#localGateway ? 1 : 0;
    for (const _ of this.#fresh(this.#clock.now())) n++;
    return n;
  }

  /** Drops everything about services not in `services` (deleted ones). */
  retainServices(services: ReadonlySet<string>): void {
    for (const [name, r] of this.#revisions) if (!services.has(r.service)) this.#revisions.delete(name);
    for (const service of this.#serving.keys()) if (!services.has(service)) this.#serving.delete(service);
    for (const service of this.#pendingRefused.keys()) if (!services.has(service)) this.#pendingRefused.delete(service);
  }

  recorder(revision: string): SignalRecorder | undefined {
    return this.#revisions.get(revision)?.recorder;
  }

  held(service: string): number {
    return this.#held.get(service) ?? 0;
  }

  inFlight(revision: string): number {
    return this.#revisions.get(revision)?.inFlight ?? 0;
  }

  /** Records the current gauges of every tracked revision (once per loop tick). */
  sample(): void {
    const now = this.#clock.now();
    for (const r of this.#revisions.values()) this.#recordGauges(r, now);
  }

  requestStarted(service: string, revision: string): void {
    const r = this.#get(service, revision);
    r.inFlight += 1;
    const now = this.#clock.now();
    r.recorder.recordConcurrency(now, this.#inFlight(r, now) + this.#waiting(r.service, now));
  }

  requestFinished(service: string, revision: string, endpoint: string, latencyMs: number, status: number, replicaQueueDepth: number, waitMs = -1): void {
    const r = this.#get(service, revision);
    const now = this.#clock.now();
    if (r.inFlight > 0) r.inFlight -= 1;
    r.recorder.recordRequest(now, latencyMs, status);
    if (waitMs >= 0) r.recorder.recordWait(now, waitMs);
    if (r.inFlight === 0) r.replicaQueue.clear();
    else if (replicaQueueDepth >= 0) r.replicaQueue.set(endpoint, replicaQueueDepth);
    this.#recordGauges(r, now);
  }

  heldChanged(service: string, held: number): void {
    if (held > 0) this.#held.set(service, held);
    else this.#held.delete(service);
    const now = this.#clock.now();
    for (const name of this.#serving.get(service) ?? []) {
      const r = this.#revisions.get(name);
      if (r) this.#recordGauges(r, now);
    }
  }

  requestRefused(service: string): void {
    this.#refuse(service, this.#clock.now(), 1);
  }

  /**
   * What a replica said of its own load on its /metrics (replica-load.ts, read by the control
   * plane): its KV cache's use joins the revision's windows, and the requests waiting inside it
   * count as that replica's queue, as a replica's `x-karb-queue-depth` does.
   */
  replicaLoad(service: string, revision: string, replica: string, endpoint: string, load: ReplicaLoad): void {
    const r = this.#get(service, revision);
    const now = this.#clock.now();
    if (load.kvCacheUsage !== undefined) r.recorder.recordKvCache(now, replica, load.kvCacheUsage);
    if (load.waiting !== undefined) {
      r.replicaQueue.set(endpoint, load.waiting);
      this.#recordGauges(r, now);
    }
  }

  /**
   * A standalone gateway's report (`POST /api/v1/signals`): its finished
   * requests join the revisions' windows now, and its gauges count with this
   * process's own until it stops reporting.
   */
  ingest(report: SignalReport): void {
    const now = this.#clock.now();
    const gauges: RemoteGauges = { at: now, revisions: new Map(), waiting: new Map() };
    for (const s of report.services) {
      gauges.waiting.set(s.service, s.waiting);
      if (s.refused !== undefined && s.refused > 0) this.#refuse(s.service, now, s.refused);
    }
    this.#remote.set(report.gateway, gauges);
    for (const r of report.revisions) {
      gauges.revisions.set(r.revision, { inFlight: r.inFlight, replicaQueue: r.replicaQueue });
      const recorder = this.#get(r.service, r.revision).recorder;
      recorder.recordRequests(now, r.requests, r.errors, r.latency);
      if (r.wait !== undefined) recorder.recordWaits(now, r.wait);
    }
    for (const r of this.#revisions.values()) this.#recordGauges(r, now);
  }

  /**
   * `count` refusals at `at` on each revision serving `service`, the ones held requests count
   * towards; with none tracked yet, kept (per second, bounded) until `track` names them.
   */
  #refuse(service: string, at: number, count: number): void {
    let recorded = false;
    for (const name of this.#serving.get(service) ?? []) {
      const r = this.#revisions.get(name);
      if (r === undefined) continue;
      r.recorder.recordRefused(at, count);
      recorded = true;
    }
    if (recorded) return;
    let pending = this.#pendingRefused.get(service);
    if (pending === undefined) {
      pending = [];
      this.#pendingRefused.set(service, pending);
    }
    const second = Math.floor(at / 1000) * 1000;
    const last = pending[pending.length - 1];
    if (last !== undefined && last[0] === second) last[1] += count;
    else {
      pending.push([second, count]);
      if (pending.length > PENDING_REFUSALS_KEPT) pending.shift();
    }
  }

  #get(service: string, revision: string): RevisionSignals {
    let r = this.#revisions.get(revision);
    if (r === undefined) {
      r = { name: revision, recorder: new SignalRecorder({ startedAt: this.#clock.now() }), service, inFlight: 0, replicaQueue: new Map() };
      this.#revisions.set(revision, r);
    }
    return r;
  }

  #waiting(service: string, now: number): number {
    let waiting = this.held(service) + this.#gatewayQueued(service);
    // Checked first: without standalone gateways the hot path allocates no iterator.
    if (this.#remote.size > 0) for (const g of this.#fresh(now)) waiting += g.waiting.get(service) ?? 0;
    return waiting;
  }

  #recordGauges(r: RevisionSignals, now: number): void {
    const waiting = this.#waiting(r.service, now);
    let queued = waiting;
    for (const depth of r.replicaQueue.values()) queued += depth;
    if (this.#remote.size > 0) for (const g of this.#fresh(now)) queued += g.revisions.get(r.name)?.replicaQueue ?? 0;
    r.recorder.recordConcurrency(now, this.#inFlight(r, now) + waiting);
    r.recorder.recordQueueDepth(now, queued);
  }

  /** Requests at the revision's replicas: through this process's gateway, and through standalone ones still reporting. */
  #inFlight(r: RevisionSignals, now: number): number {
    let n = r.inFlight;
    if (this.#remote.size > 0) for (const g of this.#fresh(now)) n += g.revisions.get(r.name)?.inFlight ?? 0;
    return n;
  }

  /** Whether any standalone gateway has reported in the last few seconds. */
  hasRemoteGateways(): boolean {
    for (const _ of this.#fresh(this.#clock.now())) return true;
    return false;
  }

  /** Reports of standalone gateways that are still reporting; forgets the others. */
  *#fresh(now: number): Iterable<RemoteGauges> {
    for (const [gateway, g] of this.#remote) {
      if (now - g.at > REMOTE_GAUGE_STALE_MS) this.#remote.delete(gateway);
      else yield g;
    }
  }
}

/** One sink that tells each of `sinks` everything (the autoscaler's hub and rollout analysis). */
export function teeSignals(...sinks: SignalSink[]): SignalSink {
  return {
    requestStarted(service, revision) {
      for (const s of sinks) s.requestStarted(service, revision);
    },
    requestFinished(service, revision, endpoint, latencyMs, status, replicaQueueDepth, waitMs) {
      for (const s of sinks) s.requestFinished(service, revision, endpoint, latencyMs, status, replicaQueueDepth, waitMs);
    },
    heldChanged(service, held) {
      for (const s of sinks) s.heldChanged(service, held);
    },
    requestRefused(service) {
      for (const s of sinks) s.requestRefused(service);
    },
  };
}
