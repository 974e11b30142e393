/**
 * karb controller's custom metrics API port (`--metrics-api-port`, 6443 in its pod): HTTPS for the
 * APIService `v1beta2.custom.metrics.k8s.io`, through which kube-apiserver's aggregation layer
 * proxies requests to it, as it does to prometheus-adapter. Each request is checked as an
 * aggregated API server checks it:
 *   1. authentication: the connection's client certificate is the API server's front-proxy
 *      certificate (request-header.ts), and the user it proxies for is in its headers; else 401;
 *   2. authorization: a SubjectAccessReview (access-review.ts) for that user — verb get on
 *      `inferenceservices.karb.dev/<metric>` in group custom.metrics.k8s.io, or get on the
 *      discovery path — so the cluster's RBAC decides; else 403;
 *   3. the answer (custom-metrics.ts); a standby controller, whose hub hears no gateway, answers
 *      metrics with 503.
 * Every error is a Kubernetes `Status` object. The serving certificate and key are files (a
 * Secret mounted in the pod, made by whoever made the CA that the APIService's caBundle holds:
 * `karb install --metrics-api-ca`); `reload` rereads them and the request-header CA.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { KarbError } from '../../errors.ts';
import { listen } from '../../util/http.ts';
import type { Clock } from '../../util/clock.ts';
import { accessFor, answerCustomMetrics, kubeStatus, parseCustomMetricsRequest, type AccessAttributes, type CustomMetricsSource } from './custom-metrics.ts';
import { proxyCertificateProblem, remoteUser, type RemoteUser, type RequestHeaderConfig } from './request-header.ts';
import type { AccessDecision } from './access-review.ts';

export interface CustomMetricsServerOptions {
  port: number;
  host?: string;
  certFile: string;
  keyFile: string;
  /** The API server's request-header settings (read again on `reload`). */
  requestHeader: () => Promise<RequestHeaderConfig>;
  authorize(user: RemoteUser, access: AccessAttributes): Promise<AccessDecision>;
  source: CustomMetricsSource;
  /** Leading: its hub holds the gateways' signals. */
  ready(): boolean;
  clock: Clock;
  log?: (record: Record<string, unknown>) => void;
}

export interface CustomMetricsServer {
  url: string;
  port: number;
  /** Rereads the certificate, key and request-header CA (a rotated Secret or CA). */
  reload(): Promise<void>;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The API server's words for a refusal, so `kubectl get --raw` shows what it would for a built-in resource. */
function forbidden(user: RemoteUser, access: AccessAttributes, reason: string | undefined): string {
  const why = reason ? `: ${reason}` : '';
  if ('nonResource' in access) return `forbidden: User "${user.name}" cannot get path "${access.nonResource.path}"${why}`;
  const r = access.resource;
  const target = r.name ? `${r.resource}.${r.group} "${r.name}"` : `${r.resource}.${r.group}`;
  return `${target} is forbidden: User "${user.name}" cannot ${r.verb} resource "${r.resource}/${r.subresource}" in API group "${r.group}" in the namespace "${r.namespace}"${why}`;
}

export async function startCustomMetricsServer(o: CustomMetricsServerOptions): Promise<CustomMetricsServer> {
  const host = o.host ?? '0.0.0.0';
  let requestHeader = await o.requestHeader();
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new KarbError('METRICS_API_TLS', `cannot read the custom metrics API's ${what} ${file}: ${(err as Error).message}`, { status: 400, cause: err });
    }
  };
  const context = async () => ({ cert: await read(o.certFile, 'certificate'), key: await read(o.keyFile, 'key'), ca: requestHeader.clientCa });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const socket = req.socket as TLSSocket;
    const config = requestHeader;
    const problem = proxyCertificateProblem(socket.authorized, socket.getPeerCertificate(), config);
    const user = problem === undefined ? remoteUser(req.headersDistinct, config) : undefined;
    if (user === undefined) return send(res, 401, kubeStatus(401, `Unauthorized: ${problem ?? `no user in ${config.usernameHeaders.join(', ') || 'the username headers'}`}`));
    const url = new URL(req.url ?? '/', 'https://localhost');
    const request = parseCustomMetricsRequest(req.method ?? 'GET', url.pathname, url.searchParams);
    const access = accessFor(request);
    if (access !== undefined) {
      const decision = await o.authorize(user, access);
      if (!decision.allowed) return send(res, 403, kubeStatus(403, forbidden(user, access, decision.reason)));
    }
    if (request.kind === 'metric' && !o.ready()) {
      return send(res, 503, kubeStatus(503, 'this karb controller is on standby; the one that leads serves metrics (the Service karb-controller routes to it)'));
    }
    const { status, body } = answerCustomMetrics(request, o.source, o.clock.now());
    send(res, status, body);
  };

  const server: Server = createServer({ ...(await context()), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log?.({ level: 'error', msg: 'custom metrics request failed', path: req.url, error: err instanceof Error ? err.message : String(err) });
      if (res.headersSent) res.destroy();
      else send(res, 500, kubeStatus(500, `karb could not answer: ${err instanceof Error ? err.message : String(err)}`));
    });
  });
  await listen(server, o.port, host, 'the custom metrics API');
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    port,
    async reload() {
      requestHeader = await o.requestHeader();
      server.setSecureContext(await context());
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
