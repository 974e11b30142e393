/**
 * The edge (L1) steps of the gateway pipeline:
 *   requestDeadline  x-karb-timeout-ms → exchange.deadlineAt (the router enforces it); 400 if malformed
 *   authenticate     Authorization: Bearer <key> → exchange.apiKey; one generic 401 for every bad key
 *   authorize        the key's namespace and service allowlist against the resolved route; 403
 *   rateLimit        the key's and the service's token buckets; 429 with Retry-After
 * authenticate runs before the model is resolved (an unauthenticated caller
 * cannot learn which models exist); authorize and rateLimit after it.
 */
import type { Clock } from '../../util/clock.ts';
import type { Exchange, GatewayStep } from '../server/exchange.ts';
import type { Route } from '../discovery/routing-table.ts';
import { oncePerObject } from '../../util/memo.ts';
import {
  BadTimeoutHeaderError,
  ForbiddenModelError,
  KeyCheckUnavailableError,
  RateLimitedError,
  UnauthenticatedError,
} from './errors.ts';
import type { KeyResolver } from './key-resolver.ts';
import { bearerToken, checkKey, checkScope, parseKey, type KeyRecord } from './keys.ts';
import type { AuthFailureReason, EdgeMetrics } from './metrics.ts';
import { defaultBurst, type BucketSpec, type RateDecision, type RateLimiter } from './rate-limit.ts';

export const TIMEOUT_HEADER = 'x-karb-timeout-ms';

/**
 * Reads `x-karb-timeout-ms`, caps it at `maxMs`, and stores the absolute
 * deadline on the exchange; the router enforces it (504 once it passes, and no
 * retry beyond it). A malformed value is refused with 400.
 */
export function requestDeadline(deps: { maxMs: number; clock: Clock }): GatewayStep {
  return {
    name: 'request-deadline',
    run(exchange: Exchange): void {
      const raw = exchange.req.headers[TIMEOUT_HEADER];
      if (raw !== undefined) {
        const text = Array.isArray(raw) ? raw.join(',') : raw;
        if (!/^\d{1,12}$/.test(text) || Number(text) <= 0) throw new BadTimeoutHeaderError(text);
        exchange.deadlineAt = deps.clock.now() + Math.min(Number(text), deps.maxMs);
      }
      exchange.next();
    },
  };
}

export function authenticate(deps: { keys: KeyResolver; metrics: EdgeMetrics; clock: Clock }): GatewayStep {
  const refuse = (exchange: Exchange, reason: AuthFailureReason): void => {
    deps.metrics.authFailed(reason);
    exchange.res.setHeader('www-authenticate', 'Bearer realm="karb"');
    exchange.fail(new UnauthenticatedError());
  };
  const accept = (exchange: Exchange, record: KeyRecord | undefined, secret: string): void => {
    const check = checkKey(record, secret, deps.clock.now());
    if (!check.ok) {
      refuse(exchange, check.reason);
      return;
    }
    exchange.apiKey = record;
    deps.keys.used?.(record!, deps.clock.now());
    exchange.next();
  };
  return {
    name: 'authenticate',
    run(exchange: Exchange): void {
      const header = exchange.req.headers.authorization;
      const token = bearerToken(header);
      if (token === undefined) {
        refuse(exchange, header === undefined ? 'missing' : 'malformed');
        return;
      }
      const parsed = parseKey(token);
      if (parsed === undefined) {
        refuse(exchange, 'malformed');
        return;
      }
      const found = deps.keys.lookup(parsed.id);
      if (!(found instanceof Promise)) {
        accept(exchange, found, parsed.secret);
        return;
      }
      found.then(
        (record) => accept(exchange, record, parsed.secret),
        (err: unknown) => exchange.fail(new KeyCheckUnavailableError(err)),
      );
    },
  };
}

export function authorize(deps: { metrics: EdgeMetrics }): GatewayStep {
  return {
    name: 'authorize',
    run(exchange: Exchange): void {
      const key = exchange.apiKey;
      const route = exchange.route!;
      if (key !== undefined && !checkScope(key, route.namespace, route.service).ok) {
        deps.metrics.authFailed('scope');
        throw new ForbiddenModelError(route.model);
      }
      exchange.next();
    },
  };
}

export function rateLimit(deps: { limiter: RateLimiter; metrics: EdgeMetrics }): GatewayStep {
  const apply = (exchange: Exchange, decision: RateDecision): void => {
    const headers = exchange.res;
    headers.setHeader('x-ratelimit-limit', String(decision.limiting.rate));
    headers.setHeader('x-ratelimit-remaining', String(decision.remaining));
    headers.setHeader('x-ratelimit-reset', String(decision.resetSeconds));
    if (decision.allowed) {
      exchange.next();
      return;
    }
    const route = exchange.route!;
    deps.metrics.rateLimited(route.service, decision.limiting.scope);
    // The caller's own quota says nothing of the service; the service's own limit sheds its load: that one counts.
    if (decision.limiting.scope === 'key') exchange.outsideSli = true;
    exchange.fail(new RateLimitedError(decision.limiting.scope, decision.limiting.rate, route.model, decision.retryAfterSeconds));
  };
  return {
    name: 'rate-limit',
    run(exchange: Exchange): void {
      const specs = bucketsFor(exchange);
      if (specs === undefined) {
        exchange.next();
        return;
      }
      const decided = deps.limiter.take(specs);
      if (!(decided instanceof Promise)) {
        apply(exchange, decided);
        return;
      }
      decided.then(
        (decision) => apply(exchange, decision),
        (err: unknown) => exchange.fail(err),
      );
    },
  };
}

/**
 * Bucket specs, made once per key record and per route: both are immutable (a
 * changed key or route is a new object), and a request then builds no spec or key string.
 */
const keyBucket = oncePerObject((key: KeyRecord): BucketSpec | null =>
  key.rps !== null && key.rps > 0 ? { key: `key:${key.id}`, rate: key.rps, burst: key.burst ?? defaultBurst(key.rps), scope: 'key' } : null,
);

const routeBucket = oncePerObject((route: Route): BucketSpec | null => {
  const limit = route.rateLimit;
  return limit !== undefined && limit.requestsPerSecond > 0
    ? { key: `svc:${route.namespace}/${route.service}`, rate: limit.requestsPerSecond, burst: limit.burst ?? defaultBurst(limit.requestsPerSecond), scope: 'service' }
    : null;
});

/** The buckets that apply to this exchange; undefined when none does. */
function bucketsFor(exchange: Exchange): BucketSpec[] | undefined {
  const key = exchange.apiKey === undefined ? null : keyBucket(exchange.apiKey);
  const route = routeBucket(exchange.route!);
  if (key === null) return route === null ? undefined : [route];
  return route === null ? [key] : [key, route];
}
