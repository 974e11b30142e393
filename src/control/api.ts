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
 *   /api/v1/dashboard/...                       the dashboard's data, see dashboard-api.ts
 *   GET    /, /dashboard/*                     the dashboard's page and files (open: they hold no data)
 *   GET    /metrics, /healthz                  open (with karb up's gateway metrics); everything under /api/v1 needs the admin token
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, Gauge, collectDefaultMetrics } from 'prom-client';
import { InvalidRequestError, MethodNotAllowedError, NotFoundError } from '../errors.ts';
import { parseInferenceService, parseManifestText } from '../api/index.ts';
import { listen, readBody, sendError, sendJson } from '../util/http.ts';
import type { Runtime } from '../runtime/types.ts';
import { admitEmbedded } from './admission.ts';
import type { Reconciler } from './reconciler.ts';
import type { Store, StoredService } from './store.ts';
import { AdminAuthError, adminTokenChecker } from './admin-token.ts';
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
  port?: number;
  host?: string;
  log?: (record: Record<string, unknown>) => void;
  /** Required as `Authorization: Bearer <token>` on every /api/v1 call; absent: the API is open. */
  adminToken?: string;
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

  const isAdmin = o.adminToken === undefined ? undefined : adminTokenChecker(o.adminToken);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean);
    const namespace = url.searchParams.get('namespace');
    const method = req.method ?? 'GET';

    if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (serveDashboard(res, method, url.pathname)) return;
    if (url.pathname === '/metrics') {
      const text = await registry.metrics();
      const more = o.moreMetrics === undefined ? '' : `\n${await o.moreMetrics()}`;
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text + more);
      return;
    }
    if (parts[0] !== 'api' || parts[1] !== 'v1') throw new NotFoundError(`no route ${url.pathname}; the API lives under /api/v1`);
    if (isAdmin !== undefined && !isAdmin(req.headers.authorization)) throw new AdminAuthError();
    const [, , resource, name, sub, ...extra] = parts;
    if (resource === 'dashboard' && o.dashboard) return handleDashboardApi(o.dashboard, req, res, method, url, parts.slice(3));
    if (o.keys && (await handleKeysApi(o.keys, req, res, method, url, resource, name, sub === undefined ? [] : [sub, ...extra]))) return;

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
    admitEmbedded(svc, o.store, o.baseDir);
    const result = o.store.apply(svc);
    const { namespace: ns } = svc.metadata;
    if (result.created) o.store.addEvent({ type: 'Normal', reason: 'ServiceCreated', message: `service ${name} created`, namespace: ns, service: name });
    else if (result.changed) o.store.addEvent({ type: 'Normal', reason: 'ServiceUpdated', message: `service ${name} updated to generation ${result.service.metadata.generation}`, namespace: ns, service: name });
    if (result.newRevision) {
      o.store.addEvent({ type: 'Normal', reason: 'RevisionCreated', message: `revision ${result.newRevision.name} created`, namespace: ns, service: name, revision: result.newRevision.name });
    }
    await o.reconciler.reconcile();
    const outcome = result.created ? 'created' : result.changed ? 'configured' : 'unchanged';
    sendJson(res, result.created ? 201 : 200, { outcome, ...(result.newRevision ? { revision: result.newRevision.name } : {}), service: o.store.getService(ns, name) });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => sendError(res, err, o.log));
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

/** A 405 with an `Allow` header unless `method` is one of `allowed`. */
function allow(method: string, allowed: string[]): void {
  if (!allowed.includes(method)) throw new MethodNotAllowedError(method, 'this path', allowed.join(', '));
}
