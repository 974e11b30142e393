/**
 * The controller's own HTTP port (8081): what the kubelet probes and what karb's gateways call.
 *   GET  /healthz                               alive
 *   GET  /readyz                                200 only while this controller leads, so the
 *                                               Service karb-controller sends gateways to the leader
 *   POST /api/v1/signals                        a gateway's report of what it routed (the autoscaler's
 *                                               and rollout analysis's signals, as with karb up)
 *   POST /api/v1/services/{name}/activate?namespace=NS
 *                                               a gateway holds a request for a service at zero
 * Callers of /api/v1 prove who they are with their service-account token, reviewed by the API
 * server (token-review.ts); only karb's gateway account is let in.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NotFoundError, UnavailableError, MethodNotAllowedError } from '../../errors.ts';
import { parseSignalReport, SIGNAL_REPORT_LIMIT_BYTES, type SignalReport } from '../../observability/signal-report.ts';
import { listen, readBody, sendError, sendJson } from '../../util/http.ts';
import { ForbiddenCallerError, type TokenReviewer } from './token-review.ts';


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
    const parts = url.pathname.split('/').filter(Boolean);
    const signals = parts.length === 3 && parts[2] === 'signals';
    const activate = parts.length === 5 && parts[2] === 'services' && parts[4] === 'activate';
    if (parts[0] !== 'api' || parts[1] !== 'v1' || !(signals || activate)) throw new NotFoundError(`no route ${url.pathname}; gateways call POST /api/v1/signals and POST /api/v1/services/{name}/activate`);
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
