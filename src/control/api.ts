/**
 * The control plane's REST API (:8081). Paths:
 *   GET    /api/v1/services                    list (?namespace=)
 *   GET    /api/v1/services/{name}             one
 *   PUT    /api/v1/services/{name}             create or update (YAML or JSON body)
 *   DELETE /api/v1/services/{name}
 *   GET    /api/v1/services/{name}/revisions
 *   GET    /api/v1/services/{name}/rollout     the current or last rollout
 *   POST   /api/v1/services/{name}/rollout/{promote|abort|pause|resume}
 *   POST   /api/v1/services/{name}/activate    a gateway holds a request for it: start a replica if at zero
 *   GET    /api/v1/services/{name}/drift       the last drift reading of its replicas (drift-watch.ts)
 *   GET    /api/v1/replicas                    (?service=)
 *   POST   /api/v1/signals                     a standalone gateway's report of what it routed
 *   GET    /api/v1/events                      JSON, or SSE with Accept: text/event-stream
 *   /api/v1/keys, /api/v1/routes       see keys-api.ts
 *   /api/v1/tokens, /api/v1/audit      see access/access-api.ts
 *   /api/v1/dashboard/...                       the dashboard's data, see dashboard-api.ts
 *   GET    /, /dashboard/*                     the dashboard's page and files (open: they hold no data)
 *   GET    /metrics, /healthz                  open (with karb up's gateway metrics)
 * Everything under /api/v1 needs a token: the admin token, or one of access/token-store.ts. Each
 * route's least role (viewer, deployer, admin) is in access/route-roles.ts, consulted before any
 * handler; a path or method missing there is refused. Calls that change something and refused
 * calls are recorded in the audit log (access/audit-log.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, Gauge, collectDefaultMetrics } from 'prom-client';
import { InvalidRequestError, MethodNotAllowedError, NotFoundError } from '../errors.ts';
import { parseInferenceService, parseManifestText } from '../api/index.ts';
import { listen, readBody, sendError, sendJson } from '../util/http.ts';
import type { Runtime } from '../runtime/types.ts';
import { admitEmbedded } from './admission.ts';
import type { EmbeddedGovernance } from '../governance/admit.ts';
import type { Reconciler } from './reconciler.ts';
import type { Store, StoredService } from './store.ts';
import { AdminAuthError } from './admin-token.ts';
import { callerIdentifier, OPEN_API_CALLER, RoleForbiddenError, type Caller } from './access/access-control.ts';
import { handleAccessApi, type AccessDeps } from './access/access-api.ts';
import { auditPath, auditTarget } from './access/audit-log.ts';
import { matchRoute } from './access/route-roles.ts';
import { roleAllows } from './access/roles.ts';
import { handleKeysApi, type KeysApiDeps } from './keys-api.ts';
import { handleDashboardApi, serveDashboard, type DashboardDeps } from './dashboard-api.ts';
import { rolloutCommand, rolloutView, serveEvents } from './viewer-routes.ts';
import { parseSignalReport, SIGNAL_REPORT_LIMIT_BYTES, type SignalReport } from '../observability/signal-report.ts';

const MANIFEST_LIMIT = 1024 * 1024;

export interface ControlApiOptions {
  store: Store;
  runtime: Runtime;
  reconciler: Reconciler;
  baseDir: string;
  /** The governance file's policies, checked on every apply (karb up --governance). */
  governance?: EmbeddedGovernance;
  port?: number;
  host?: string;
  log?: (record: Record<string, unknown>) => void;
  /** Required as `Authorization: Bearer <token>` on every /api/v1 call (or a token of `access`); absent: the API is open. */
  adminToken?: string;
  /** People's access tokens and the audit log behind /api/v1/tokens and /api/v1/audit (access/access-api.ts). */
  access?: AccessDeps;
  /** API keys and the routing table behind /api/v1/keys and /api/v1/routes (keys-api.ts). */
  keys?: KeysApiDeps;
  /** Takes standalone gateways' reports (`POST /api/v1/signals`) to the autoscaler and rollout analysis. */
  onSignals?: (report: SignalReport) => void;
  /** A standalone gateway holds a request for a service with no ready replica (scale from zero). */
  onActivate?: (namespace: string, service: string) => void;
  /** More Prometheus text for /metrics: the in-process gateway's, which its own port never serves. */
  moreMetrics?: () => Promise<string>;
  /** A service's last drift reading (`GET /api/v1/services/{name}/drift`); undefined when its drift is not measured. */
  drift?: (namespace: string, name: string) => unknown;
  /** The dashboard's history and SLO status behind /api/v1/dashboard (dashboard-api.ts); the page itself is served either way. */
  dashboard?: DashboardDeps;
}

