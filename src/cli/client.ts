/**
 * The CLI's client of the control plane API. It says plainly when no control
 * plane answers, and passes the server's error message through as it is.
 */
import { CliError } from './usage.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:8081';

export class ControlPlaneClient {
  readonly server: string;

  constructor(server: string | undefined) {
    this.server = (server ?? process.env.KARB_SERVER ?? DEFAULT_SERVER).replace(/\/+$/, '');
  }

  async request<T>(method: string, path: string, body?: string, contentType = 'application/json'): Promise<{ status: number; body: T }> {
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, {
        method,
        ...(body !== undefined ? { body, headers: { 'content-type': contentType } } : {}),
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
    if (!res.ok) {
      const error = (parsed as { error?: { message?: string } | string }).error;
      const message = typeof error === 'string' ? error : (error?.message ?? `HTTP ${res.status}`);
      throw new CliError(message);
    }
    return { status: res.status, body: parsed as T };
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path).then((r) => r.body);
  }
}
