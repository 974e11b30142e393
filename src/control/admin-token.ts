/**
 * The control plane's admin credential: a random token in
 * `<stateDir>/admin-token` (mode 0600), kept across restarts so standalone
 * gateways and scripts holding it keep working; delete the file to rotate it.
 * Every `/api/v1/*` call carries it, or a person's token (access/token-store.ts), as
 * `Authorization: Bearer <token>`; it holds role admin, under the name `admin`.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KarbError } from '../errors.ts';

export const ADMIN_TOKEN_FILE = 'admin-token';
const TOKEN_PATTERN = /^karb_admin_[A-Za-z0-9_-]{43}$/;

/** Reads the token of `stateDir`, creating it (0600) if missing or not a karb token. */
export function ensureAdminToken(stateDir: string): string {
  const file = join(stateDir, ADMIN_TOKEN_FILE);
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (TOKEN_PATTERN.test(existing)) {
      chmodSync(file, 0o600);
      return existing;
    }
  } catch {
    // Missing: written below.
  }
  const token = `karb_admin_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

export class AdminAuthError extends KarbError {
  constructor() {
    super(
      'ADMIN_TOKEN_REQUIRED',
      'this API needs a token: send Authorization: Bearer <token>, the admin token (karb up writes it to .karb/admin-token) or one made by karb tokens create',
      { status: 401 },
    );
  }
}

/** A constant-time check of an `Authorization` header against the admin token. */
export function adminTokenChecker(token: string): (header: string | undefined) => boolean {
  // Comparing digests keeps the comparison constant time whatever the presented length.
  const expected = createHash('sha256').update(token).digest();
  return (header) => {
    if (header === undefined || header.slice(0, 7).toLowerCase() !== 'bearer ') return false;
    const presented = createHash('sha256').update(header.slice(7).trim()).digest();
    return timingSafeEqual(presented, expected);
  };
}
