/**
 * The security contexts that meet Pod Security "restricted": non-root with a fixed unprivileged
 * user (so an image whose USER is root still starts), no privilege escalation, every capability
 * dropped, the runtime's default seccomp profile, a read-only root filesystem.
 */

/** The user and group karb's pods run as (the distroless "nonroot" user). */
export const NONROOT_UID = 65532;

export interface RestrictedContainerSecurity {
  allowPrivilegeEscalation: false;
  capabilities: { drop: ['ALL'] };
  readOnlyRootFilesystem: true;
  runAsNonRoot: true;
}

export function restrictedPodSecurity(): Record<string, unknown> {
  return { runAsNonRoot: true, runAsUser: NONROOT_UID, runAsGroup: NONROOT_UID, fsGroup: NONROOT_UID, seccompProfile: { type: 'RuntimeDefault' } };
}

export function restrictedContainerSecurity(): RestrictedContainerSecurity {
  return { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsNonRoot: true };
}
