/**
 * How a standalone gateway (`karb gateway`) tells the control plane what it
 * routed, so the autoscaler and rollout analysis see its traffic too: a
 * `SignalSink` that adds up, per revision, the requests finished since the
 * last report (count, errors, latency histogram, wait histogram) and keeps the gauges now
 * (requests at replicas, what replicas say is waiting), and per service the
 * requests waiting at this gateway and those it refused since the last report.
 * `take()` hands over one report and starts the next; the gateway posts it to
 * `/api/v1/signals` every second (its wire format is signal-report.ts). As an `SliSink` it also adds up each request's
 * SLI outcome per revision (sli-sink.ts), sent as the report's `sli`.
 */
import { isErrorStatus } from './error-status.ts';
import type { SignalSink } from './hub.ts';
import { LATENCY_BINS, latencyBin, sparse } from './latency-histogram.ts';
import type { SignalReport } from './signal-report.ts';
import { emptySliCounts, isAnswered, isServerError, type SliCounts } from './sli.ts';
import type { SliSink } from './sli-sink.ts';

interface RevisionTally {
  service: string;
  requests: number;
  errors: number;
  bins: Uint32Array;
  /** Waits before a replica began each answered request (see `SignalSink.requestFinished`). */
  waits: Uint32Array;
  inFlight: number;
  replicaQueue: Map<string, number>;
}

export class SignalReporter implements SignalSink, SliSink {
  readonly #gateway: string;
  readonly #revisions = new Map<string, RevisionTally>();
  /** Requests' SLI outcomes since the last report, by revision. */
  readonly #sli = new Map<string, SliCounts & { service: string }>();
  readonly #held = new Map<string, number>();
  /** Requests turned away since the last report, by service. */
  readonly #refused = new Map<string, number>();
  #gatewayQueued: (service: string) => number = () => 0;

  constructor(gateway: string) {
    this.#gateway = gateway;
  }

  /** Where to read how many requests of a service wait in this gateway's queue. */
  countGatewayQueue(depth: (service: string) => number): void {
    this.#gatewayQueued = depth;
  }

  requestStarted(service: string, revision: string): void {
    this.#get(service, revision).inFlight += 1;
  }

  requestFinished(service: string, revision: string, endpoint: string, latencyMs: number, status: number, replicaQueueDepth: number, waitMs = -1): void {
    const t = this.#get(service, revision);
    if (t.inFlight > 0) t.inFlight -= 1;
    t.requests += 1;
    if (isErrorStatus(status)) t.errors += 1;
    t.bins[latencyBin(latencyMs)]! += 1;
    if (waitMs >= 0) t.waits[latencyBin(waitMs)]! += 1;
    if (t.inFlight === 0) t.replicaQueue.clear();
    else if (replicaQueueDepth >= 0) t.replicaQueue.set(endpoint, replicaQueueDepth);
  }

  requestAnswered(service: string, revision: string, status: number, latencyMs: number): void {
    let c = this.#sli.get(revision);
    if (c === undefined) {
      c = { service, ...emptySliCounts() };
      this.#sli.set(revision, c);
    }
    c.requests += 1;
    if (isServerError(status)) c.serverErrors += 1;
    if (isAnswered(status)) c.answered[latencyBin(latencyMs)]! += 1;
  }

  heldChanged(service: string, held: number): void {
    if (held > 0) this.#held.set(service, held);
    else this.#held.delete(service);
  }

  requestRefused(service: string): void {
    this.#refused.set(service, (this.#refused.get(service) ?? 0) + 1);
  }

  /** The report since the last one; counts start again from zero. Revisions with nothing to say are dropped. */
  take(): SignalReport {
    const revisions: SignalReport['revisions'] = [];
    const services = new Set<string>();
    for (const [revision, t] of this.#revisions) {
      services.add(t.service);
      let replicaQueue = 0;
      for (const d of t.replicaQueue.values()) replicaQueue += d;
      const wait = sparse(t.waits);
      revisions.push({
        service: t.service,
        revision,
        requests: t.requests,
        errors: t.errors,
        latency: sparse(t.bins),
        // Left out when empty: a revision with only requests in flight reports as before.
        ...(wait.length > 0 ? { wait } : {}),
        inFlight: t.inFlight,
        replicaQueue,
      });
      if (t.inFlight === 0) this.#revisions.delete(revision);
      else {
        t.requests = 0;
        t.errors = 0;
        t.bins.fill(0);
        t.waits.fill(0);
      }
    }
    const sli: NonNullable<SignalReport['sli']> = [];
    for (const [revision, c] of this.#sli) {
      services.add(c.service);
      sli.push({ service: c.service, revision, requests: c.requests, serverErrors: c.serverErrors, answered: sparse(c.answered) });
    }
    this.#sli.clear();
    for (const s of this.#held.keys()) services.add(s);
    for (const s of this.#refused.keys()) services.add(s);
    const refused = this.#refused;
    const report: SignalReport = {
      gateway: this.#gateway,
      revisions,
      sli,
      services: [...services].map((service) => {
        const n = refused.get(service) ?? 0;
        // Left out when none: a control plane older than the field accepts the report then.
        return { service, waiting: (this.#held.get(service) ?? 0) + this.#gatewayQueued(service), ...(n > 0 ? { refused: n } : {}) };
      }),
    };
    refused.clear();
    return report;
  }

  #get(service: string, revision: string): RevisionTally {
    let t = this.#revisions.get(revision);
    if (t === undefined) {
      t = { service, requests: 0, errors: 0, bins: new Uint32Array(LATENCY_BINS), waits: new Uint32Array(LATENCY_BINS), inFlight: 0, replicaQueue: new Map() };
      this.#revisions.set(revision, t);
    }
    return t;
  }
}
