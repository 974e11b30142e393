/**
 * A TCP port free on loopback now, for tests and benchmarks that start servers of their own.
 * Another process may take it before it is used; callers that bind it retry or accept that.
 */
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
