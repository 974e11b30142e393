/**
 * The dashboard's data, under /api/v1/dashboard (a viewer's token or more, as access/route-roles.ts says):
 *   GET /api/v1/dashboard/services                        every service with its SLO status, replicas, split, policy, rollout
 *   GET /api/v1/dashboard/services/{name}/history?since=  the service's points (history.ts) after `since` (ms), oldest first
 *   GET /api/v1/dashboard/stream                          SSE: `sample` each second with every summary and each service's new point
 * And the page itself at `/` and `/dashboard/*` (src/dashboard/assets.ts), open: it holds no data and no secret.
 *
 * Streams are bounded: at most `maxStreams` (32) at once, the next refused with 503 until one
 * closes; a client that stops reading is dropped (its connection destroyed, its subscription
 * removed, a warning logged) once more than `streamBufferBytes` (1 MiB) wait unsent for it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidRequestError, MethodNotAllowedError, NotFoundError, UnavailableError } from '../errors.ts';
import { sendJson } from '../util/http.ts';
import { pointView } from '../observability/history.ts';
import { sloStatus, type SloStatus } from '../observability/slo-status.ts';
import { DASHBOARD_HEADERS, dashboardAsset, isDashboardPath } from '../dashboard/assets.ts';
import type { Clock } from '../util/clock.ts';
import type { HistorySampler } from './history-sampler.ts';
import type { Store, StoredService } from './store.ts';
import type { Log } from '../util/log.ts';
import type { DriftReading } from './drift-watch.ts';

export interface DashboardDeps {
  store: Store;
  sampler: HistorySampler;
  clock: Clock;
  /** A service's last drift reading (drift-watch.ts); absent or undefined: not measured. */
  drift?: (namespace: string, name: string) => DriftReading | undefined;
  /** Where a dropped stream is told. */
  log?: Log;
  /** Streams open at once (default STREAM_LIMIT). */
  maxStreams?: number;
  /** Bytes a stream may leave unsent before it is dropped (default STREAM_BUFFER_LIMIT_BYTES). */
  streamBufferBytes?: number;
}

/** Dashboard streams served at once: a tab holds one. */
export const STREAM_LIMIT = 32;
/** A stream with more than this waiting unsent has a client that stopped reading (one that reads takes each sample within the second). */
export const STREAM_BUFFER_LIMIT_BYTES = 1 << 20;

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
  drift: DriftSummary | null;
}

/** A service's drift as the dashboard shows it: the verdict, and each watched column at its worst replica. */
export interface DriftSummary {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  threshold: number;
  /** Inputs first, then outputs; PSI and KS are the highest any replica reports (null: none yet). */
  columns: Array<{ name: string; side: 'input' | 'output'; psi: number | null; ks: number | null }>;
}

/** The worst of each column across the replicas that monitor; the verdict as the drift watch judged it. */
export function driftSummary(reading: DriftReading): DriftSummary {
  const columns = new Map<string, DriftSummary['columns'][number]>();
  const worst = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
  for (const { report } of reading.replicas) {
    if (report?.state !== 'monitoring') continue;
    for (const [side, list] of [['input', report.inputs], ['output', report.outputs]] as const) {
      for (const c of list) {
        const k = `${side}:${c.name}`;
        const seen = columns.get(k);
        columns.set(k, { name: c.name, side, psi: worst(seen?.psi ?? null, c.psi), ks: worst(seen?.ks ?? null, c.ks) });
      }
    }
  }
  const { status, reason, message } = reading.verdict;
  return { status, reason, message, threshold: reading.threshold, columns: [...columns.values()] };
}

/** A service as the dashboard's table and page show it, at `now`. */
export function serviceSummary(deps: DashboardDeps, svc: StoredService, now: number): ServiceSummary {
  const { namespace, name } = svc.metadata;
  const { history } = deps.sampler;
  const key = `${namespace}/${name}`;
  const points = history.points(key);
  const last = points[points.length - 1];
  const revisions = svc.status.revisions ?? [];
  const decision = deps.store.getAutoscaler(namespace, name);
  const status = sloStatus(points, svc.spec.slo, now);
  if (history.refuses(key)) status.message = `no history kept: the dashboard keeps the history of at most ${history.maxServices} services`;
  return {
    namespace,
    name,
    generation: svc.metadata.generation,
    policy: svc.spec.scaling.policy,
    slo: svc.spec.slo,
    sloStatus: status,
    replicas: { ready: last?.ready ?? revisions.reduce((n, r) => n + r.ready, 0), desired: revisions.reduce((n, r) => n + r.desired, 0), min: svc.spec.scaling.minReplicas, max: svc.spec.scaling.maxReplicas },
    revisions,
    stableRevision: svc.status.stableRevision ?? null,
    latestRevision: svc.status.latestRevision ?? null,
    rolloutSpec: svc.spec.rollout,
    rollout: svc.status.rollout ?? null,
    autoscaler: decision ? { desiredReplicas: decision.desiredReplicas, reason: decision.reason, message: decision.message, panic: decision.panic, decidedAt: decision.decidedAt } : null,
    conditions: svc.status.conditions ?? [],
    drift: (() => {
      const reading = deps.drift?.(namespace, name);
      return reading === undefined ? null : driftSummary(reading);
    })(),
  };
}

