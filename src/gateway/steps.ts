/**
 * The routing steps of the gateway pipeline, in order:
 *   matchRequest  path → operation; 404 unknown path, 405 wrong method,
 *                 400 a version segment that is not a plain name
 *   serveLocal    health and /metrics, answered by the gateway itself
 *   resolveModel  model name → route; 404 unknown model; answers /ready;
 *                 503 at once when no revision has a ready endpoint (unless
 *                 hold-while-cold, after the edge checks, decides instead)
 *   (read-body, in body.ts)
 *   pickTarget    revision by weight, then endpoint by least outstanding
 *   (proxy, in upstream.ts)
 * Each is a factory `(deps) => step`, built once per gateway.
 */
import { InvalidVersionError, MethodNotAllowedError, ModelNotFoundError, NoReadyEndpointError, PathNotFoundError } from './errors.ts';
import type { Exchange, GatewayStep } from './exchange.ts';
import { pickEndpoint, type OutstandingCounts } from './endpoint-picker.ts';
import type { GatewayMetrics } from './metrics.ts';
import { allowHeader, isAllowedMethod, isLocalOperation, isVersionName, matchPath } from './paths.ts';
import { pickRevision } from './revision-picker.ts';
import type { Route, RoutingTable } from './routing-table.ts';

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

export function serveLocal(deps: { metrics: GatewayMetrics }): GatewayStep {
  return {
    name: 'serve-local',
    run(exchange: Exchange): void {
      const kind = exchange.match!.kind;
      if (!isLocalOperation(kind)) {
        exchange.next();
        return;
      }
      if (kind === 'metrics') {
        deps.metrics.render().then(
          (text) => exchange.respond(200, deps.metrics.contentType, text),
          (err: unknown) => exchange.fail(err),
        );
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
      const ready = hasReadyEndpoint(route);
      if (match.kind === 'model-ready') {
        if (!ready) throw new NoReadyEndpointError(match.model);
        exchange.respondJson(200, JSON.stringify({ name: match.model, ready: true }));
        return;
      }
      if (!ready && deps.deferCold !== true && deps.hasFallbackCapacity?.(route) !== true) {
        // Fail before reading a body that could not be sent anywhere.
        deps.metrics.noEndpoint(route.service);
        throw new NoReadyEndpointError(match.model);
      }
      exchange.next();
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
