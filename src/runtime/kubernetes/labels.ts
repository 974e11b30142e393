/**
 * The labels karb puts on what it creates in a cluster, and the selectors that find them again.
 * Selectors use karb's own keys only: a user's labels never decide which pods a revision owns.
 */

export const LABEL_SERVICE = 'karb.dev/service';
export const LABEL_REVISION = 'karb.dev/revision';
export const LABEL_POOL = 'karb.dev/pool';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'karb' } as const;
/** The field manager of every server-side apply karb makes. */
export const FIELD_MANAGER = 'karb';
/**
 * The scheduling gate a pod of a service that may burst (it names an on-prem and an elastic pool)
 * is created with: the scheduler leaves it alone until karb controller's placement gate gives it
 * a pool and removes the gate (src/control/kubernetes/placement-gate.ts).
 */
export const PLACEMENT_GATE = 'karb.dev/placement';

/** The pods of karb's gateway and controller, as NetworkPolicies and selectors name them. */
export const GATEWAY_POD_LABELS = { 'app.kubernetes.io/name': 'karb', 'app.kubernetes.io/component': 'gateway' } as const;
export const CONTROLLER_POD_LABELS = { 'app.kubernetes.io/name': 'karb', 'app.kubernetes.io/component': 'controller' } as const;

/** Labels of every object that belongs to one InferenceService (the user's labels, then karb's). */
export function serviceLabels(service: string, userLabels: Record<string, string> = {}): Record<string, string> {
  return { ...userLabels, 'app.kubernetes.io/name': service, 'app.kubernetes.io/component': 'model-server', ...MANAGED_BY, [LABEL_SERVICE]: service };
}

export function revisionLabels(service: string, revision: string, userLabels: Record<string, string> = {}): Record<string, string> {
  return { ...serviceLabels(service, userLabels), [LABEL_REVISION]: revision };
}

export function serviceSelector(service: string): Record<string, string> {
  return { [LABEL_SERVICE]: service };
}

export function revisionSelector(revision: string): Record<string, string> {
  return { [LABEL_REVISION]: revision };
}

/** A label selector as text, as a scale subresource's status.selector carries it. */
export function selectorText(selector: Record<string, string>): string {
  return Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
