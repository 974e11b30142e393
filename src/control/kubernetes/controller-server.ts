/**
 * The controller's own HTTP port (8081): what the kubelet probes and what karb's gateways call.
 *   GET  /healthz                               alive
 *   GET  /readyz                                200 only while this controller leads, so the
 *                                               Service karb-controller sends gateways to the leader
 *   POST /api/v1/signals                        a gateway's report of what it routed (the autoscaler's
 *                                               and rollout analysis's signals, as with karb up)
 *   POST /api/v1/services/{name}/activate?namespace=NS
 *                                               a gateway holds a request for a service at zero
 * and, with `viewers`, what people read (the same paths as karb up's control API):
 *   GET  /, /dashboard/*                        the dashboard's page (open: it holds no data)
 *   GET  /api/v1/dashboard/...                  its data (../dashboard-api.ts)
 *   GET  /api/v1/events                         karb's events, JSON or SSE (../viewer-routes.ts)
 *   GET  /api/v1/services/{name}/rollout?namespace=NS
 *   POST /api/v1/services/{name}/rollout/{promote|abort|pause|resume}?namespace=NS
 * Callers of /api/v1 prove who they are with a Kubernetes bearer token, reviewed by the API
 * server (token-review.ts). The gateways' routes let in only karb's gateway account; the
 * viewers' routes ask the API server whether the caller may `get` InferenceServices (in every
 * namespace, as the dashboard shows them all), or `patch` the one service for a rollout command
 * (a SubjectAccessReview, access-review.ts), so the cluster's RBAC decides who sees and steers.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NotFoundError, UnavailableError, MethodNotAllowedError } from '../../errors.ts';
import { parseSignalReport, SIGNAL_REPORT_LIMIT_BYTES, type SignalReport } from '../../observability/signal-report.ts';
import { listen, readBody, sendError, sendJson } from '../../util/http.ts';
import { ForbiddenCallerError, type TokenReviewer } from './token-review.ts';
import { KarbError } from '../../errors.ts';
import { handleDashboardApi, serveDashboard, type DashboardDeps } from '../dashboard-api.ts';
import { rolloutCommand, rolloutView, serveEvents } from '../viewer-routes.ts';
import type { Store, StoredService } from '../store.ts';
import type { RolloutCommand } from '../../rollout/types.ts';
import type { RemoteUser } from './request-header.ts';

/** What people read and steer through the controller's port (see the header). */
export interface ViewerAccess {
  dashboard: DashboardDeps;
  store: Store;
  /** Whether RBAC lets `user` do `verb` on InferenceServices in `namespace` ('' = every namespace). */
  may(user: RemoteUser, verb: 'get' | 'patch', namespace: string): Promise<boolean>;
  /** Moves the service's rollout along (promote, abort, pause, resume) and asks for a pass. */
  command(service: StoredService, command: RolloutCommand): Promise<void>;
}

export class ForbiddenViewerError extends KarbError {
  constructor(user: string, verb: string, namespace: string) {
    const where = namespace === '' ? 'in every namespace' : `in namespace ${namespace}`;
    super('FORBIDDEN', `${user} may not ${verb} inferenceservices.karb.dev ${where}; grant it with a Role or ClusterRole and binding (kubectl create clusterrole karb-viewer --verb=get,list,watch --resource=inferenceservices.karb.dev)`, { status: 403 });
  }
}


export interface ControllerServerOptions {
  port: number;
  host?: string;
  /** Leading and past its first pass: gateways' reports count here. */
  ready(): boolean;
  reviewer: TokenReviewer;
  /** The users allowed to call /api/v1 (the gateway's service account). */
  callers: string[];
  onSignals(report: SignalReport): void;
  /** False when there is no such service. */
  onActivate(namespace: string, service: string): boolean;
  /** The dashboard and the routes people read; absent: none are served. */
  viewers?: ViewerAccess;
  log?: (record: Record<string, unknown>) => void;
}

export interface ControllerServer {
  url: string;
  close(): Promise<void>;
}

