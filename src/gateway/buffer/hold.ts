/**
 * Hold-while-cold (the L3 activator): a request for a service that has a route
 * but no ready replica — scaled to zero, or its first replica still starting —
 * waits here instead of failing at once. Holding tells the control plane
 * (`onColdRequest`), which starts a replica without waiting for its next
 * period. Held requests continue in arrival order as soon as the routing table
 * shows a ready endpoint; after the service's `slo.coldStartMs` they get 503
 * with Retry-After, and beyond `maxHeldPerService` new ones get 503 at once; both are reported
 * as refused (`exchange.ctx.onRefused`, the autoscaler's refusedRate).
 *
 * Sits after resolve-model and the edge's authorize and rate-limit steps (so
 * a key out of scope or over its limit never wakes a service), before the body
 * is read (a held request costs its socket, not its body). A released request
 * continues with the route as it is now.
 */
import { performance } from 'node:perf_hooks';
import { Gauge } from 'prom-client';
import { UnavailableError } from '../../errors.ts';
import { unref, type Clock, type TimerHandle } from '../../util/clock.ts';
import type { Exchange, GatewayStep } from '../server/exchange.ts';
import type { GatewayMetrics } from '../server/metrics.ts';
import type { Route, RoutingTable } from '../discovery/routing-table.ts';
import { hasReadyEndpoint } from '../server/steps.ts';
import { ModelNotFoundError } from '../server/errors.ts';

/** When each released request left the hold (`performance.now()`); only held requests are here. */
const releasedAt = new WeakMap<Exchange, number>();

/**
 * Where a request's latency starts for the autoscaler: arrival, or release
 * from the hold. Waiting for a replica to exist is the cold start, not load;
 * waiting in the gateway's queue for a busy replica is load, and counts.
 */
export function latencyOrigin(exchange: Exchange): number {
  return releasedAt.get(exchange) ?? exchange.startedAt;
}

export const DEFAULT_MAX_HELD_PER_SERVICE = 1000;
export const DEFAULT_HOLD_TIMEOUT_MS = 2000;

export interface HoldOptions {
  /** Subscribes to routing table replacements; returns the unsubscribe function. */
  onTableChange(listener: () => void): () => void;
  /** A request for this route is being held (called for each held request). */
  onColdRequest?(route: Route): void;
  /** How long a request for this route may be held (the service's slo.coldStartMs). */
  timeoutMs?(route: Route): number | undefined;
  maxHeldPerService?: number;
}

export class ColdStartTimeoutError extends UnavailableError {
  constructor(model: string, timeoutMs: number) {
    super(`model '${model}' had no ready replica within ${timeoutMs} ms (its slo.coldStartMs); retry shortly`, {
      code: 'COLD_START_TIMEOUT',
      retryAfterSeconds: 1,
    });
  }
}

export class TooManyHeldError extends UnavailableError {
  constructor(model: string, max: number) {
    super(`model '${model}' is starting and already holds ${max} requests; retry shortly`, { code: 'TOO_MANY_HELD', retryAfterSeconds: 1 });
  }
}

interface Held {
  exchange: Exchange;
  timer: TimerHandle | undefined;
}

export interface HoldStep extends GatewayStep {
  /** Requests held now for `model`. */
  held(model: string): number;
  /** Stops listening and answers every held request with 503. */
  close(): void;
}

export function holdWhileCold(deps: {
  routingTable: RoutingTable;
  clock: Clock;
  metrics: GatewayMetrics;
  options: HoldOptions;
  /** Told how many requests each service holds (they count as queue depth). */
  onHeldChange?: (service: string, held: number) => void;
}): HoldStep {
  const { routingTable, clock, options } = deps;
  const max = options.maxHeldPerService ?? DEFAULT_MAX_HELD_PER_SERVICE;
  const queues = new Map<string, { service: string; items: Held[] }>();
  const gauge = new Gauge({
    name: 'karb_gateway_held_requests',
    help: 'Requests held because their service has no ready replica yet (scale from zero), by service.',
    labelNames: ['service'],
    registers: [deps.metrics.registry],
  });

  const changed = (model: string, service: string, n: number): void => {
    gauge.set({ service }, n);
    deps.onHeldChange?.(service, n);
    if (n === 0) queues.delete(model);
  };

  const release = (): void => {
    for (const [model, queue] of queues) {
      const route = routingTable.lookup(model);
      // Still no replica: keep waiting. Gone: the next step answers 404.
      if (route !== undefined && !hasReadyEndpoint(route)) continue;
      const items = queue.items.splice(0);
      changed(model, queue.service, 0);
      const now = performance.now();
      for (const h of items) {
        if (h.timer !== undefined) clock.clearTimeout(h.timer);
        releasedAt.set(h.exchange, now);
        h.exchange.trace?.released();
        if (route === undefined) {
          h.exchange.fail(new ModelNotFoundError(model));
          continue;
        }
        h.exchange.route = route;
        h.exchange.next();
      }
    }
  };
  const unsubscribe = options.onTableChange(release);

  return {
    name: 'hold-while-cold',
    run(exchange: Exchange): void {
      const route = exchange.route!;
      if (exchange.match!.kind === 'model-ready' || hasReadyEndpoint(route)) {
        exchange.next();
        return;
      }
      let queue = queues.get(route.model);
      if (queue === undefined) {
        queue = { service: route.service, items: [] };
        queues.set(route.model, queue);
      }
      if (queue.items.length >= max) {
        deps.metrics.noEndpoint(route.service);
        exchange.ctx.onRefused?.(route.service);
        throw new TooManyHeldError(route.model, max);
      }
      const timeoutMs = options.timeoutMs?.(route) ?? DEFAULT_HOLD_TIMEOUT_MS;
      const held: Held = { exchange, timer: undefined };
      held.timer = unref(
        clock.setTimeout(() => {
          const q = queues.get(route.model);
          const i = q ? q.items.indexOf(held) : -1;
          if (q === undefined || i === -1) return;
          q.items.splice(i, 1);
          changed(route.model, q.service, q.items.length);
          deps.metrics.noEndpoint(route.service);
          // Turned away for want of a replica; not counted when the caller already gave up.
          if (!exchange.settled) exchange.ctx.onRefused?.(route.service);
          exchange.fail(new ColdStartTimeoutError(route.model, timeoutMs));
        }, timeoutMs),
      );
      queue.items.push(held);
      exchange.trace?.held();
      changed(route.model, route.service, queue.items.length);
      options.onColdRequest?.(route);
    },
    held(model: string): number {
      return queues.get(model)?.items.length ?? 0;
    },
    close(): void {
      unsubscribe();
      for (const [model, queue] of queues) {
        const items = queue.items.splice(0);
        changed(model, queue.service, 0);
        for (const h of items) {
          if (h.timer !== undefined) clock.clearTimeout(h.timer);
          h.exchange.fail(new UnavailableError('the gateway is shutting down; retry shortly', { code: 'SHUTTING_DOWN', retryAfterSeconds: 1 }));
        }
      }
    },
  };
}

