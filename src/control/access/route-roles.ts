/**
 * Every route of karb up's control plane (api.ts and the modules it mounts) with the least role
 * each method needs: the one table the API consults before any handler runs. A path or method
 * missing here is refused (404 or 405) whatever the caller's role, so a route added without an
 * entry is unreachable rather than open; route-roles.test.ts checks every route the API's modules
 * list has its entry. `public` routes need no token: health, metrics and the dashboard's page,
 * which hold no data.
 */
import type { Role } from './roles.ts';

export type Access = Role | 'public';

export interface RouteRule {
  /** `{param}` matches one segment; a last `*` matches the rest of the path, nothing included. */
  path: string;
  /** Each method with its least role, in the order a 405's `Allow` header lists them. */
  methods: Readonly<Record<string, Access>>;
}

const READ: Access = 'viewer';
const PUBLIC_READ = { GET: 'public', HEAD: 'public' } as const;

export const ROUTE_ROLES: readonly RouteRule[] = [
  { path: '/healthz', methods: PUBLIC_READ },
  { path: '/metrics', methods: PUBLIC_READ },
  { path: '/', methods: PUBLIC_READ },
  { path: '/dashboard/*', methods: PUBLIC_READ },

  { path: '/api/v1/services', methods: { GET: READ } },
  { path: '/api/v1/services/{name}', methods: { GET: READ, PUT: 'deployer', DELETE: 'deployer' } },
  { path: '/api/v1/services/{name}/revisions', methods: { GET: READ } },
  { path: '/api/v1/services/{name}/drift', methods: { GET: READ } },
  { path: '/api/v1/services/{name}/rollout', methods: { GET: READ } },
  { path: '/api/v1/services/{name}/rollout/{command}', methods: { POST: 'deployer' } },
  // Standalone gateways' calls, made with the admin token.
  { path: '/api/v1/services/{name}/activate', methods: { POST: 'admin' } },
  { path: '/api/v1/signals', methods: { POST: 'admin' } },
  { path: '/api/v1/keys/lookup', methods: { GET: 'admin' } },
  { path: '/api/v1/routes', methods: { GET: READ } },
  { path: '/api/v1/replicas', methods: { GET: READ } },
  { path: '/api/v1/events', methods: { GET: READ } },
  { path: '/api/v1/dashboard/services', methods: { GET: READ } },
  { path: '/api/v1/dashboard/services/{name}/history', methods: { GET: READ } },
  { path: '/api/v1/dashboard/stream', methods: { GET: READ } },
  // Credentials and the record of who did what: a viewer may not even list them.
  { path: '/api/v1/keys', methods: { GET: 'admin', POST: 'admin' } },
  { path: '/api/v1/keys/{id}', methods: { DELETE: 'admin' } },
  { path: '/api/v1/tokens', methods: { GET: 'admin', POST: 'admin' } },
  { path: '/api/v1/tokens/{name}', methods: { DELETE: 'admin' } },
  { path: '/api/v1/audit', methods: { GET: 'admin' } },
];

export type RouteMatch =
  | { kind: 'route'; rule: RouteRule; access: Access; params: Record<string, string> }
  | { kind: 'method-not-allowed'; rule: RouteRule; allow: string; params: Record<string, string> }
  | { kind: 'no-route' };

/** The entry for `method` on `segments` (the path split on `/`, empty parts dropped). */
export function matchRoute(method: string, segments: readonly string[], table: readonly RouteRule[] = ROUTE_ROLES): RouteMatch {
  let best: { rule: RouteRule; params: Record<string, string>; literals: number } | undefined;
  for (const rule of table) {
    const m = matchPath(rule.path, segments);
    // The most literal segments win: /api/v1/keys/lookup before /api/v1/keys/{id}.
    if (m !== undefined && (best === undefined || m.literals > best.literals)) best = { rule, ...m };
  }
  if (best === undefined) return { kind: 'no-route' };
  const access = Object.hasOwn(best.rule.methods, method) ? best.rule.methods[method] : undefined;
  if (access === undefined) return { kind: 'method-not-allowed', rule: best.rule, allow: Object.keys(best.rule.methods).join(', '), params: best.params };
  return { kind: 'route', rule: best.rule, access, params: best.params };
}

function matchPath(pattern: string, segments: readonly string[]): { params: Record<string, string>; literals: number } | undefined {
  const want = pattern.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  let literals = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (w === '*' && i === want.length - 1) return { params, literals };
    const got = segments[i];
    if (got === undefined) return undefined;
    if (w.startsWith('{') && w.endsWith('}')) params[w.slice(1, -1)] = got;
    else if (w === got) literals++;
    else return undefined;
  }
  return segments.length === want.length ? { params, literals } : undefined;
}
