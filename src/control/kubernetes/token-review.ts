/**
 * Who is calling the controller: the caller's bearer token, checked by the API server itself (a
 * `TokenReview`, as kube-rbac-proxy and metrics adapters do), so gateways prove who they are
 * with their service account's token and the controller keeps no secret of its own. Answers are
 * cached by the token's SHA-256 (never the token) for a minute; a refused token is not cached,
 * so a gateway whose token was just mounted is let in on its next try.
 */
import { createHash } from 'node:crypto';
import { KarbError } from '../../errors.ts';
import type { KubeClient, ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import type { Clock } from '../../util/clock.ts';
import { ExpiringCache } from '../../util/expiring-cache.ts';
import type { RemoteUser } from './request-header.ts';

export class UnauthenticatedError extends KarbError {
  constructor(message = 'send a Kubernetes bearer token (a gateway: its service account’s) as Authorization: Bearer <token>') {
    super('UNAUTHENTICATED', message, { status: 401 });
  }
}

export class ForbiddenCallerError extends KarbError {
  constructor(who: string, allowed: string[]) {
    super('FORBIDDEN', `${who} may not call this API; only ${allowed.join(', ')} may`, { status: 403 });
  }
}

const CACHE_MS = 60_000;
const MAX_CACHED = 1024;

interface TokenReviewAnswer {
  status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }; error?: string };
}

export class TokenReviewer {
  readonly #client: KubeClient;
  readonly #cache: ExpiringCache<RemoteUser>;

  constructor(client: KubeClient, clock: Clock) {
    this.#client = client;
    this.#cache = new ExpiringCache({ ttlMs: CACHE_MS, maxEntries: MAX_CACHED, clock });
  }

  /** The user name an `Authorization` header authenticates as; throws UnauthenticatedError otherwise. */
  async username(authorization: string | undefined): Promise<string> {
    return (await this.user(authorization)).name;
  }

  /** The user (name, uid, groups, extra) an `Authorization` header authenticates as, for a SubjectAccessReview. */
  async user(authorization: string | undefined): Promise<RemoteUser> {
    if (authorization === undefined || authorization.slice(0, 7).toLowerCase() !== 'bearer ') throw new UnauthenticatedError();
    const token = authorization.slice(7).trim();
    if (token === '') throw new UnauthenticatedError();
    const digest = createHash('sha256').update(token).digest('base64');
    const cached = this.#cache.get(digest);
    if (cached !== undefined) return cached;
    const review = await this.#client.create<ObjectLike & TokenReviewAnswer>({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { name: '' }, spec: { token } });
    const found = review.status?.authenticated ? review.status.user : undefined;
    if (!found?.username) throw new UnauthenticatedError('the API server does not accept this token; send a valid Kubernetes bearer token (kubectl create token <service-account>)');
    const user: RemoteUser = { name: found.username, ...(found.uid ? { uid: found.uid } : {}), groups: found.groups ?? [], extra: found.extra ?? {} };
    this.#cache.set(digest, user);
    return user;
  }
}
