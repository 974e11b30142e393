/**
 * The drift verdict on a service: pure, from the drift reports of its ready replicas. A feature
 * has drifted when its PSI is past the threshold on a replica whose window holds at least
 * `minRows` rows (fewer would be noise: with 10 bins and n rows, PSI's own spread is ~9/n).
 *
 * | reports                                         | status  | reason           |
 * |-------------------------------------------------|---------|------------------|
 * | none (no ready replica, or none answered)       | Unknown | NoReport         |
 * | every one still learning its reference          | Unknown | LearningReference|
 * | none monitoring with minRows in its window      | Unknown | TooFewRows       |
 * | an input feature's PSI > threshold on any       | True    | FeatureDrift     |
 * | otherwise                                       | False   | NoDrift          |
 */
import type { DriftReport } from './monitor.ts';
import { PSI_DRIFT } from './stats.ts';

/** Rows a replica's window must hold before its statistics count. */
export const DEFAULT_MIN_ROWS = 200;

export interface DriftPolicy {
  /** PSI past which a feature has drifted (default 0.25). */
  threshold?: number;
  minRows?: number;
}

export interface ReplicaDrift {
  /** Which replica the report is from. */
  source: string;
  report: DriftReport;
}

export type DriftReason = 'NoReport' | 'LearningReference' | 'TooFewRows' | 'FeatureDrift' | 'NoDrift';

export interface DriftVerdict {
  status: 'True' | 'False' | 'Unknown';
  reason: DriftReason;
  message: string;
  /** The input features past the threshold, by name, sorted. */
  features: string[];
}

export function driftVerdict(reports: readonly ReplicaDrift[], policy: DriftPolicy = {}): DriftVerdict {
  const threshold = policy.threshold ?? PSI_DRIFT;
  const minRows = policy.minRows ?? DEFAULT_MIN_ROWS;
  if (reports.length === 0) return { status: 'Unknown', reason: 'NoReport', message: 'no ready replica reported drift statistics', features: [] };
  const monitoring = reports.flatMap((r) => (r.report.state === 'monitoring' ? [{ source: r.source, report: r.report }] : []));
  if (monitoring.length === 0) {
    const learnRows = Math.max(...reports.map((r) => (r.report.state === 'learning' ? r.report.learnRows : 0)));
    return { status: 'Unknown', reason: 'LearningReference', message: `learning the reference distribution from the first ${learnRows} rows served`, features: [] };
  }
  const judged = monitoring.filter((r) => r.report.windowRows >= minRows);
  if (judged.length === 0) {
    return { status: 'Unknown', reason: 'TooFewRows', message: `fewer than ${minRows} rows observed against the reference; drift is judged from ${minRows}`, features: [] };
  }
  // Names only, no values: the message stays the same while the same features stay drifted,
  // so status is not rewritten on every reading (the values are in the metrics and the JSON).
  const drifted = new Set<string>();
  const outputs = new Set<string>();
  for (const { report } of judged) {
    for (const f of report.inputs) if (f.psi !== null && f.psi > threshold) drifted.add(f.name);
    for (const o of report.outputs) if (o.psi !== null && o.psi > threshold) outputs.add(o.name);
  }
  const features = [...drifted].sort();
  if (features.length === 0) {
    return { status: 'False', reason: 'NoDrift', message: `every input feature's PSI is at most ${threshold}`, features };
  }
  const shifted = [...outputs].sort();
  const also = shifted.length === 0 ? '' : `; outputs shifted too: ${shifted.join(', ')}`;
  return { status: 'True', reason: 'FeatureDrift', message: `PSI past ${threshold} on input features: ${features.join(', ')}${also}; see karb_serving_feature_psi or the replicas' /drift`, features };
}
