/**
 * The dashboard's data, under /api/v1/dashboard (admin token like the rest of /api/v1):
 *   GET /api/v1/dashboard/services                        every service with its SLO status, replicas, split, policy, rollout
 *   GET /api/v1/dashboard/services/{name}/history?since=  the service's points (history.ts) after `since` (ms), oldest first
 *   GET /api/v1/dashboard/stream                          SSE: `sample` each second with every summary and each service's new point
 * And the page itself at `/` and `/dashboard/*` (src/dashboard/assets.ts), open: it holds no data and no secret.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidRequestError, NotFoundError } from '../errors.ts';
import { sendJson } from '../util/http.ts';
import { pointView } from '../observability/history.ts';
import { sloStatus, type SloStatus } from '../observability/slo-status.ts';
import { DASHBOARD_HEADERS, dashboardAsset } from '../dashboard/assets.ts';
import type { Clock } from '../util/clock.ts';
import type { HistorySampler } from './history-sampler.ts';
import type { Store, StoredService } from './store.ts';

export interface DashboardDeps {
  store: Store;
  sampler: HistorySampler;
  clock: Clock;
}

export interface ServiceSummary {
  namespace: string;
  name: string;
  generation: number;
  policy: string;
  slo: StoredService['spec']['slo'];
  sloStatus: SloStatus;
  replicas: { ready: number; desired: number; min: number; max: number };
  revisions: NonNullable<StoredService['status']['revisions']>;
  stableRevision: string | null;
  latestRevision: string | null;
  rolloutSpec: StoredService['spec']['rollout'];
  rollout: Record<string, unknown> | null;
  autoscaler: { desiredReplicas: number; reason: string; message: string; panic: boolean; decidedAt: number } | null;
  conditions: NonNullable<StoredService['status']['conditions']>;
}

/** A service as the dashboard's table and page show it, at `now`. */
export function serviceSummary(deps: DashboardDeps, svc: StoredService, now: number): ServiceSummary {
  const { namespace, name } = svc.metadata;
  const points = deps.sampler.history.points(`${namespace}/${name}`);
  const last = points[points.length - 1];
  const revisions = svc.status.revisions ?? [];
  const decision = deps.store.getAutoscaler(namespace, name);
  return {
    namespace,
    name,
    generation: svc.metadata.generation,
    policy: svc.spec.scaling.policy,
    slo: svc.spec.slo,
    sloStatus: sloStatus(points, svc.spec.slo, now),
    replicas: { ready: last?.ready ?? revisions.reduce((n, r) => n + r.ready, 0), desired: revisions.reduce((n, r) => n + r.desired, 0), min: svc.spec.scaling.minReplicas, max: svc.spec.scaling.maxReplicas },
    revisions,
    stableRevision: svc.status.stableRevision ?? null,
    latestRevision: svc.status.latestRevision ?? null,
    rolloutSpec: svc.spec.rollout,
    rollout: svc.status.rollout ?? null,
    autoscaler: decision ? { desiredReplicas: decision.desiredReplicas, reason: decision.reason, message: decision.message, panic: decision.panic, decidedAt: decision.decidedAt } : null,
    conditions: svc.status.conditions ?? [],
  };
}

/** Serves the page and its files; false when `pathname` is none of them. */
export function serveDashboard(res: ServerResponse, method: string, pathname: string): boolean {
  const asset = dashboardAsset(pathname);
  if (asset === undefined) return false;
  if (method !== 'GET' && method !== 'HEAD') {
    throw new InvalidRequestError(`method ${method} not allowed on the dashboard; use GET`, { code: 'METHOD_NOT_ALLOWED', status: 405 });
  }
  res.writeHead(200, { ...DASHBOARD_HEADERS, 'content-type': asset.contentType, 'content-length': String(asset.body.length) });
  res.end(method === 'HEAD' ? undefined : asset.body);
  return true;
}

/** Answers /api/v1/dashboard/...; `rest` is the path after `dashboard`. */
export function handleDashboardApi(deps: DashboardDeps, req: IncomingMessage, res: ServerResponse, method: string, url: URL, rest: string[]): void {
  if (method !== 'GET') throw new InvalidRequestError(`method ${method} not allowed here; use GET`, { code: 'METHOD_NOT_ALLOWED', status: 405 });
  const namespace = url.searchParams.get('namespace');
  const [what, name, sub, ...extra] = rest;
  if (what === 'services' && name === undefined) {
    const now = deps.clock.now();
    return sendJson(res, 200, { now, items: deps.store.listServices(namespace ?? undefined).map((s) => serviceSummary(deps, s, now)) });
  }
  if (what === 'services' && name !== undefined && sub === 'history' && extra.length === 0) {
    const found = namespace ? [deps.store.getService(namespace, name)].filter((s) => s !== undefined) : deps.store.findByName(name);
    const svc = found[0];
    if (svc === undefined) throw new NotFoundError(`service ${name} not found${namespace ? ` in namespace ${namespace}` : ''}; GET /api/v1/dashboard/services lists them`, 'SERVICE_NOT_FOUND');
    const sinceText = url.searchParams.get('since');
    const since = sinceText === null ? -Infinity : Number(sinceText);
    if (sinceText !== null && !Number.isFinite(since)) throw new InvalidRequestError(`since must be a time in milliseconds since the epoch (got ${JSON.stringify(sinceText)}); leave it out for the whole history`, { code: 'INVALID_SINCE' });
    const points = deps.sampler.history.points(`${svc.metadata.namespace}/${svc.metadata.name}`, since).map(pointView);
    return sendJson(res, 200, { namespace: svc.metadata.namespace, name: svc.metadata.name, capacity: deps.sampler.history.capacity, points });
  }
  if (what === 'stream' && name === undefined) return stream(deps, req, res);
  throw new NotFoundError(`no route GET ${url.pathname}; the dashboard's data is at /api/v1/dashboard/services, /api/v1/dashboard/services/{name}/history and /api/v1/dashboard/stream`);
}

/** Each sample's message, built once however many pages stream it. */
const lastMessage = new WeakMap<DashboardDeps, { t: number; text: string }>();

function stream(deps: DashboardDeps, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.write(': karb dashboard stream\n\n');
  const unsubscribe = deps.sampler.onSample((t, points) => {
    let message = lastMessage.get(deps);
    if (message?.t !== t) {
      const items = deps.store.listServices().map((s) => serviceSummary(deps, s, t));
      message = { t, text: `event: sample\ndata: ${JSON.stringify({ t, items, points: Object.fromEntries(points) })}\n\n` };
      lastMessage.set(deps, message);
    }
    res.write(message.text);
  });
  req.on('close', unsubscribe);
}
