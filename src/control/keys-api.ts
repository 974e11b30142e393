/**
 * The admin API for API keys and the routing table, mounted by api.ts under
 * /api/v1 (each path's role already checked against access/route-roles.ts: admin, the routes viewer):
 *   POST   /api/v1/keys              create; the answer holds the key, the only time it is shown
 *   GET    /api/v1/keys              list (no secrets, no hashes)
 *   DELETE /api/v1/keys/{id}         revoke
 *   GET    /api/v1/keys/lookup?id=   one full record (hash, never the secret) for standalone gateways
 *   GET    /api/v1/routes            the gateway routing table, for standalone gateways
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidRequestError, MethodNotAllowedError, NotFoundError } from '../errors.ts';
import { readBody, sendJson } from '../util/http.ts';
import { suggestField } from '../api/validate.ts';
import { KEY_LIFETIME_FORMS, parseKeyLifetime } from '../gateway/edge/keys.ts';
import type { RoutingTable } from '../gateway/discovery/routing-table.ts';
import type { KeyStore } from './key-store.ts';

export interface KeysApiDeps {
  keys: KeyStore;
  routingTable: RoutingTable;
}

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Answers the request if it is one of the paths above; returns false otherwise. */
export async function handleKeysApi(
  deps: KeysApiDeps,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  url: URL,
  resource: string | undefined,
  id: string | undefined,
  rest: string[],
): Promise<boolean> {
  if (resource === 'routes' && id === undefined) {
    allow(method, ['GET']);
    sendJson(res, 200, { items: deps.routingTable.all() });
    return true;
  }
  if (resource !== 'keys' || rest.length > 0) return false;
  if (id === undefined) {
    if (method === 'GET') {
      sendJson(res, 200, { items: deps.keys.list() });
      return true;
    }
    allow(method, ['GET', 'POST']);
    const input = parseCreate(await readBody(req, 64 * 1024));
    const created = deps.keys.create(input);
    sendJson(res, 201, created, { 'cache-control': 'no-store' });
    return true;
  }
  if (id === 'lookup') {
    allow(method, ['GET']);
    const wanted = url.searchParams.get('id') ?? '';
    const record = deps.keys.get(wanted);
    if (record === undefined) throw new NotFoundError(`no API key with id ${wanted.slice(0, 40)}`, 'KEY_NOT_FOUND');
    sendJson(res, 200, record, { 'cache-control': 'no-store' });
    return true;
  }
  allow(method, ['DELETE']);
  sendJson(res, 200, { revoked: deps.keys.revoke(id) });
  return true;
}

function parseCreate(body: Buffer): Parameters<KeyStore['create']>[0] {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
  } catch {
    throw new InvalidRequestError('key request body must be JSON: {"namespace": "...", "services": [...], "rps": N, "expires": "30d", "name": "..."}');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new InvalidRequestError('key request body must be a JSON object');
  refuseUnknownFields(raw);
  const { namespace, services, rps, burst, expires, name } = raw;
  if (typeof namespace !== 'string' || !NAME.test(namespace)) throw new InvalidRequestError('namespace: required, a DNS label such as default');
  if (services !== undefined && services !== null && (!Array.isArray(services) || services.length === 0 || !services.every((s) => typeof s === 'string' && NAME.test(s)))) {
    throw new InvalidRequestError('services: a non-empty list of service names (DNS labels), or absent for every service of the namespace');
  }
  for (const [field, v] of [['rps', rps], ['burst', burst]] as const) {
    if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) throw new InvalidRequestError(`${field}: a number greater than 0`);
  }
  if (burst !== undefined && burst !== null && (rps === undefined || rps === null)) throw new InvalidRequestError('burst: only together with rps');
  if (burst !== undefined && burst !== null && (burst as number) < 1) throw new InvalidRequestError('burst: at least 1');
  let lifetimeMs: number | null = null;
  if (expires !== undefined && expires !== null) {
    const ms = typeof expires === 'string' ? parseKeyLifetime(expires) : undefined;
    if (ms === undefined) throw new InvalidRequestError(`expires: ${KEY_LIFETIME_FORMS} (got ${JSON.stringify(expires).slice(0, 40)})`);
    lifetimeMs = ms;
  }
  if (name !== undefined && (typeof name !== 'string' || name.length > 100)) throw new InvalidRequestError('name: a label of at most 100 characters');
  return {
    namespace,
    services: (services as string[] | undefined) ?? null,
    rps: (rps as number | undefined) ?? null,
    burst: (burst as number | undefined) ?? null,
    lifetimeMs,
    ...(name !== undefined ? { name: name as string } : {}),
  };
}

const CREATE_FIELDS = ['namespace', 'services', 'rps', 'burst', 'expires', 'name'];

/**
 * A field the API does not take is refused, not ignored: `expiresAt` ignored
 * would make a key that never expires while its creator thinks it does.
 */
function refuseUnknownFields(raw: Record<string, unknown>): void {
  for (const field of Object.keys(raw)) {
    if (CREATE_FIELDS.includes(field)) continue;
    const hint = suggestField(field, CREATE_FIELDS);
    throw new InvalidRequestError(`unknown field '${field.slice(0, 40)}'${hint ? ` (did you mean '${hint}'?)` : ''}; a key request takes ${CREATE_FIELDS.join(', ')}`);
  }
}

/** A 405 with an `Allow` header unless `method` is one of `allowed`. */
function allow(method: string, allowed: string[]): void {
  if (!allowed.includes(method)) throw new MethodNotAllowedError(method, 'this path', allowed.join(', '));
}
