/**
 * A small real `node:http` server for the load generator's tests: it reads each
 * request whole, records it with its arrival time and the concurrency it saw,
 * then lets the handler answer. Imported only by `*.test.ts` files.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  /** Index in arrival order. */
  index: number;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Requests in progress at the server when this one arrived (itself included). */
  inFlight: number;
}

export interface TestServer {
  url: string;
  received: ReceivedRequest[];
  /** The most requests the server had in progress at once. */
  maxInFlight(): number;
  close(): Promise<void>;
}

export async function startTestServer(handler: (req: ReceivedRequest, res: ServerResponse) => void): Promise<TestServer> {
  const received: ReceivedRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.once('close', () => inFlight--);
      const r: ReceivedRequest = {
        index: received.length,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        inFlight,
      };
      received.push(r);
      handler(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers after `ms` with `status` and a small JSON body. */
export function answerAfter(ms: number, status: (req: ReceivedRequest) => number = () => 200): (req: ReceivedRequest, res: ServerResponse) => void {
  return (req, res) => {
    const timer = setTimeout(() => {
      res.writeHead(status(req), { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    }, ms);
    res.once('close', () => clearTimeout(timer));
  };
}

/** A port nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