export interface ControlApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startControlApi(o: ControlApiOptions): Promise<ControlApi> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'karb_control_' });
  // prom-client also names three gauges `…_total`, a suffix Prometheus keeps for counters; the
  // same counts stay, by type, in `karb_control_nodejs_active_{resources,handles,requests}`.
  for (const kind of ['resources', 'handles', 'requests']) registry.removeSingleMetric(`karb_control_nodejs_active_${kind}_total`);
  new Gauge({
    name: 'karb_control_services',
    help: 'InferenceServices known to the control plane',
    registers: [registry],
    collect() {
      this.set(o.store.listServices().length);
    },
  });
  new Gauge({
    name: 'karb_control_replicas',
    help: 'Replicas by service, revision and phase',
    labelNames: ['namespace', 'service', 'revision', 'phase'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of o.runtime.replicas()) this.inc({ namespace: r.namespace, service: r.service, revision: r.revision, phase: r.phase });
    },
  });

  const findService = (name: string, namespace: string | null): StoredService => {
    const found = namespace ? [o.store.getService(namespace, name)].filter((s) => s !== undefined) : o.store.findByName(name);
    if (found.length === 0) throw new NotFoundError(`service ${name} not found${namespace ? ` in namespace ${namespace}` : ''}; karb get services lists them`, 'SERVICE_NOT_FOUND');
    return found[0]!;
  };

  const identify = o.adminToken === undefined ? () => OPEN_API_CALLER : callerIdentifier(o.adminToken, o.access?.tokens);

  async function handle(req: IncomingMessage, res: ServerResponse, call: CallRecord): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean);
    const namespace = url.searchParams.get('namespace');
    const method = req.method ?? 'GET';
    const isApi = parts[0] === 'api' && parts[1] === 'v1';

    // Who calls, then whether the route table lets their role: before any handler runs.
    const route = matchRoute(method, parts);
    const target = route.kind === 'no-route' ? undefined : (route.params.name ?? route.params.id);
    if (target !== undefined) call.target = `${namespace && NAMESPACE.test(namespace) ? `${namespace}/` : ''}${auditTarget(target)}`;
    let caller: Caller | undefined;
    if (isApi) {
      call.path = url.pathname;
      caller = identify(req.headers.authorization);
      if (caller === undefined) throw new AdminAuthError();
      call.caller = caller;
    }
    if (route.kind === 'no-route') throw new NotFoundError(isApi ? `no route ${method} ${url.pathname}` : `no route ${url.pathname}; the API lives under /api/v1`);
    if (route.kind === 'method-not-allowed') throw new MethodNotAllowedError(method, isApi ? 'this path' : url.pathname, route.allow);
    if (route.access !== 'public') {
      if (caller === undefined) throw new AdminAuthError();
      if (!roleAllows(caller.role, route.access)) throw new RoleForbiddenError(caller, method, url.pathname, route.access);
    }

    if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (serveDashboard(res, method, url.pathname)) return;
    if (url.pathname === '/metrics') {
      const text = await registry.metrics();
      const more = o.moreMetrics === undefined ? '' : `\n${await o.moreMetrics()}`;
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text + more);
      return;
    }
    if (!isApi) throw new NotFoundError(`no route ${url.pathname}; the API lives under /api/v1`);
    const [, , resource, name, sub, ...extra] = parts;
    if (resource === 'dashboard' && o.dashboard) return handleDashboardApi(o.dashboard, req, res, method, url, parts.slice(3));
    if (o.keys && (await handleKeysApi(o.keys, req, res, method, url, resource, name, sub === undefined ? [] : [sub, ...extra]))) return;
    if (o.access && (await handleAccessApi(o.access, req, res, method, url, resource, name, sub === undefined ? [] : [sub, ...extra]))) return;

    if (resource === 'services' && !name) {
      allow(method, ['GET']);
      return sendJson(res, 200, { items: o.store.listServices(namespace ?? undefined) });
    }
    if (resource === 'services' && name && !sub) {
      if (method === 'GET') return sendJson(res, 200, findService(name, namespace));
      if (method === 'PUT') return apply(req, res, name, namespace);
      if (method === 'DELETE') {
        const svc = findService(name, namespace);
        o.store.deleteService(svc.metadata.namespace, svc.metadata.name);
        o.store.addEvent({ type: 'Normal', reason: 'ServiceDeleted', message: `service ${name} deleted`, namespace: svc.metadata.namespace, service: name });
        await o.reconciler.reconcile();
        return sendJson(res, 200, { deleted: { namespace: svc.metadata.namespace, name } });
      }
      allow(method, ['GET', 'PUT', 'DELETE']);
    }
    if (resource === 'services' && name && sub === 'revisions' && extra.length === 0) {
      allow(method, ['GET']);
      const svc = findService(name, namespace);
      const ready = new Map<string, number>();
      for (const e of o.runtime.endpoints({ namespace: svc.metadata.namespace, service: name })) ready.set(e.revision, (ready.get(e.revision) ?? 0) + 1);
      const traffic = new Map((svc.status.revisions ?? []).map((r) => [r.name, r.traffic]));
      const items = o.store.listRevisions(svc.metadata.namespace, name).map((r) => ({
        ...r,
        ready: ready.get(r.name) ?? 0,
        traffic: traffic.get(r.name) ?? 0,
      }));
      return sendJson(res, 200, { items });
    }
    if (resource === 'services' && name && sub === 'drift' && extra.length === 0) {
      allow(method, ['GET']);
      const svc = findService(name, namespace);
      const reading = o.drift?.(svc.metadata.namespace, svc.metadata.name);
      if (reading === undefined) throw new NotFoundError(`no drift reading for ${name} (yet): karb reads drift from replicas of the built-in ONNX server every 2 s`, 'DRIFT_NOT_MEASURED');
      return sendJson(res, 200, reading);
    }
    if (resource === 'services' && name && sub === 'activate' && extra.length === 0) {
      allow(method, ['POST']);
      const svc = findService(name, namespace);
      o.onActivate?.(svc.metadata.namespace, svc.metadata.name);
      res.writeHead(204).end();
      return;
    }
    if (resource === 'services' && name && sub === 'rollout' && extra.length <= 1) {
      const svc = findService(name, namespace);
      if (extra.length === 0) {
        allow(method, ['GET']);
        return sendJson(res, 200, rolloutView(o.store.getService(svc.metadata.namespace, name)!));
      }
      allow(method, ['POST']);
      o.reconciler.rollouts.command(svc, rolloutCommand(extra[0]!));
      await o.reconciler.reconcile();
      return sendJson(res, 200, rolloutView(o.store.getService(svc.metadata.namespace, name)!));
    }
    if (resource === 'signals' && !name) {
      allow(method, ['POST']);
      if (o.onSignals === undefined) throw new NotFoundError('this control plane takes no gateway reports', 'SIGNALS_NOT_TAKEN');
      o.onSignals(parseSignalReport((await readBody(req, SIGNAL_REPORT_LIMIT_BYTES)).toString('utf8')));
      res.writeHead(204).end();
      return;
    }
    if (resource === 'replicas' && !name) {
      allow(method, ['GET']);
      const service = url.searchParams.get('service') ?? undefined;
      return sendJson(res, 200, { items: o.runtime.replicas({ ...(namespace ? { namespace } : {}), ...(service ? { service } : {}) }) });
    }
    if (resource === 'events' && !name) {
      allow(method, ['GET']);
      return serveEvents(o.store, req, res, url);
    }
    throw new NotFoundError(`no route ${method} ${url.pathname}`);
  }

  async function apply(req: IncomingMessage, res: ServerResponse, name: string, namespace: string | null): Promise<void> {
    const body = (await readBody(req, MANIFEST_LIMIT)).toString('utf8');
    const docs = parseManifestText(body, 'request body');
    if (docs.length !== 1) throw new InvalidRequestError(`request body must hold exactly one InferenceService (got ${docs.length}); send each to its own PUT`);
    const raw = docs[0] as { metadata?: { name?: unknown; namespace?: unknown } };
    if (raw && typeof raw === 'object' && raw.metadata && typeof raw.metadata === 'object') {
      if (raw.metadata.name !== undefined && raw.metadata.name !== name) {
        throw new InvalidRequestError(`metadata.name is ${String(raw.metadata.name)} but the URL names ${name}; they must match`, { code: 'NAME_MISMATCH' });
      }
      if (namespace && raw.metadata.namespace !== undefined && raw.metadata.namespace !== namespace) {
        throw new InvalidRequestError(`metadata.namespace is ${String(raw.metadata.namespace)} but ?namespace= is ${namespace}; they must match`, { code: 'NAMESPACE_MISMATCH' });
      }
      raw.metadata.name = name;
      if (namespace && raw.metadata.namespace === undefined) raw.metadata.namespace = namespace;
    }
    const svc = parseInferenceService(raw);
    const warnings = admitEmbedded(svc, o.store, o.baseDir, o.governance);
    for (const warning of warnings) o.log?.({ level: 'warn', msg: 'governance policy failed; admitted (action Warn)', service: name, warning });
    const result = o.store.apply(svc);
    const { namespace: ns } = svc.metadata;
    if (result.created) o.store.addEvent({ type: 'Normal', reason: 'ServiceCreated', message: `service ${name} created`, namespace: ns, service: name });
    else if (result.changed) o.store.addEvent({ type: 'Normal', reason: 'ServiceUpdated', message: `service ${name} updated to generation ${result.service.metadata.generation}`, namespace: ns, service: name });
    if (result.newRevision) {
      o.store.addEvent({ type: 'Normal', reason: 'RevisionCreated', message: `revision ${result.newRevision.name} created`, namespace: ns, service: name, revision: result.newRevision.name });
    }
    await o.reconciler.reconcile();
    const outcome = result.created ? 'created' : result.changed ? 'configured' : 'unchanged';
    sendJson(res, result.created ? 201 : 200, {
      outcome,
      ...(result.newRevision ? { revision: result.newRevision.name } : {}),
      ...(warnings.length > 0 ? { warnings } : {}),
      service: o.store.getService(ns, name),
    });
  }

  /** Writes the call to the audit log if it changed something or was refused; a failed write is logged, never the caller's problem. */
  function audit(req: IncomingMessage, res: ServerResponse, call: CallRecord): void {
    if (o.access === undefined || call.path === undefined) return;
    const method = req.method ?? 'GET';
    const outcome = res.statusCode;
    const refused = outcome === 401 || outcome === 403;
    if ((method === 'GET' || method === 'HEAD') && !refused) return;
    // Gateways report every second and ask for replicas: telemetry, not changes; only refused ones are recorded.
    if (!refused && (call.path === '/api/v1/signals' || call.path.endsWith('/activate'))) return;
    try {
      o.access.audit.record({
        actor: call.caller?.name ?? 'anonymous',
        role: call.caller?.role ?? null,
        method: method.slice(0, 16),
        path: auditPath(call.path),
        target: call.target ?? null,
        outcome,
      });
    } catch (err) {
      o.log?.({ level: 'warn', msg: 'audit record not written', method: method.slice(0, 16), path: auditPath(call.path), outcome, error: (err as Error).message });
    }
  }

  const server: Server = createServer((req, res) => {
    const call: CallRecord = {};
    handle(req, res, call)
      .catch((err) => sendError(res, err, o.log))
      .finally(() => audit(req, res, call));
  });
  server.keepAliveTimeout = 5_000;
  await listen(server, o.port ?? 8081, o.host ?? '127.0.0.1', 'the control plane');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${o.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** What the audit log needs of a call, filled in as handling learns it. */
interface CallRecord {
  /** Set for /api/v1 calls only: the others are not audited. */
  path?: string;
  caller?: Caller;
  target?: string;
}

/** A 405 with an `Allow` header unless `method` is one of `allowed`. */
function allow(method: string, allowed: string[]): void {
  if (!allowed.includes(method)) throw new MethodNotAllowedError(method, 'this path', allowed.join(', '));
}
