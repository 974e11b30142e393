/**
 * The gateway's metrics on a listener of their own. Metrics name every service
 * of every namespace, so they are never served on the port tenants call: an
 * operator scrapes this port, which is bound like the gateway's but can be kept
 * off the public network. It answers `GET /metrics` and nothing else.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen } from '../../util/http.ts';
import type { GatewayMetrics } from './metrics.ts';
import { wantsOpenMetrics } from '../../observability/tracing/openmetrics.ts';

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

export async function startMetricsListener(metrics: GatewayMetrics, port: number, host: string): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no route ${path?.slice(0, 200)}; this listener serves GET /metrics` }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json', allow: 'GET' }).end(JSON.stringify({ error: `${req.method} is not allowed on /metrics; use GET` }));
      return;
    }
    // Exemplars (trace ids) need OpenMetrics; a scraper that does not ask gets the plain text.
    const openMetrics = wantsOpenMetrics(req.headers.accept);
    metrics.render(openMetrics).then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentTypeFor(openMetrics) }).end(text),
      () => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"metrics could not be rendered"}'),
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await listen(server, port, host, 'the gateway metrics listener');
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
