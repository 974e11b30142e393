/**
 * What the gateway routes by: a snapshot per model name, swapped atomically by
 * the control plane whenever services, weights or endpoints change. The hot path
 * reads it without locks or allocation.
 */
export interface RouteEndpoint {
  replica: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
}

export interface RouteRevision {
  revision: string;
  /** Percent of traffic, 0..100; the weights of one route add up to 100. */
  weight: number;
  endpoints: RouteEndpoint[];
}

export interface Route {
  /** The model name clients use: the service name. */
  model: string;
  namespace: string;
  service: string;
  format: 'onnx' | 'openai' | 'oip';
  revisions: RouteRevision[];
  /** `spec.traffic.fallback`: services tried in order when this one has no healthy capacity. */
  fallback?: string[];
  /** `spec.scaling.concurrencyLimit`: requests per replica before the gateway queues (backpressure). */
  concurrencyLimit?: number;
  /** `spec.traffic.async.enabled`: a full wait queue then points callers to `Prefer: respond-async`. */
  asyncEnabled?: boolean;
  /** `spec.traffic.async.maxQueued`: unfinished async jobs of the service before 429. Default 10,000. */
  asyncMaxQueued?: number;
  /** `spec.traffic.async.ttl` in ms: an async job not finished by then expires. Default 10 min. */
  asyncTtlMs?: number;
  /** `spec.slo.coldStartMs`: how long a request is held while the service has no ready replica. */
  coldStartMs?: number;
  /**
   * Longest wait for one attempt's response to start before it is retried on another replica:
   * `perTryTimeoutForSlo(spec.slo.latencyP95Ms)`. The router bounds it by the request's deadline;
   * the gateway's `routing.perTryTimeoutMs`, when set, overrides it. Absent: only the deadline.
   */
  perTryTimeoutMs?: number;
  /**
   * `spec.slo.latencyP95Ms`: an answered request within it counts toward the latency SLI
   * (`karb_gateway_requests_within_latency_target_total`). Absent: none counts as within.
   */
  latencyTargetMs?: number;
  /** `spec.traffic.rateLimit` of the service; absent: no per-service limit. */
  rateLimit?: { requestsPerSecond: number; burst?: number | undefined };
  /**
   * Rollout mirroring: copy this share of the requests served by the other revisions to
   * `revision` (one of `revisions`, usually at weight 0), answers discarded. `percent` is
   * 0..100. The copies are reported to the autoscaler's signals under `revision`, which is
   * how a rollout judges a revision on real traffic before it serves any (mirror.ts).
   */
  mirror?: { revision: string; percent: number };
}

/** A try may take this many times the service's p95 latency target before it is given up on. */
export const PER_TRY_TIMEOUT_SLO_FACTOR = 4;
/** The shortest derived per-try timeout, whatever the SLO. */
export const MIN_PER_TRY_TIMEOUT_MS = 1_000;

/**
 * The per-try timeout of a service with p95 latency target `latencyP95Ms`:
 * max(1 s, 4 × the target). A replica that has not started answering by then
 * is hung or far off its SLO, and the try is retried elsewhere, so a hung
 * replica (SIGSTOP, a wedged worker) costs a request one try instead of its
 * whole deadline. Why 4 and 1 s: the target is the p95 of whole answers as
 * the autoscaler measures them, and this bounds only the wait for the first
 * byte, so 4× is far into the tail of a healthy replica even with batching
 * (its batch delay is inside the measured latency) and a replica queueing
 * under a burst; the 1 s floor keeps a tight target (say 20 ms) from cutting
 * tries on a GC pause or a connection setup, where a retry would double the
 * work for nothing. No upper bound here: the router cuts at the request's
 * deadline anyway. Cold starts are not in it: a request for a service with no
 * ready replica waits in hold-while-cold before its first try, and a replica
 * is routed only once ready (warmed). Streams are never cut by it: once the
 * response has started only the pool's body timeout applies.
 */
export function perTryTimeoutForSlo(latencyP95Ms: number): number {
  return Math.max(MIN_PER_TRY_TIMEOUT_MS, Math.ceil(PER_TRY_TIMEOUT_SLO_FACTOR * latencyP95Ms));
}

/**
 * The revision that takes most of the route's traffic (the first of equals; '' for a route with
 * none): the one a request the gateway answered before choosing a revision counts against in the
 * SLIs (sli-sink.ts). Outside a rollout it is the only one; after a promotion, the promoted one.
 */
export function mainRevision(route: Route): string {
  let main: RouteRevision | undefined;
  for (const r of route.revisions) if (main === undefined || r.weight > main.weight) main = r;
  return main?.revision ?? '';
}

export interface RoutingTable {
  /** Replaces the whole table; readers see either the old or the new one. */
  replace(routes: Route[]): void;
  lookup(model: string): Route | undefined;
  all(): Route[];
}

export class InMemoryRoutingTable implements RoutingTable {
  #routes = new Map<string, Route>();

  replace(routes: Route[]): void {
    const next = new Map<string, Route>();
    for (const r of routes) next.set(r.model, r);
    this.#routes = next;
  }

  lookup(model: string): Route | undefined {
    return this.#routes.get(model);
  }

  all(): Route[] {
    return [...this.#routes.values()];
  }
}