/** Serves the page and its files (404 for another path under /dashboard/); false when `pathname` is not the dashboard's. */
export function serveDashboard(res: ServerResponse, method: string, pathname: string): boolean {
  if (!isDashboardPath(pathname)) return false;
  if (method !== 'GET' && method !== 'HEAD') throw new MethodNotAllowedError(method, pathname, 'GET, HEAD');
  const asset = dashboardAsset(pathname);
  if (asset === undefined) throw new NotFoundError(`no dashboard file ${pathname}; the dashboard is at /`, 'DASHBOARD_FILE_NOT_FOUND');
  res.writeHead(200, { ...DASHBOARD_HEADERS, 'content-type': asset.contentType, 'content-length': String(asset.body.length) });
  res.end(method === 'HEAD' ? undefined : asset.body);
  return true;
}

/** Answers /api/v1/dashboard/...; `rest` is the path after `dashboard`. */
export function handleDashboardApi(deps: DashboardDeps, req: IncomingMessage, res: ServerResponse, method: string, url: URL, rest: string[]): void {
  if (method !== 'GET') throw new MethodNotAllowedError(method, url.pathname, 'GET');
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
    const { fullResolutionMs, rollupMs, spanMs } = deps.sampler.history;
    return sendJson(res, 200, { namespace: svc.metadata.namespace, name: svc.metadata.name, fullResolutionMs, rollupMs, spanMs, points });
  }
  if (what === 'stream' && name === undefined) return stream(deps, req, res);
  throw new NotFoundError(`no route GET ${url.pathname}; the dashboard's data is at /api/v1/dashboard/services, /api/v1/dashboard/services/{name}/history and /api/v1/dashboard/stream`);
}

/** Each sample's message, built once however many pages stream it. */
const lastMessage = new WeakMap<DashboardDeps, { t: number; text: string }>();
/** The streams open on each control plane. */
const openStreams = new WeakMap<DashboardDeps, Set<ServerResponse>>();

function stream(deps: DashboardDeps, req: IncomingMessage, res: ServerResponse): void {
  let open = openStreams.get(deps);
  if (open === undefined) openStreams.set(deps, (open = new Set()));
  const max = deps.maxStreams ?? STREAM_LIMIT;
  if (open.size >= max) {
    throw new UnavailableError(`${open.size} dashboard streams are open, the most this control plane serves at once (${max}); close a dashboard tab (each holds one stream) or try again later`, {
      code: 'TOO_MANY_STREAMS',
      retryAfterSeconds: 5,
    });
  }
  const limit = deps.streamBufferBytes ?? STREAM_BUFFER_LIMIT_BYTES;
  open.add(res);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.write(': karb dashboard stream\n\n');
  const unsubscribe = deps.sampler.onSample((t, points) => {
    // What the client has not taken yet (in this response and its socket): past the limit it stopped reading.
    if (res.writableLength > limit) {
      deps.log?.({ level: 'warn', msg: 'dashboard stream dropped', reason: 'the client stopped reading', unsentBytes: res.writableLength, limitBytes: limit, client: req.socket.remoteAddress });
      closed();
      res.destroy();
      return;
    }
    let message = lastMessage.get(deps);
    if (message?.t !== t) {
      const items = deps.store.listServices().map((s) => serviceSummary(deps, s, t));
      message = { t, text: `event: sample\ndata: ${JSON.stringify({ t, items, points: Object.fromEntries(points) })}\n\n` };
      lastMessage.set(deps, message);
    }
    res.write(message.text);
  });
  const closed = () => {
    unsubscribe();
    open.delete(res);
  };
  res.on('close', closed);
}
