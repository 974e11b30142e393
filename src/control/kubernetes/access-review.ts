/**
 * Whether a user may do something, asked of the API server (a `SubjectAccessReview`,
 * authorization.k8s.io/v1), as an aggregated API server delegates authorization: the cluster's
 * RBAC decides who reads karb's custom metrics (the HPA controller may, through its system role).
 * Answers, allowed or not, are kept for 10 s per user and request, as the generic API server's
 * delegating authorizer keeps them, so an HPA's sync costs the API server no review.
 */
import type { KubeClient, ObjectLike } from '../../runtime/kubernetes/api-client.ts';
import type { Clock } from '../../util/clock.ts';
import { ExpiringCache } from '../../util/expiring-cache.ts';
import type { AccessAttributes } from './custom-metrics.ts';
import type { RemoteUser } from './request-header.ts';

const CACHE_MS = 10_000;
const MAX_CACHED = 1024;

interface SubjectAccessReviewAnswer {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

export interface AccessDecision {
  allowed: boolean;
  /** The authorizer's reason, when it gave one. */
  reason?: string;
}

export class AccessReviewer {
  readonly #client: KubeClient;
  readonly #cache: ExpiringCache<AccessDecision>;

  constructor(client: KubeClient, clock: Clock) {
    this.#client = client;
    this.#cache = new ExpiringCache({ ttlMs: CACHE_MS, maxEntries: MAX_CACHED, clock });
  }

  async review(user: RemoteUser, access: AccessAttributes): Promise<AccessDecision> {
    const key = JSON.stringify([user.name, user.uid ?? '', [...user.groups].sort(), Object.entries(user.extra).sort(), access]);
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const spec = {
      user: user.name,
      groups: user.groups,
      ...(Object.keys(user.extra).length > 0 ? { extra: user.extra } : {}),
      ...(user.uid !== undefined ? { uid: user.uid } : {}),
      ...('resource' in access ? { resourceAttributes: access.resource } : { nonResourceAttributes: access.nonResource }),
    };
    const answer = await this.#client.create<ObjectLike & SubjectAccessReviewAnswer>({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: { name: '' }, spec });
    const reason = answer.status?.reason || answer.status?.evaluationError;
    const decision: AccessDecision = { allowed: answer.status?.allowed === true, ...(reason ? { reason } : {}) };
    this.#cache.set(key, decision);
    return decision;
  }
}
