/**
 * How many client connections the gateway holds and for how long a client may
 * take to send its request. Without a cap, thousands of idle or slow
 * connections used up the process's file descriptors: proxied requests and the
 * replicas' readiness probes then failed with EMFILE. With it, the connection
 * past the cap is closed the moment it arrives (counted in
 * `karb_gateway_connections_dropped_total`), and half of what remains below the
 * file limit stays free for the upstream connection each client request may
 * need, probes, databases and logs.
 *
 * Slow clients are cut like nginx and Envoy cut them: headers within
 * `headersTimeoutMs`, the whole request (headers and body) within
 * `requestTimeoutMs`, checked every second; the client gets 408. Time spent
 * waiting for the replica's answer is not counted: only receiving the request.
 */
import type { Server } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import { openFileLimit } from '../../util/fd-limit.ts';
import type { Clock } from '../../util/clock.ts';
import type { Log } from '../../util/log.ts';

export interface ConnectionLimits {
  /** Most client connections open at once; past it new ones are closed on arrival. Default: from the file limit (`defaultMaxConnections`). */
  maxConnections?: number;
  /** A client must send its request headers within this. Default 10 s. */
  headersTimeoutMs?: number;
  /** A client must send its whole request (headers and body) within this. Default 60 s. */
  requestTimeoutMs?: number;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** How often Node checks the two timeouts; its own default (30 s) let a slow client overstay by that much. */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** Descriptors kept for everything that is not a connection: databases, logs, the control API, probes. */
const FIXED_RESERVE = 256;
/** The cap where the file limit cannot be read. */
const FALLBACK_MAX_CONNECTIONS = 4096;

/**
 * Half of the file limit past a fixed reserve: every client connection may
 * have one request in flight, and that request one upstream connection.
 * 20,000 descriptors → 9,872 connections; 1,024 → 384.
 */
export function defaultMaxConnections(fileLimit: number | undefined): number {
  if (fileLimit === undefined) return FALLBACK_MAX_CONNECTIONS;
  if (fileLimit === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  return Math.max(32, Math.floor((fileLimit - FIXED_RESERVE) / 2));
}

/** Node server options for the timeouts; they must be given when the server is created. */
export function serverTimeouts(limits: ConnectionLimits): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  const headersTimeout = limits.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  // Node requires requestTimeout ≥ headersTimeout when both are set.
  const requestTimeout = Math.max(headersTimeout, limits.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  return { headersTimeout, requestTimeout, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS };
}

/** Sets the cap on `server`, counts the connections it drops and logs them at most once every 5 s. */
export function capConnections(server: Server, limits: ConnectionLimits, deps: { registry: Registry; clock: Clock; log?: Log | undefined }): number {
  const max = limits.maxConnections ?? defaultMaxConnections(openFileLimit());
  server.maxConnections = max;
  const dropped = new Counter({
    name: 'karb_gateway_connections_dropped_total',
    help: 'Client connections closed on arrival because the gateway held its maximum',
    registers: [deps.registry],
  });
  let lastLogAt = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  server.on('drop', () => {
    dropped.inc();
    unlogged++;
    const now = deps.clock.now();
    if (deps.log === undefined || now - lastLogAt < 5_000) return;
    deps.log({ time: new Date(now).toISOString(), level: 'warn', msg: 'connection limit reached; closing new connections', maxConnections: max, dropped: unlogged });
    lastLogAt = now;
    unlogged = 0;
  });
  return max;
}
