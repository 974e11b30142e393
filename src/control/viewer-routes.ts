/**
 * The routes a person's tools read besides the dashboard's own data, served alike by karb up's
 * control API (api.ts) and by karb controller's port (kubernetes/controller-server.ts), each
 * behind its own credentials:
 *   GET  /api/v1/events                                 JSON (?since=), or SSE with Accept: text/event-stream
 *   GET  /api/v1/services/{name}/rollout                the current or last rollout and the split
 *   POST /api/v1/services/{name}/rollout/{promote|abort|pause|resume}
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NotFoundError } from '../errors.ts';
import type { RolloutCommand } from '../rollout/types.ts';
import { sendJson } from '../util/http.ts';
import type { EventRecord, Store, StoredService } from './store.ts';
// A client with more than this unsent has stopped reading: its stream is closed, as the dashboard's.
import { STREAM_BUFFER_LIMIT_BYTES } from './dashboard-api.ts';

const ROLLOUT_COMMANDS: readonly RolloutCommand[] = ['promote', 'abort', 'pause', 'resume'];
/** An SSE comment this often keeps proxies from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

/** `command` as a rollout command; NotFoundError naming the four otherwise. */
export function rolloutCommand(command: string): RolloutCommand {
  if (!(ROLLOUT_COMMANDS as readonly string[]).includes(command)) throw new NotFoundError(`no rollout command ${command}; use promote, abort, pause or resume`, 'UNKNOWN_ROLLOUT_COMMAND');
  return command as RolloutCommand;
}

/** A service's rollout as the API shows it: its status.rollout and the traffic split now. */
export function rolloutView(svc: StoredService): Record<string, unknown> {
  return {
    namespace: svc.metadata.namespace,
    service: svc.metadata.name,
    stableRevision: svc.status.stableRevision ?? null,
    latestRevision: svc.status.latestRevision ?? null,
    revisions: svc.status.revisions ?? [],
    rollout: svc.status.rollout ?? null,
  };
}

/** GET /api/v1/events: the events after `?since=` (or Last-Event-ID), as JSON or as a live SSE stream. */
export function serveEvents(store: Store, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const since = Number(url.searchParams.get('since') ?? req.headers['last-event-id'] ?? 0) || 0;
  if (!(req.headers.accept ?? '').includes('text/event-stream')) return sendJson(res, 200, { items: store.listEvents(since) });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  let last = since;
  const write = (e: EventRecord) => {
    if (e.id <= last) return;
    last = e.id;
    if (res.writableLength > STREAM_BUFFER_LIMIT_BYTES) res.destroy();
    else res.write(`id: ${e.id}\nevent: ${e.reason}\ndata: ${JSON.stringify(e)}\n\n`);
  };
  for (const e of store.listEvents(since)) write(e);
  const unsubscribe = store.subscribe(write);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  res.on('close', () => {
    clearInterval(heartbeat);
    unsubscribe();
  });
}
