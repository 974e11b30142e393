/**
 * The roles people hold on karb up's control plane, the three a Kubernetes install gives them:
 * `viewer` reads, `deployer` also applies, deletes and steers rollouts, `admin` does everything
 * (API keys, access tokens, gateway reports, the audit log). Each role includes the ones before it.
 */
export const ROLES = ['viewer', 'deployer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Whether a holder of `held` may do what needs `needed`. */
export function roleAllows(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}
