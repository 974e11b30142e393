/**
 * The routing steps of the gateway pipeline, in order:
 *   matchRequest  path → operation; 404 unknown path, 405 wrong method,
 *                 400 a version segment that is not a plain name
 *   serveLocal    health, answered by the gateway itself (metrics have a listener of their own)
 *   resolveModel  model name → route; 404 unknown model; 503 at once when no
 *                 revision has a ready endpoint (unless hold-while-cold, after
 *                 the edge checks, decides instead)
 *   serveModelReady  /ready, after the edge's scope check
 *   (read-body, in body.ts)
 *   pickTarget    revision by weight, then endpoint by least outstanding
 *   (proxy, in upstream.ts)
 * Each is a factory `(deps) => step`, built once per gateway.
 */
import { InvalidVersionError, MethodNotAllowedError, ModelNotFoundError, NoReadyEndpointError, PathNotFoundError } from './errors.ts';
import type { Exchange, GatewayStep } from './exchange.ts';
import { pickEndpoint, type OutstandingCounts } from '../router/endpoint-picker.ts';
import type { GatewayMetrics } from './metrics.ts';
import { allowHeader, isAllowedMethod, isLocalOperation, isVersionName, matchPath } from './paths.ts';
import { pickRevision } from '../router/revision-picker.ts';
import type { Route, RoutingTable } from '../discovery/routing-table.ts';

export function matchRequest(): GatewayStep {
  return {
    name: 'match-request',
    run(exchange: Exchange): void {
      const req = exchange.req;
      const url = req.url ?? '/';
      const method = req.method ?? 'GET';
      const match = matchPath(url);
      if (match === undefined) throw new PathNotFoundError(method, pathOf(url));
      if (!isAllowedMethod(match.kind, method)) throw new MethodNotAllowedError(method, pathOf(url), allowHeader(match.kind));
      if (match.version !== '' && !isVersionName(match.version)) throw new InvalidVersionError(match.version);
      exchange.match = match;
      exchange.next();
    },
  };
}

export function serveLocal(): GatewayStep {
  return {
    name: 'serve-local',
    run(exchange: Exchange): void {
      const kind = exchange.match!.kind;
      if (!isLocalOperation(kind)) {
        exchange.next();
        return;
      }
      // Liveness and readiness of the gateway process itself; model readiness is per model.
      exchange.respondJson(200, kind === 'health-live' ? '{"live":true}' : '{"ready":true}');
    },
  };
}

export function resolveModel(deps: {
  routingTable: RoutingTable;
  metrics: GatewayMetrics;
  /** A service without ready endpoints may still be served by a fallback service (router.ts). */
  hasFallbackCapacity?: (route: Route) => boolean;
  /** A later step (hold-while-cold) decides about routes without a ready endpoint: pass them on. */
  deferCold?: boolean;
}): GatewayStep {
  return {
    name: 'resolve-model',
    run(exchange: Exchange): void {
      const match = exchange.match!;
      const route = deps.routingTable.lookup(match.model);
      if (route === undefined) throw new ModelNotFoundError(match.model);
      exchange.route = route;
      // Readiness is answered by serveModelReady, after the key's scope is checked.
      if (match.kind === 'model-ready') {
        exchange.next();
        return;
      }
      if (!hasReadyEndpoint(route) && deps.deferCold !== true && deps.hasFallbackCapacity?.(route) !== true) {
        // Fail before reading a body that could not be sent anywhere.
        deps.metrics.noEndpoint(route.service);
        throw new NoReadyEndpointError(match.model);
      }
      exchange.next();
    },
  };
}

/**
 * `GET /v2/models/{name}/ready`, answered after the edge's checks: whether a
 * model is ready is the model's business, so a key of another namespace gets
 * the same 403 as for its metadata or infer.
 */
export function serveModelReady(): GatewayStep {
  return {
    name: 'model-ready',
    run(exchange: Exchange): void {
      if (exchange.match!.kind !== 'model-ready') {
        exchange.next();
        return;
      }
      const route = exchange.route!;
      if (!hasReadyEndpoint(route)) throw new NoReadyEndpointError(route.model);
      exchange.respondJson(200, JSON.stringify({ name: route.model, ready: true }));
    },
  };
}

export function pickTarget(deps: {
  random: () => number;
  outstanding: OutstandingCounts;
  metrics: GatewayMetrics;
}): GatewayStep {
  return {
    name: 'pick-target',
    run(exchange: Exchange): void {
      const route = exchange.route!;
      const revision = pickRevision(route.revisions, deps.random);
      // The route had endpoints when resolved; the table may have changed while the body arrived.
      if (revision === undefined) {
        deps.metrics.noEndpoint(route.service);
        throw new NoReadyEndpointError(route.model);
      }
      exchange.revision = revision;
      exchange.endpoint = pickEndpoint(revision.endpoints, deps.outstanding, deps.random);
      exchange.next();
    },
  };
}

export function hasReadyEndpoint(route: Route): boolean {
  for (const r of route.revisions) if (r.endpoints.length > 0) return true;
  return false;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
