/**
 * Reads a request body whole, as raw bytes, refusing it with 413 as soon as it
 * passes the limit: a declared `content-length` over the limit is refused before
 * reading anything, a streamed body the moment the running count passes it. The
 * rest is read and thrown away (never buffered) so the client, still sending,
 * can read the 413 instead of a reset connection; past `DISCARD_CAP` bytes, or
 * when the body has not ended `DISCARD_WINDOW_MS` after the 413, the connection
 * is cut instead.
 * Buffering the body (never parsing it) lets the proxy send it with a known
 * length and lets later steps replay it to another replica.
 */
import { bodyTooLarge } from '../server/errors.ts';
import type { Exchange, GatewayRequest, GatewayStep } from '../server/exchange.ts';

export function readBody(options: { limitBytes: number }): GatewayStep {
  const limitBytes = options.limitBytes;
  return {
    name: 'read-body',
    run(exchange: Exchange): void {
      const req = exchange.req;
      // Already read when an earlier step needed it (the OpenAI API reads the model from the body).
      if (req.method !== 'POST' || exchange.body !== null) {
        exchange.next();
        return;
      }
      const declared = req.headers['content-length'];
      if (declared !== undefined && Number(declared) > limitBytes) {
        discardRest(req);
        exchange.fail(bodyTooLarge(limitBytes));
        return;
      }
      exchange.bodyLimitBytes = limitBytes;
      req.on('data', onBodyData);
      req.on('end', onBodyEnd);
      // A client that disconnects mid-body makes the request emit 'error';
      // the response's 'close' does the accounting, so nothing else to do.
      req.on('error', ignoreBodyError);
    },
  };
}

function onBodyData(this: GatewayRequest, chunk: Buffer): void {
  const ex = this.exchange;
  if (ex === undefined || ex.settled) return;
  ex.bodyBytes += chunk.length;
  if (ex.bodyBytes > ex.bodyLimitBytes) {
    this.removeListener('data', onBodyData);
    this.removeListener('end', onBodyEnd);
    discardRest(this);
    ex.bodyChunks = null;
    ex.fail(bodyTooLarge(ex.bodyLimitBytes));
    return;
  }
  if (ex.bodyChunks === null) ex.bodyChunks = [chunk];
  else ex.bodyChunks.push(chunk);
}

/** The most a refused body may still send before its connection is cut. */
const DISCARD_CAP = 64 * 1024 * 1024;

const DISCARD_WINDOW_MS = 2000;

function discardRest(req: GatewayRequest): void {
  let discarded = 0;
  const cut = setTimeout(() => req.socket.destroy(), DISCARD_WINDOW_MS);
  cut.unref();
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_CAP) req.socket.destroy();
  });
  req.once('end', () => clearTimeout(cut));
  req.once('close', () => clearTimeout(cut));
  req.resume();
}

const EMPTY = Buffer.alloc(0);

function onBodyEnd(this: GatewayRequest): void {
  const ex = this.exchange;
  if (ex === undefined || ex.settled) return;
  const chunks = ex.bodyChunks;
  ex.bodyChunks = null;
  ex.body = chunks === null ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, ex.bodyBytes);
  ex.next();
}

function ignoreBodyError(): void {}
