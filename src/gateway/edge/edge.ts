/**
 * Assembles the edge (L1) steps for one gateway from its options: the steps
 * that run before the model is resolved (deadline, authentication) and after
 * it (scope, rate limits). The gateway places them around `resolveModel`.
 */
import type { Registry } from 'prom-client';
import type { Clock } from '../../util/clock.ts';
import type { Log } from '../../util/log.ts';
import type { GatewayStep } from '../server/exchange.ts';
import type { KeyResolver } from './key-resolver.ts';
import { EdgeMetrics } from './metrics.ts';
import { LocalRateLimiter, type RateLimiter } from './rate-limit.ts';
import { authenticate, authorize, rateLimit, requestDeadline } from './steps.ts';

export interface EdgeOptions {
  /** Where API keys are looked up; absent: authentication is off and every caller is admitted. */
  keys?: KeyResolver;
  /** Builds the rate limiter (given the edge's metrics, for backend errors). Default: in-process buckets. */
  rateLimiter?: (metrics: EdgeMetrics) => RateLimiter;
  /** The largest `x-karb-timeout-ms` honoured; larger values are cut to it. Default 300 s. */
  maxTimeoutMs?: number;
}

export interface Edge {
  metrics: EdgeMetrics;
  beforeModel: GatewayStep[];
  afterModel: GatewayStep[];
  close(): Promise<void>;
}

export const DEFAULT_MAX_TIMEOUT_MS = 300_000;

export function createEdge(options: EdgeOptions, deps: { registry: Registry; clock: Clock; log?: Log | undefined }): Edge {
  const metrics = new EdgeMetrics(deps.registry);
  const limiter = options.rateLimiter?.(metrics) ?? new LocalRateLimiter(deps.clock);
  const beforeModel: GatewayStep[] = [requestDeadline({ maxMs: options.maxTimeoutMs ?? DEFAULT_MAX_TIMEOUT_MS, clock: deps.clock })];
  const afterModel: GatewayStep[] = [];
  if (options.keys !== undefined) {
    beforeModel.push(authenticate({ keys: options.keys, metrics, clock: deps.clock }));
    afterModel.push(authorize({ metrics }));
  }
  afterModel.push(rateLimit({ limiter, metrics }));
  return {
    metrics,
    beforeModel,
    afterModel,
    close: async () => {
      options.keys?.close?.();
      await limiter.close();
    },
  };
}
