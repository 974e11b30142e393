/**
 * Small helpers for karb's plain `node:http` servers: bounded body reading and
 * JSON answers. Errors become `{ error: { code, message, details } }` here, once;
 * a stack trace never reaches a caller.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { isKarbError, KarbError, PayloadTooLargeError } from '../errors.ts';

/** A server could not start because its port is taken. */
export class PortInUseError extends KarbError {
  constructor(what: string, host: string, port: number, cause: unknown) {
    super('PORT_IN_USE', `${what} cannot listen on ${host}:${port}: the port is already in use; stop what holds it or choose another port`, { status: 409, cause });
  }
}

/** What to tell a user whose server did not start: a PortInUseError says it all; anything else gets the address. */
export function listenFailure(err: unknown, host: string, port: number): string {
  if (err instanceof PortInUseError) return err.message;
  return `cannot listen on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`;
}

/** Starts `server` listening; a taken port rejects with PortInUseError naming `what` could not start. */
export function listen(server: Server, port: number, host: string, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(what, host, port, err) : err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Reads the whole body, failing fast (and stopping the read) once it passes `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new PayloadTooLargeError(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new PayloadTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Maps any error to a JSON error response; unknown errors become a generic 500. */
export function sendError(res: ServerResponse, err: unknown, log?: (record: Record<string, unknown>) => void): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (isKarbError(err)) {
    sendJson(res, err.status, { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } }, err.headers());
    return;
  }
  log?.({ level: 'error', msg: 'unhandled error', error: err instanceof Error ? err.message : String(err) });
  sendJson(res, 500, { error: { code: 'INTERNAL', message: 'internal error; the server logs say more' } });
}
