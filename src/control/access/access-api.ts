/**
 * People's access tokens and the audit log, mounted by api.ts under /api/v1 (admin only, as
 * route-roles.ts says; the caller already checked):
 *   POST   /api/v1/tokens            create {"name","role"}; the answer holds the token, the only time it is shown
 *   GET    /api/v1/tokens            list (name, role, created, last used; never a token or hash)
 *   DELETE /api/v1/tokens/{name}     revoke
 *   GET    /api/v1/audit             the newest audit records, newest first (?limit=, default 100)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidRequestError } from '../../errors.ts';
import { readBody, sendJson } from '../../util/http.ts';
import { suggestField } from '../../api/validate.ts';
import type { AuditLog } from './audit-log.ts';
import { isRole, ROLES } from './roles.ts';
import type { TokenStore } from './token-store.ts';

export interface AccessDeps {
  tokens: TokenStore;
  audit: AuditLog;
}

export const AUDIT_DEFAULT_LIMIT = 100;
const CREATE_FIELDS = ['name', 'role'];

/** Answers the request if it is one of the paths above; returns false otherwise. */
export async function handleAccessApi(deps: AccessDeps, req: IncomingMessage, res: ServerResponse, method: string, url: URL, resource: string | undefined, name: string | undefined, rest: string[]): Promise<boolean> {
  if (rest.length > 0) return false;
  if (resource === 'audit' && name === undefined) {
    sendJson(res, 200, { kept: deps.audit.keep, items: deps.audit.list(auditLimit(url.searchParams.get('limit'), deps.audit.keep)) }, { 'cache-control': 'no-store' });
    return true;
  }
  if (resource !== 'tokens') return false;
  if (name !== undefined) {
    sendJson(res, 200, { revoked: deps.tokens.revoke(name) });
    return true;
  }
  if (method === 'GET') {
    sendJson(res, 200, { items: deps.tokens.list() });
    return true;
  }
  const input = parseCreate(await readBody(req, 4096));
  sendJson(res, 201, deps.tokens.create(input.name, input.role), { 'cache-control': 'no-store' });
  return true;
}

/** `?limit=` as a count of records, 1 to `max`. */
export function auditLimit(raw: string | null, max: number): number {
  if (raw === null) return AUDIT_DEFAULT_LIMIT;
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= max)) throw new InvalidRequestError(`limit must be a whole number from 1 to ${max} (got ${JSON.stringify(raw.slice(0, 40))}); leave it out for the newest ${AUDIT_DEFAULT_LIMIT}`, { code: 'INVALID_LIMIT' });
  return n;
}

function parseCreate(body: Buffer): { name: string; role: (typeof ROLES)[number] } {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8') || '{}');
  } catch {
    throw new InvalidRequestError('token request body must be JSON: {"name": "alice", "role": "viewer"}');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new InvalidRequestError('token request body must be a JSON object: {"name": "alice", "role": "viewer"}');
  const fields = raw as Record<string, unknown>;
  for (const field of Object.keys(fields)) {
    if (CREATE_FIELDS.includes(field)) continue;
    const hint = suggestField(field, CREATE_FIELDS);
    throw new InvalidRequestError(`unknown field '${field.slice(0, 40)}'${hint ? ` (did you mean '${hint}'?)` : ''}; a token request takes name and role`);
  }
  if (typeof fields.name !== 'string') throw new InvalidRequestError('name: required, the name the token is listed, revoked and audited by (such as alice)', { code: 'INVALID_TOKEN_NAME' });
  if (!isRole(fields.role)) throw new InvalidRequestError(`role: required, one of ${ROLES.join(', ')}`, { code: 'INVALID_ROLE' });
  return { name: fields.name, role: fields.role };
}
