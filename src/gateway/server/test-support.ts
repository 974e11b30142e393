/**
 * Helpers for the gateway's tests: small real `node:http` servers standing in
 * for replicas, a seeded random source, route builders and a raw HTTP client.
 * Imported only by `*.test.ts` files.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Agent, request } from 'undici';
import type { TestContext } from 'node:test';
import { startGateway, type Gateway, type GatewayOptions } from './gateway.ts';
import { InMemoryRoutingTable, type Route, type RouteRevision } from '../discovery/routing-table.ts';
import { seededRandom as seededGenerator } from '../../util/prng.ts';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface FakeReplica {
  url: string;
  /** Requests fully received, in order. */
  seen: SeenRequest[];
  /** Connections currently open to this replica. */
  openSockets(): number;
  close(): Promise<void>;
}

export type ReplicaHandler = (req: SeenRequest, res: ServerResponse) => void;

/** Answers every request with a small JSON body naming the replica. */
export function answerWithName(name: string): ReplicaHandler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ replica: name }));
  };
}

/** A replica stand-in: reads each request whole, records it, then calls `handler`. */
export async function startReplica(handler: ReplicaHandler): Promise<FakeReplica> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(r);
      handler(r, res);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    openSockets: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A port nothing listens on (bound, then released). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function revision(name: string, weight: number, endpointUrls: string[]): RouteRevision {
  return {
    revision: name,
    weight,
    endpoints: endpointUrls.map((url, i) => ({ replica: `${name}-r${i}`, url })),
  };
}

export function route(model: string, revisions: RouteRevision[]): Route {
  return { model, namespace: 'default', service: model, format: 'oip', revisions };
}

/** A seeded uniform source in [0, 1), as the gateway's `random` option takes it: karb's one generator (src/util/prng.ts). */
export function seededRandom(seed: number): () => number {
  return seededGenerator(seed).next;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text(): string;
  json(): unknown;
}

/** An HTTP client with its own connection pool; `close()` it in `after`. */
export function httpClient(): {
  send(url: string, options?: { method?: string; headers?: Record<string, string>; body?: Buffer | string }): Promise<Reply>;
  close(): Promise<void>;
} {
  const agent = new Agent({ connections: 64 });
  return {
    async send(url, options = {}) {
      const r = await request(url, {
        dispatcher: agent,
        method: (options.method ?? 'GET') as 'GET',
        headers: options.headers,
        body: options.body,
      });
      const body = Buffer.from(await r.body.arrayBuffer());
      return {
        status: r.statusCode,
        headers: r.headers,
        body,
        text: () => body.toString('utf8'),
        json: () => JSON.parse(body.toString('utf8')) as unknown,
      };
    },
    close: () => agent.close(),
  };
}

/** Runs `count` calls of `fn` with at most `concurrency` in flight. */
export async function runConcurrently(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** A gateway on a free port over these routes, closed when the test ends. */
export async function gatewayFor(t: TestContext, routes: Route[], options: Partial<GatewayOptions> = {}) {
  const table = new InMemoryRoutingTable();
  table.replace(routes);
  const gw: Gateway = await startGateway({ routingTable: table, port: 0, ...options });
  t.after(() => gw.close());
  return { gw, table };
}

/** A replica answering with `handler`, closed when the test ends. */
export async function replica(t: TestContext, handler: ReplicaHandler): Promise<FakeReplica> {
  const r = await startReplica(handler);
  t.after(() => r.close());
  return r;
}

/** The value of one labelled series in Prometheus text, 0 when absent. */
export function metricValue(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}
