/**
 * The CLI's client of the control plane API. It says plainly when no control
 * plane answers, and passes the server's error message through as it is.
 */
import { CliError } from './usage.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_SERVER = 'http://127.0.0.1:8081';

/** Where the token comes from: --token, then KARB_TOKEN, then `.karb/admin-token` (written by karb up). */
export function resolveAdminToken(explicit: string | undefined): { token: string | undefined; source: string } {
  if (explicit) return { token: explicit, source: '--token' };
  if (process.env.KARB_TOKEN) return { token: process.env.KARB_TOKEN, source: 'KARB_TOKEN' };
  const file = join(process.env.KARB_STATE_DIR ?? '.karb', 'admin-token');
  try {
    return { token: readFileSync(file, 'utf8').trim() || undefined, source: file };
  } catch {
    return { token: undefined, source: file };
  }
}

export class ControlPlaneClient {
  readonly server: string;
  readonly #token: { token: string | undefined; source: string };

  constructor(server: string | undefined, token?: string) {
    this.server = (server ?? process.env.KARB_SERVER ?? DEFAULT_SERVER).replace(/\/+$/, '');
    this.#token = resolveAdminToken(token);
  }

  async request<T>(method: string, path: string, body?: string, contentType = 'application/json'): Promise<{ status: number; body: T }> {
    let res: Response;
    try {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers['content-type'] = contentType;
      if (this.#token.token !== undefined) headers.authorization = `Bearer ${this.#token.token}`;
      res = await fetch(`${this.server}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new CliError(
        `no karb control plane answers at ${this.server} (${cause}); start one with 'karb up' (or 'npm start'), or point --server / KARB_SERVER at it`,
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new CliError(`${method} ${path}: the server answered ${res.status} with a body that is not JSON`);
    }
    if (res.status === 401 && (parsed as { error?: { code?: string } }).error?.code === 'ADMIN_TOKEN_REQUIRED') {
      throw new CliError(
        this.#token.token === undefined
          ? `the control plane at ${this.server} needs its admin token and none was found: karb reads ${this.#token.source} (written by karb up in its state directory), or pass --token / set KARB_TOKEN`
          : `the control plane at ${this.server} refused the token from ${this.#token.source} (unknown or revoked); use the admin token in the admin-token file of the karb up it belongs to, or a token its admin made with karb tokens create`,
      );
    }
    if (!res.ok) {
      const error = (parsed as { error?: { message?: string } | string }).error;
      const message = typeof error === 'string' ? error : (error?.message ?? `HTTP ${res.status}`);
      // One line, whatever the server sent (a 403 names the role the token has and the one needed).
      throw new CliError(message.replace(/\s*\n\s*/g, ' '));
    }
    return { status: res.status, body: parsed as T };
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path).then((r) => r.body);
  }
}
