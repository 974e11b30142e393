/**
 * The Kubernetes HPA's replica calculator (kube-controller-manager,
 * pkg/controller/podautoscaler/replica_calculator.go), as pure functions: how
 * many replicas one metric asks for, before stabilization and rate limits
 * (hpa-behavior.ts) apply. Floating-point steps follow the original so edge
 * cases land on the same side (e.g. utilization is a truncated integer percent).
 */
import type { PodSignal } from './types.ts';
import { fmt } from './steps.ts';

/** --horizontal-pod-autoscaler-tolerance default. */
export const HPA_TOLERANCE = 0.1;
/** --horizontal-pod-autoscaler-cpu-initialization-period default. */
export const CPU_INITIALIZATION_PERIOD_MS = 5 * 60_000;
/** --horizontal-pod-autoscaler-initial-readiness-delay default. */
export const INITIAL_READINESS_DELAY_MS = 30_000;
/** The window a CPU sample covers (metrics-server's default resolution). */
export const CPU_METRIC_WINDOW_MS = 15_000;

export type Proposal =
  | { ok: true; replicas: number; usageRatio: number; detail: string }
  | { ok: false; message: string };

function withinTolerance(ratio: number): boolean {
  return Math.abs(1 - ratio) <= HPA_TOLERANCE;
}

/** How the HPA sorts pods before computing utilization (groupPods). */
export function groupPods(pods: readonly PodSignal[], now: number): { ready: PodSignal[]; unready: PodSignal[]; missing: PodSignal[] } {
  const ready: PodSignal[] = [];
  const unready: PodSignal[] = [];
  const missing: PodSignal[] = [];
  for (const pod of pods) {
    if (pod.pending) {
      unready.push(pod);
      continue;
    }
    if (pod.cpuUtilization === undefined) {
      missing.push(pod);
      continue;
    }
    const changedAt = pod.readyChangedAt ?? pod.startedAt;
    let isUnready: boolean;
    if (pod.startedAt + CPU_INITIALIZATION_PERIOD_MS > now) {
      // Still initializing: ignore the sample if the pod is unready or the sample
      // does not yet cover a full window since it became ready (start-up CPU burst).
      isUnready = !pod.ready || (pod.cpuSampledAt ?? now) < changedAt + CPU_METRIC_WINDOW_MS;
    } else {
      // Past initialization: ignore only a pod that is unready and has never been ready.
      isUnready = !pod.ready && pod.startedAt + INITIAL_READINESS_DELAY_MS > changedAt;
    }
    (isUnready ? unready : ready).push(pod);
  }
  return { ready, unready, missing };
}

/** GetResourceUtilizationRatio with equal requests: the truncated integer percent of the mean. */
function utilizationPercent(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  // The epsilon keeps 0.29 × 100 = 28.999… at 29, as integer milli-values would.
  return Math.floor((total * 100) / values.length + 1e-9);
}

/**
 * GetResourceReplicas for CPU utilization (`target` as a fraction, 0.8 = 80%).
 * | Pods                         | Ratio | Then                                                       |
 * | all ready with metrics       | any   | within tolerance → current; else ceil(ratio × ready)       |
 * | some missing metrics         | < 1   | missing count as using max(100%, target) and recompute     |
 * | some missing metrics         | > 1   | missing count as using 0% and recompute                    |
 * | some unready (or pending)    | > 1   | unready count as using 0% and recompute                    |
 * | after recomputing            |       | within tolerance, or the direction flips → current;        |
 * |                              |       | else ceil(new ratio × pods counted), unless that flips too |
 */
export function cpuReplicas(current: number, pods: readonly PodSignal[], target: number, now: number): Proposal {
  const { ready, unready, missing } = groupPods(pods, now);
  if (ready.length === 0) return { ok: false, message: 'did not receive metrics for targeted pods (pods might be unready)' };
  const targetPct = Math.round(target * 100);
  const values = ready.map((p) => p.cpuUtilization!);
  const utilization = utilizationPercent(values);
  const usageRatio = utilization / targetPct;
  const about = `cpu utilization ${utilization}% (target ${targetPct}%)`;

  const scaleUpWithUnready = unready.length > 0 && usageRatio > 1;
  if (!scaleUpWithUnready && missing.length === 0) {
    if (withinTolerance(usageRatio)) return { ok: true, replicas: current, usageRatio, detail: `${about} within tolerance` };
    return { ok: true, replicas: Math.ceil(usageRatio * ready.length), usageRatio, detail: `${about} over ${ready.length} ready` };
  }

  const notes: string[] = [];
  if (missing.length > 0) {
    if (usageRatio < 1) {
      const fallback = Math.max(100, targetPct) / 100;
      for (let i = 0; i < missing.length; i++) values.push(fallback);
      notes.push(`${missing.length} without metrics counted at ${Math.round(fallback * 100)}%`);
    } else if (usageRatio > 1) {
      for (let i = 0; i < missing.length; i++) values.push(0);
      notes.push(`${missing.length} without metrics counted at 0%`);
    }
  }
  if (scaleUpWithUnready) {
    for (let i = 0; i < unready.length; i++) values.push(0);
    notes.push(`${unready.length} unready counted at 0%`);
  }
  const newRatio = utilizationPercent(values) / targetPct;
  const recomputed = `${about}; ${notes.join(', ')}: ratio ${fmt(newRatio)}`;
  if (withinTolerance(newRatio) || (usageRatio < 1 && newRatio > 1) || (usageRatio > 1 && newRatio < 1)) {
    return { ok: true, replicas: current, usageRatio: newRatio, detail: `${recomputed}, no change` };
  }
  const replicas = Math.ceil(newRatio * values.length);
  if ((newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current)) {
    return { ok: true, replicas: current, usageRatio: newRatio, detail: `${recomputed}, no change` };
  }
  return { ok: true, replicas, usageRatio: newRatio, detail: recomputed };
}

/**
 * getUsageRatioReplicaCount: an object metric against a value target. At zero
 * replicas it skips tolerance and ready pods, so it can scale from zero.
 */
export function usageRatioReplicas(current: number, usageRatio: number, readyPods: number): number {
  if (current !== 0) {
    if (withinTolerance(usageRatio)) return current;
    return Math.ceil(usageRatio * readyPods);
  }
  return Math.ceil(usageRatio);
}

/**
 * GetExternalPerPodMetricReplicas: an external metric against an average-value
 * target per replica (the form KEDA's metrics take).
 */
export function averageValueReplicas(statusReplicas: number, usage: number, targetPerReplica: number): number {
  const usageRatio = usage / (targetPerReplica * statusReplicas);
  if (Math.abs(1 - usageRatio) > HPA_TOLERANCE) return Math.ceil(usage / targetPerReplica);
  return statusReplicas;
}
