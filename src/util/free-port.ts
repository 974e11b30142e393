/**
 * A TCP port free on loopback now, for tests and benchmarks that start servers of their own.
 *
 * The port is drawn at random from below the kernel's ephemeral range: a port from inside it
 * (what `listen(0)` hands out) can be taken, between the check and the bind, by any outgoing
 * connection or by a replica karb starts on `listen(0)`. Below the range only another caller
 * of this function can take it, and a random draw makes that unlikely.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const FALLBACK_EPHEMERAL_START = 32768;
const LOWEST = 10000;
const ATTEMPTS = 100;

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const below = ephemeralRangeStart();
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (below - LOWEST));
    if (await canBind(host, port)) return port;
  }
  throw new Error(`no free port on ${host} between ${LOWEST} and ${below - 1} after ${ATTEMPTS} tries`);
}

function ephemeralRangeStart(): number {
  try {
    const start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(start) && start > LOWEST + 1000 ? start : FALLBACK_EPHEMERAL_START;
  } catch {
    return FALLBACK_EPHEMERAL_START;
  }
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
