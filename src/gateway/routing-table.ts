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
