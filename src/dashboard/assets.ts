/**
 * The dashboard's files, as the control plane serves them: `/` and
 * `/dashboard/` are the page, `/dashboard/<file>` its scripts, styles and
 * icon. Only the files listed here are served (no path from a request reaches
 * the file system); each is read once and kept. The headers forbid inline
 * script and anything from another origin.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'format.js': 'text/javascript; charset=utf-8',
  'views.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** Same origin only, no inline script or style, no framing; the page reaches nothing but this server. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

export interface DashboardAsset {
  body: Buffer;
  contentType: string;
}

const cache = new Map<string, DashboardAsset>();

/** The asset a GET of `pathname` serves, or undefined when the path is not the dashboard's. */
export function dashboardAsset(pathname: string): DashboardAsset | undefined {
  const file = pathname === '/' || pathname === '/dashboard' || pathname === '/dashboard/' ? 'index.html' : pathname.startsWith('/dashboard/') ? pathname.slice('/dashboard/'.length) : undefined;
  if (file === undefined || !Object.hasOwn(TYPES, file)) return undefined;
  let asset = cache.get(file);
  if (asset === undefined) {
    asset = { body: readFileSync(join(import.meta.dirname, file)), contentType: TYPES[file]! };
    cache.set(file, asset);
  }
  return asset;
}

/** Whether `pathname` is under the dashboard's paths (served or answered 404 by it). */
export function isDashboardPath(pathname: string): boolean {
  return pathname === '/' || pathname === '/dashboard' || pathname.startsWith('/dashboard/');
}
