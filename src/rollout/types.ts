/**
 * A rollout as stored (plain JSON, so it survives a restart) and what the
 * state machine returns. Times are milliseconds since the epoch.
 */
import type { AnalysisResult } from './analysis.ts';
import type { OutputCheckResult } from './output-check.ts';

export type RolloutStrategyName = 'canary' | 'blue-green' | 'immediate';

export type RolloutPhase =
  /** The new revision's replicas start; it takes no traffic yet. */
  | 'Starting'
  /** Canary: the new revision takes `steps[step].weight` percent and is judged. */
  | 'Progressing'
  /** Blue-green: the new revision runs at full capacity on the preview route and is judged. */
  | 'Previewing'
  /** Steps done (or promoted by hand): the new revision scales to full capacity, then takes all traffic. */
  | 'Promoting'
  /** The new revision serves all traffic. */
  | 'Succeeded'
  /** Analysis failed or the new revision never became ready: the stable revision serves all traffic. */
  | 'Failed'
  /** Aborted by hand before it finished: the stable revision serves all traffic. */
  | 'Aborted'
  /** Blue-green rolled back by hand after the switch: the previous revision serves all traffic again. */
  | 'RolledBack';

export const ACTIVE_PHASES: ReadonlySet<RolloutPhase> = new Set(['Starting', 'Progressing', 'Previewing', 'Promoting']);

export interface RolloutState {
  strategy: RolloutStrategyName;
  /** The new revision. */
  revision: string;
  /** The revision it replaces (serving all traffic when the rollout began). */
  stable: string;
  phase: RolloutPhase;
  /** Canary step index (0-based); -1 before the first step. */
  step: number;
  /** The new revision's share of traffic now, 0..100. */
  weight: number;
  paused: boolean;
  startedAt: number;
  /** When the current phase began (the progress deadline counts from here). */
  phaseSince: number;
  /** When the current canary step (or blue-green preview) began its pause. */
  stepSince: number;
  /** Passing judgements since the current step began. */
  passedInStep: number;
  /** Start of the analysis window now accumulating. */
  windowSince: number;
  /** Judged windows so far. */
  judgements: number;
  lastAnalysis?: AnalysisResult & { at: number };
  /** The last check on outputs (`analysis.outputCheck`), when one is configured. */
  lastOutputCheck?: OutputCheckResult;
  /** Why the rollout is where it is, in words (for status and events). */
  reason: string;
  message: string;
  /** The losing revision (a failed new one, or the previous one after a switch) keeps replicas until then. */
  scaleDownAt?: number;
  finishedAt?: number;
}

export interface RolloutEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export type RolloutCommand = 'promote' | 'abort' | 'pause' | 'resume';
