/**
 * Who is calling karb up's control plane, and whether their role may make the call: the
 * admin-token file's token is `admin` (role admin), so everything that held it keeps working;
 * any other bearer token is looked up in the token store by its hash. The route's least role
 * comes from route-roles.ts.
 */
import { KarbError } from '../../errors.ts';
import { adminTokenChecker } from '../admin-token.ts';
import type { Role } from './roles.ts';
import { TOKEN_PREFIX, type TokenStore } from './token-store.ts';

export interface Caller {
  /** The token's name; `admin` for the admin-token file's, `anonymous` on an open API. */
  name: string;
  role: Role;
}

/** The caller on an API started without an admin token (tests): everything is allowed. */
export const OPEN_API_CALLER: Caller = Object.freeze({ name: 'anonymous', role: 'admin' });

export class RoleForbiddenError extends KarbError {
  constructor(caller: Caller, method: string, path: string, needed: Role) {
    super(
      'ROLE_FORBIDDEN',
      `token '${caller.name}' has role ${caller.role}; ${method} ${path.length > 200 ? `${path.slice(0, 200)}…` : path} needs ${needed} (an admin can make a token with that role: karb tokens create --role ${needed} --name NAME)`,
      { status: 403, details: { token: caller.name, role: caller.role, needed } },
    );
  }
}

/** Names the caller of an `Authorization` header; undefined when absent, malformed, unknown or revoked. */
export function callerIdentifier(adminToken: string, tokens?: TokenStore): (authorization: string | undefined) => Caller | undefined {
  const isAdmin = adminTokenChecker(adminToken);
  const admin: Caller = Object.freeze({ name: 'admin', role: 'admin' });
  return (authorization) => {
    if (isAdmin(authorization)) return admin;
    if (tokens === undefined || authorization === undefined || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
    const presented = authorization.slice(7).trim();
    if (!presented.startsWith(TOKEN_PREFIX)) return undefined;
    const found = tokens.verify(presented);
    return found === undefined ? undefined : { name: found.name, role: found.role };
  };
}
