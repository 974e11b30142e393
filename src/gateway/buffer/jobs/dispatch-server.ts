/**
 * The worker's way into the router: a loopback-only HTTP server in the gateway
 * process running the routing half of the pipeline (model resolution, the
 * router with its retries, budget and backpressure, the proxy). Edge checks
 * (keys, scopes, rate limits) ran when the job was accepted; here a random
 * per-process token admits only the worker. Retries happen once, in the router;
 * the worker itself never retries an answered request.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { Exchange, GatewayRequest, type ExchangeContext, type GatewayResponse } from '../../server/exchange.ts';
import { DISPATCH_TOKEN_HEADER } from './steps.ts';
import type { Job } from './types.ts';
import { listen } from '../../../util/http.ts';

export interface DispatchAnswer {
  status: number;
  contentType: string;
  body: Buffer;
  /** Seconds from the answer's Retry-After, when present. */
  retryAfterSeconds: number | undefined;
}

export interface DispatchServer {
  /** Sent with every dispatch; `requireDispatchToken` checks it. */
  readonly token: string;
  /** Sends one job through the routing pipeline and reads the whole answer. */
  dispatch(job: Job): Promise<DispatchAnswer>;
  close(): Promise<void>;
}

export function newDispatchToken(): string {
  return randomBytes(32).toString('base64url');
}

export async function startDispatchServer(ctx: ExchangeContext, token: string, connections: number): Promise<DispatchServer> {
  const onRequest = (req: GatewayRequest, res: GatewayResponse): void => {
    const exchange = new Exchange(req, res, ctx);
    req.exchange = exchange;
    res.on('close', onResponseClose);
    exchange.next();
  };
  const server = createServer<typeof GatewayRequest, typeof ServerResponse<GatewayRequest>>({ IncomingMessage: GatewayRequest }, onRequest);
  await listen(server, 0, '127.0.0.1', 'the async-job dispatcher');
  const port = (server.address() as AddressInfo).port;
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, keepAliveTimeout: 4_000 });
  return {
    token,
    async dispatch(job: Job): Promise<DispatchAnswer> {
      const res = await pool.request({
        path: job.path,
        method: 'POST',
        headers: { 'content-type': job.contentType, [DISPATCH_TOKEN_HEADER]: token, 'x-request-id': `job-${job.id}` },
        body: job.body,
      });
      const body = Buffer.from(await res.body.arrayBuffer());
      const type = res.headers['content-type'];
      const retryAfter = Number(res.headers['retry-after']);
      return {
        status: res.statusCode,
        contentType: typeof type === 'string' ? type : 'application/octet-stream',
        body,
        retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      };
    },
    async close(): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await Promise.all([closed, pool.destroy().catch(() => {})]);
    },
  };
}

function onResponseClose(this: GatewayResponse): void {
  this.req.exchange?.finish();
}
