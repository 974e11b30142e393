/**
 * How a standalone gateway (`karb gateway`) tells the control plane what it
 * routed, so the autoscaler and rollout analysis see its traffic too: a
 * `SignalSink` that adds up, per revision, the requests finished since the
 * last report (count, errors, latency histogram) and keeps the gauges now
 * (requests at replicas, what replicas say is waiting), and per service the
 * requests waiting at this gateway. `take()` hands over one report and starts
 * the next; the gateway posts it to `/api/v1/signals` every second (its wire
 * format is signal-report.ts).
 */
import { isErrorStatus } from './error-status.ts';
import type { SignalSink } from './hub.ts';
import { LATENCY_BINS, latencyBin } from './latency-histogram.ts';
import type { SignalReport } from './signal-report.ts';
import { isAnswered, isServerError } from './sli.ts';

interface RevisionTally {
  service: string;
  requests: number;
  errors: number;
  bins: Uint32Array;
  /** The same requests as the SLIs count them (sli.ts). */
  serverErrors: number;
  answered: Uint32Array;
  inFlight: number;
  replicaQueue: Map<string, number>;
}

export class SignalReporter implements SignalSink {
  readonly #gateway: string;
  readonly #revisions = new Map<string, RevisionTally>();
  readonly #held = new Map<string, number>();
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

  requestFinished(service: string, revision: string, endpoint: string, latencyMs: number, status: number, replicaQueueDepth: number): void {
    const t = this.#get(service, revision);
    if (t.inFlight > 0) t.inFlight -= 1;
    t.requests += 1;
    if (isErrorStatus(status)) t.errors += 1;
    t.bins[latencyBin(latencyMs)]! += 1;
    if (isServerError(status)) t.serverErrors += 1;
    if (isAnswered(status)) t.answered[latencyBin(latencyMs)]! += 1;
    if (t.inFlight === 0) t.replicaQueue.clear();
    else if (replicaQueueDepth >= 0) t.replicaQueue.set(endpoint, replicaQueueDepth);
  }

  heldChanged(service: string, held: number): void {
    if (held > 0) this.#held.set(service, held);
    else this.#held.delete(service);
  }

  /** The report since the last one; counts start again from zero. Revisions with nothing to say are dropped. */
  take(): SignalReport {
    const revisions: SignalReport['revisions'] = [];
    const services = new Set<string>();
    for (const [revision, t] of this.#revisions) {
      services.add(t.service);
      let replicaQueue = 0;
      for (const d of t.replicaQueue.values()) replicaQueue += d;
      revisions.push({ service: t.service, revision, requests: t.requests, errors: t.errors, latency: sparse(t.bins), serverErrors: t.serverErrors, answered: sparse(t.answered), inFlight: t.inFlight, replicaQueue });
      if (t.inFlight === 0) this.#revisions.delete(revision);
      else {
        t.requests = 0;
        t.errors = 0;
        t.bins.fill(0);
        t.serverErrors = 0;
        t.answered.fill(0);
      }
    }
    for (const s of this.#held.keys()) services.add(s);
    return {
      gateway: this.#gateway,
      revisions,
      services: [...services].map((service) => ({ service, waiting: (this.#held.get(service) ?? 0) + this.#gatewayQueued(service) })),
    };
  }

  #get(service: string, revision: string): RevisionTally {
    let t = this.#revisions.get(revision);
    if (t === undefined) {
      t = { service, requests: 0, errors: 0, bins: new Uint32Array(LATENCY_BINS), serverErrors: 0, answered: new Uint32Array(LATENCY_BINS), inFlight: 0, replicaQueue: new Map() };
      this.#revisions.set(revision, t);
    }
    return t;
  }
}

/** A histogram as [bin, count] pairs of its non-empty bins. */
function sparse(bins: Uint32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < LATENCY_BINS; i++) if (bins[i]! > 0) out.push([i, bins[i]!]);
  return out;
}