export async function startControllerServer(o: ControllerServerOptions): Promise<ControllerServer> {
  const host = o.host ?? '0.0.0.0';
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (url.pathname === '/readyz') return o.ready() ? sendJson(res, 200, { status: 'ok' }) : sendJson(res, 503, { status: 'standby' });
    if (o.viewers && serveDashboard(res, method, url.pathname)) return;
    const parts = url.pathname.split('/').filter(Boolean);
    if (o.viewers && parts[0] === 'api' && parts[1] === 'v1' && (parts[2] === 'dashboard' || parts[2] === 'events' || (parts[2] === 'services' && parts[4] === 'rollout'))) {
      return serveViewer(o.viewers, req, res, method, url, parts);
    }
    const signals = parts.length === 3 && parts[2] === 'signals';
    const activate = parts.length === 5 && parts[2] === 'services' && parts[4] === 'activate';
    if (parts[0] !== 'api' || parts[1] !== 'v1' || !(signals || activate)) throw new NotFoundError(`no route ${url.pathname}; gateways call POST /api/v1/signals and POST /api/v1/services/{name}/activate${o.viewers ? ', people read the dashboard at /' : ''}`);
    if (method !== 'POST') throw new MethodNotAllowedError(method, url.pathname, 'POST');
    const user = await o.reviewer.username(req.headers.authorization);
    if (!o.callers.includes(user)) throw new ForbiddenCallerError(user, o.callers);
    // A standby's hub feeds nothing: say so, so a gateway pointed at one by address learns why.
    if (!o.ready()) throw new UnavailableError('this controller is on standby; report to the one that leads (the Service karb-controller routes to it)', { code: 'NOT_LEADER', retryAfterSeconds: 1 });
    if (signals) {
      o.onSignals(parseSignalReport((await readBody(req, SIGNAL_REPORT_LIMIT_BYTES)).toString('utf8')));
    } else {
      const name = decodeURIComponent(parts[3]!);
      const namespace = url.searchParams.get('namespace') ?? 'default';
      if (!o.onActivate(namespace, name)) throw new NotFoundError(`service ${namespace}/${name} not found`, 'SERVICE_NOT_FOUND');
    }
    res.writeHead(204).end();
  };
  const serveViewer = async (v: ViewerAccess, req: IncomingMessage, res: ServerResponse, method: string, url: URL, parts: string[]): Promise<void> => {
    const user = await o.reviewer.user(req.headers.authorization);
    const [, , resource, name, , command, ...extra] = parts;
    const namespace = url.searchParams.get('namespace') ?? 'default';
    if (resource === 'services' && command !== undefined) {
      if (method !== 'POST') throw new MethodNotAllowedError(method, url.pathname, 'POST');
      if (extra.length > 0) throw new NotFoundError(`no route ${url.pathname}`);
      if (!(await v.may(user, 'patch', namespace))) throw new ForbiddenViewerError(user.name, 'patch', namespace);
    } else {
      if (method !== 'GET') throw new MethodNotAllowedError(method, url.pathname, 'GET');
      if (!(await v.may(user, 'get', resource === 'services' ? namespace : ''))) throw new ForbiddenViewerError(user.name, 'get', resource === 'services' ? namespace : '');
    }
    // A standby has no history, no events of its own and moves no rollout.
    if (!o.ready()) throw new UnavailableError('this controller is on standby; the Service karb-controller routes to the one that leads', { code: 'NOT_LEADER', retryAfterSeconds: 1 });
    if (resource === 'dashboard') return handleDashboardApi(v.dashboard, req, res, method, url, parts.slice(3));
    if (resource === 'events') return serveEvents(v.store, req, res, url);
    const service = v.store.getService(namespace, decodeURIComponent(name!));
    if (service === undefined) throw new NotFoundError(`service ${namespace}/${decodeURIComponent(name!)} not found`, 'SERVICE_NOT_FOUND');
    if (command !== undefined) await v.command(service, rolloutCommand(command));
    return sendJson(res, 200, rolloutView(v.store.getService(namespace, service.metadata.name) ?? service));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => sendError(res, err, o.log));
  });
  await listen(server, o.port, host, 'the controller’s HTTP port');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
