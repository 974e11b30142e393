/**
 * One line per column of a service's status, as `karb get services` prints it and as the
 * controller writes it into `status.summary` for the CRD's printer columns (`kubectl get`).
 */
import type { InferenceServiceStatus } from './schema.ts';

export function readyOf(status: InferenceServiceStatus): string {
  const c = status.conditions?.find((x) => x.type === 'Ready');
  return c ? c.status : 'Unknown';
}

export function replicasOf(status: InferenceServiceStatus): string {
  const stable = status.revisions?.find((r) => r.name === status.stableRevision);
  return stable ? `${stable.ready}/${stable.desired}` : '-';
}

/** The rollout phase while it matters: in progress (with its step), or how the last one ended badly. */
export function rolloutOf(status: InferenceServiceStatus): string {
  const r = status.rollout as { phase?: string; step?: string; paused?: boolean } | undefined;
  if (r?.phase === undefined || r.phase === 'Succeeded') return '-';
  return `${r.phase}${r.step !== undefined && r.phase === 'Progressing' ? ` ${r.step}` : ''}${r.paused ? ' (paused)' : ''}`;
}

export function trafficOf(status: InferenceServiceStatus): string {
  const parts = (status.revisions ?? []).filter((r) => r.traffic > 0).map((r) => `${r.name.slice(r.name.lastIndexOf('-') + 1)}=${r.traffic}%`);
  return parts.length ? parts.join(',') : '-';
}

/** What `status.summary` holds in Kubernetes mode: the same words as the table's columns. */
export function statusSummary(status: InferenceServiceStatus): { replicas: string; traffic: string; rollout: string } {
  return { replicas: replicasOf(status), traffic: trafficOf(status), rollout: rolloutOf(status) };
}
