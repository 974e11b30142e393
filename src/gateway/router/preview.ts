/**
 * Preview routing: `x-karb-revision: <name>` sends a request to that revision
 * of its route whatever the revision's weight, 0 included. That is how a
 * blue-green "preview" revision (or a canary, for a smoke test) is reached
 * before the split gives it traffic. The header only selects among the
 * revisions the routing table lists for the route; it never names a URL, so
 * it cannot steer the gateway anywhere the control plane did not publish.
 *
 * The same header name is on every proxied answer (upstream.ts): the revision
 * that served it. Pure: the router calls `previewRevision` once per request.
 */
import { InvalidRevisionHeaderError, RevisionNotRoutableError } from '../server/errors.ts';
import type { Route, RouteRevision } from '../discovery/routing-table.ts';

/** Request header naming the revision to serve a request; response header naming the revision that did. */
export const REVISION_HEADER = 'x-karb-revision';

/** Longest revision name accepted (a service name of up to 63 characters, `-`, a 5-digit generation, with room). */
export const MAX_REVISION_NAME_LENGTH = 70;

const REVISION_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The revision a request's `x-karb-revision` value pins it to, or undefined
 * when the request has no such header (the split decides). Throws 400
 * `INVALID_REVISION_HEADER` for a value that cannot be a revision name (a
 * repeated header arrives joined by ", " and is one of those), and 404
 * `REVISION_NOT_ROUTABLE` for a name the route does not list. A listed
 * revision is returned even without endpoints: the caller answers 503 for it.
 */
export function previewRevision(route: Route, header: string | string[] | undefined): RouteRevision | undefined {
  if (header === undefined) return undefined;
  const name = typeof header === 'string' ? header : header.join(', ');
  if (name.length > MAX_REVISION_NAME_LENGTH || !REVISION_NAME.test(name)) {
    throw new InvalidRevisionHeaderError(REVISION_HEADER, name, MAX_REVISION_NAME_LENGTH);
  }
  for (const r of route.revisions) if (r.revision === name) return r;
  throw new RevisionNotRoutableError(name, route.model, route.revisions.map((r) => r.revision));
}
