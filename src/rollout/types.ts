/**
 * A rollout as stored (plain JSON, so it survives a restart) and what the
 * state machine returns. Times are milliseconds since the epoch.
 */
import type { AnalysisResult } from './analysis.ts';
import type { OutputCheckResult } from './output-check.ts';
import type { Sli } from '../observability/sli.ts';

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
  /** Rolled back after it succeeded (by hand, or by the guard on a fast burn): the previous revision serves all traffic again. */
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
  /** Why the rollout is where it is (status.rollout.reason, the LatestRevisionReady condition). */
  reason: RolloutReason;
  message: string;
  /** The losing revision (a failed new one, or the previous one after a switch) keeps replicas until then. */
  scaleDownAt?: number;
  finishedAt?: number;
  /** The guard after promotion (guard.ts): set when the rollout succeeds with `rollout.guard.window` above 0. */
  guard?: GuardState;
}

/** The guard after promotion, as stored (plain JSON: it survives a restart, in SQLite or in status). */
export interface GuardState {
  /** Watching the promoted revision; Passed: the window ended without a fast burn; Fired: it rolled back. */
  phase: 'Watching' | 'Passed' | 'Fired';
  /** When the rollout succeeded. */
  since: number;
  /** When the guard stops watching (`since` + `rollout.guard.window`). */
  until: number;
  last?: GuardEvaluation;
}

/** One judgement of the promoted revision by the guard. */
export interface GuardEvaluation {
  at: number;
  verdict: 'Fire' | 'Hold' | 'NotEnoughRequests' | 'Ended';
  /** The SLI that burned fast (Fire only). */
  sli?: Sli;
  message: string;
  long?: GuardWindowReading;
  short?: GuardWindowReading;
}

/** A window's requests and burn rates (bad share / budget) per SLI. */
export interface GuardWindowReading {
  /** How long the window covered (shorter than asked for right after promotion or a restart). */
  ms: number;
  requests: number;
  burnRates: Partial<Record<Sli, number>>;
}

/**
 * Why a rollout is where it is: stable codes a person reads in status.rollout
 * and in conditions (never reworded once shipped). Grouped by how a rollout
 * ends up with them.
 */
export type RolloutReason = RolloutProgressReason | RolloutSuccessReason | RolloutFailureReason;

/** While it is active. */
export type RolloutProgressReason =
  /** The new revision's replicas start (Starting, or Promoting before every replica is ready). */
  | 'ReplicasStarting'
  /** Windows are being judged (Progressing, Previewing), or it was just resumed. */
  | 'Analysing'
  | 'Paused'
  /** Steps done or promoted by hand: the new revision scales up, then takes all traffic. */
  | 'Promoting';

/** Succeeded. */
export type RolloutSuccessReason =
  /** Every replica of the new revision is ready and it takes all traffic. */
  | 'Promoted'
  /** The service is at zero replicas: nothing to judge, the new revision takes over. */
  | 'ScaledToZero';

/** Failed, Aborted or RolledBack. */
export type RolloutFailureReason =
  | 'AnalysisFailed'
  | 'OutputsDiverged'
  | 'ProgressDeadlineExceeded'
  | 'ManualAbort'
  | 'ManualRollback'
  /** The guard after promotion saw the promoted revision burn its SLO budget fast (guard.ts). */
  | 'GuardFastBurn';

/** The reasons of the events a rollout records (`karb get events`, the events stream). */
export type RolloutEventReason =
  | 'RolloutStarted'
  | 'RolloutSuperseded'
  | 'RolloutProgressing'
  | 'RolloutPreviewing'
  | 'RolloutStepAdvanced'
  | 'RolloutPromoting'
  | 'RolloutPromoted'
  | 'RolloutSucceeded'
  | 'RolloutFailed'
  | 'RolloutAborted'
  | 'RolloutRolledBack'
  | 'RolloutPaused'
  | 'RolloutResumed'
  | 'RolloutRetried'
  | 'GuardRolledBack'
  | 'GuardPassed';

export interface RolloutEvent {
  type: 'Normal' | 'Warning';
  reason: RolloutEventReason;
  message: string;
}

/**
 * An event's type follows from its reason: Warning when traffic went back to
 * the previous revision (the new one failed, or a person aborted or rolled
 * back), Normal otherwise. One place, so a reason never appears with both.
 */
export function rolloutEvent(reason: RolloutEventReason, message: string): RolloutEvent {
  return { type: rolloutEventType(reason), reason, message };
}

export function rolloutEventType(reason: RolloutEventReason): RolloutEvent['type'] {
  switch (reason) {
    case 'RolloutFailed':
    case 'RolloutAborted':
    case 'RolloutRolledBack':
    case 'GuardRolledBack':
      return 'Warning';
    case 'RolloutStarted':
    case 'RolloutSuperseded':
    case 'RolloutProgressing':
    case 'RolloutPreviewing':
    case 'RolloutStepAdvanced':
    case 'RolloutPromoting':
    case 'RolloutPromoted':
    case 'RolloutSucceeded':
    case 'RolloutPaused':
    case 'RolloutResumed':
    case 'RolloutRetried':
    case 'GuardPassed':
      return 'Normal';
    default: {
      const never: never = reason;
      throw new RangeError(`unknown rollout event reason ${String(never)}`);
    }
  }
}

export type RolloutCommand = 'promote' | 'abort' | 'pause' | 'resume';
