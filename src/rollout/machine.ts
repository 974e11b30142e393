/**
 * The rollout state machine. Pure: a state, what is observed now and the spec
 * in; the next state and the events to record out. The reconciler persists the
 * state and plans replicas and traffic from it (`rolloutTargets`).
 *
 * | phase       | when                                                  | next        | new revision's traffic |
 * |-------------|-------------------------------------------------------|-------------|------------------------|
 * | Starting    | its replicas are ready (canary)                       | Progressing | steps[0].weight        |
 * | Starting    | its replicas are ready (blue-green)                   | Previewing  | 0: preview route, mirror |
 * | Starting    | not ready within progressDeadline                     | Failed      | 0                      |
 * | Progressing | a judged window fails, or the output check            | Failed      | 0 at once              |
 * | Progressing | step's pause over, a window passed there, not paused  | Progressing | steps[i+1].weight      |
 * | Progressing | … and that was the last step                          | Promoting   | last step's weight     |
 * | Previewing  | a judged window fails                                 | Failed      | 0                      |
 * | Previewing  | previewFor over, a window passed, not paused          | Promoting   | 0                      |
 * | Promoting   | a judged window fails (canary, blue-green)            | Failed      | 0                      |
 * | Promoting   | every replica ready, not paused                       | Succeeded   | 100                    |
 * | Promoting   | not ready within progressDeadline                     | Failed      | 0                      |
 * | any active  | the service is at zero replicas (nothing to judge)    | Succeeded   | 100                    |
 * | Succeeded   | the guard sees a fast SLO burn (guard.ts)             | RolledBack  | 0 at once              |
 *
 * Commands (`applyRolloutCommand`):
 *
 * | command | from                                           | next                                        |
 * |---------|------------------------------------------------|---------------------------------------------|
 * | promote | Starting, Progressing, Previewing              | Promoting (analysis and steps skipped)       |
 * | promote | Failed, Aborted, RolledBack                    | Promoting (overrides the analysis)           |
 * | abort   | any active                                     | Aborted                                     |
 * | abort   | Succeeded blue-green, previous still warm      | RolledBack (previous serves 100% at once)    |
 * | pause   | any active, not paused                         | paused: no step, switch or promotion         |
 * | resume  | paused                                         | unpaused; the step's pause starts again      |
 * | resume  | Failed, Aborted, RolledBack                    | Starting (tried again from the first step)   |
 *
 * A paused rollout is still judged: a failing window fails it. The stable
 * revision keeps its full replica count until the new one serves all traffic.
 */
import { durationMs, type InferenceServiceSpec } from '../api/index.ts';
import { KarbError } from '../errors.ts';
import { analyze } from './analysis.ts';
import { startGuard } from './guard.ts';
import type { WindowCounts } from '../observability/revision-counters.ts';
import type { OutputCheckResult } from './output-check.ts';
import {
  ACTIVE_PHASES,
  rolloutEvent,
  type RolloutCommand,
  type RolloutEvent,
  type RolloutFailureReason,
  type RolloutPhase,
  type RolloutState,
  type RolloutSuccessReason,
} from './types.ts';

/** The request header that reaches a revision on its preview route (see src/gateway). */
export const PREVIEW_HEADER = 'x-karb-revision';

export type RolloutInputSpec = Pick<InferenceServiceSpec, 'rollout' | 'slo'>;

export interface RolloutObservation {
  now: number;
  /** Replicas the service runs (the autoscaler's target). */
  replicas: number;
  /** Ready replicas of the new revision. */
  readyNew: number;
  /** Counts since `state.windowSince`, when the counters cover that whole window. */
  window?: { stable: WindowCounts; canary: WindowCounts };
  /** The latest check on outputs of this rollout, if one ran. */
  outputCheck?: OutputCheckResult;
}

export interface RolloutStepResult {
  state: RolloutState;
  events: RolloutEvent[];
  /** A window was judged: the next one starts now. */
  newWindow: boolean;
}

export class RolloutCommandError extends KarbError {
  constructor(message: string, code = 'ROLLOUT_CONFLICT') {
    super(code, message, { status: 409 });
  }
}

export function isActive(state: RolloutState): boolean {
  return ACTIVE_PHASES.has(state.phase);
}

/** A new rollout of `revision`, replacing `stable`. */
export function startRollout(spec: RolloutInputSpec, revision: string, stable: string, now: number): { state: RolloutState; event: RolloutEvent } {
  const strategy = spec.rollout.strategy;
  const base = { strategy, revision, stable, step: -1, weight: 0, paused: false, startedAt: now, phaseSince: now, stepSince: now, passedInStep: 0, windowSince: now, judgements: 0 };
  if (strategy === 'immediate') {
    return {
      state: { ...base, phase: 'Promoting', reason: 'ReplicasStarting', message: `${revision} starts; it takes all traffic once every replica is ready` },
      event: rolloutEvent('RolloutStarted', `${revision} replaces ${stable} (immediate): it takes all traffic once every replica is ready`),
    };
  }
  const how = strategy === 'canary' ? `canary in ${spec.rollout.steps.length} steps (${spec.rollout.steps.map((s) => `${s.weight}%`).join(' → ')})` : 'blue-green';
  return {
    state: { ...base, phase: 'Starting', reason: 'ReplicasStarting', message: `${revision} starts beside ${stable}, which keeps all traffic` },
    event: rolloutEvent('RolloutStarted', `${revision} replaces ${stable}: ${how}`),
  };
}

/** One observation's worth of progress. */
export function advanceRollout(state: RolloutState, obs: RolloutObservation, spec: RolloutInputSpec): RolloutStepResult {
  const { now } = obs;
  const r = spec.rollout;
  const events: RolloutEvent[] = [];
  if (!isActive(state)) return { state, events, newWindow: false };

  if (obs.replicas === 0) {
    const next = succeed(state, now, spec, 'ScaledToZero', `the service is at zero replicas, so there is nothing to judge: ${state.revision} takes over and starts on the next request`);
    return { state: next, events: [rolloutEvent('RolloutSucceeded', next.message)], newWindow: false };
  }

  // Judge the window first: a paused rollout still fails on a bad window.
  let s = state;
  let newWindow = false;
  const judged = s.strategy !== 'immediate' && (s.phase === 'Progressing' || s.phase === 'Previewing' || s.phase === 'Promoting');
  const check = obs.outputCheck;
  if (judged && check !== undefined && check.at >= s.startedAt && check.at !== s.lastOutputCheck?.at) {
    s = { ...s, lastOutputCheck: check };
    if (check.verdict === 'Fail') {
      const failed = fail(s, now, durationMs(r.scaleDownDelay), 'OutputsDiverged', `output check failed: ${check.message}; ${s.stable} serves 100% of traffic`);
      return { state: failed, events: [rolloutEvent('RolloutFailed', failed.message)], newWindow };
    }
  }
  if (judged && obs.window !== undefined && now - s.windowSince >= durationMs(r.analysis.interval)) {
    const result = analyze(obs.window.stable, obs.window.canary, r.analysis, spec.slo);
    s = { ...s, lastAnalysis: { ...result, at: now } };
    if (result.verdict !== 'Inconclusive') {
      newWindow = true;
      s = { ...s, windowSince: now, judgements: s.judgements + 1 };
    }
    if (result.verdict === 'Fail') {
      const failed = fail(s, now, durationMs(r.scaleDownDelay), 'AnalysisFailed', `analysis failed: ${result.message}; ${s.stable} serves 100% of traffic`);
      return { state: failed, events: [rolloutEvent('RolloutFailed', failed.message)], newWindow };
    }
    if (result.verdict === 'Pass') s = { ...s, passedInStep: s.passedInStep + 1 };
  }

  const phase: RolloutPhase = s.phase;
  switch (phase) {
    case 'Starting': {
      const needed = newRevisionReplicas(s, obs.replicas, spec);
      if (obs.readyNew >= needed) {
        if (s.strategy === 'blue-green') {
          s = { ...s, phase: 'Previewing', phaseSince: now, stepSince: now, passedInStep: 0, windowSince: now, reason: 'Analysing', message: '' };
          newWindow = true;
          events.push(rolloutEvent('RolloutPreviewing', `${s.revision} is ready at ${obs.readyNew} replicas on its preview route (header ${PREVIEW_HEADER}: ${s.revision})${r.mirrorPercent > 0 ? `, mirrored ${r.mirrorPercent}% of traffic` : ''}`));
        } else {
          s = enterStep(s, 0, now, spec);
          newWindow = true;
          events.push(rolloutEvent('RolloutProgressing', `${s.revision} is ready: ${s.weight}% of traffic (step 1 of ${r.steps.length})`));
        }
      } else if (now - s.phaseSince >= durationMs(r.progressDeadline)) {
        s = fail(s, now, 0, 'ProgressDeadlineExceeded', `${s.revision} was not ready within ${r.progressDeadline} (${obs.readyNew}/${needed} replicas ready); ${s.stable} keeps all traffic`);
        events.push(rolloutEvent('RolloutFailed', s.message));
      } else {
        s = { ...s, reason: 'ReplicasStarting', message: `${s.revision}: ${obs.readyNew}/${needed} replicas ready; ${s.stable} keeps all traffic` };
      }
      break;
    }
    case 'Progressing': {
      const step = r.steps[s.step];
      const pauseMs = step === undefined ? 0 : durationMs(step.pause);
      const waited = now - s.stepSince >= pauseMs;
      if (s.paused) {
        s = { ...s, reason: 'Paused', message: `paused at ${s.weight}% (step ${s.step + 1} of ${r.steps.length}); karb rollout resume continues` };
      } else if (waited && s.passedInStep > 0) {
        if (s.step + 1 < r.steps.length) {
          s = enterStep(s, s.step + 1, now, spec);
          events.push(rolloutEvent('RolloutStepAdvanced', `${s.revision}: ${s.weight}% of traffic (step ${s.step + 1} of ${r.steps.length})`));
        } else {
          s = { ...s, phase: 'Promoting', phaseSince: now, reason: 'Promoting', message: `every step passed: ${s.revision} scales to ${obs.replicas} replicas, then takes all traffic` };
          events.push(rolloutEvent('RolloutPromoting', s.message));
        }
      } else {
        s = { ...s, reason: 'Analysing', message: waitingMessage(s, now, pauseMs, `${s.weight}% of traffic (step ${s.step + 1} of ${r.steps.length})`) };
      }
      break;
    }
    case 'Previewing': {
      const previewMs = durationMs(r.previewFor);
      if (s.paused) {
        s = { ...s, reason: 'Paused', message: `paused on the preview route; karb rollout resume continues` };
      } else if (now - s.stepSince >= previewMs && s.passedInStep > 0) {
        s = { ...s, phase: 'Promoting', phaseSince: now, reason: 'Promoting', message: `the preview passed: ${s.revision} takes all traffic once ${obs.replicas} replicas are ready` };
        events.push(rolloutEvent('RolloutPromoting', s.message));
      } else {
        s = { ...s, reason: 'Analysing', message: waitingMessage(s, now, previewMs, `preview (header ${PREVIEW_HEADER}: ${s.revision})${r.mirrorPercent > 0 ? ` with ${r.mirrorPercent}% mirrored` : ''}`) };
      }
      break;
    }
    case 'Promoting': {
      if (obs.readyNew >= obs.replicas && !s.paused) {
        s = succeed(s, now, spec, 'Promoted', '');
        events.push(rolloutEvent('RolloutSucceeded', s.message));
      } else if (obs.readyNew < obs.replicas && now - s.phaseSince >= durationMs(r.progressDeadline)) {
        s = fail(s, now, 0, 'ProgressDeadlineExceeded', `${s.revision} did not reach ${obs.replicas} ready replicas within ${r.progressDeadline} (${obs.readyNew} ready); ${s.stable} keeps all traffic`);
        events.push(rolloutEvent('RolloutFailed', s.message));
      } else {
        s = { ...s, reason: s.paused ? 'Paused' : 'Promoting', message: `${s.revision}: ${obs.readyNew}/${obs.replicas} replicas ready before it takes all traffic${s.paused ? ' (paused)' : ''}` };
      }
      break;
    }
    case 'Succeeded':
    case 'Failed':
    case 'Aborted':
    case 'RolledBack':
      break;
    default: {
      const never: never = phase;
      throw new RangeError(`unknown rollout phase ${String(never)}`);
    }
  }
  return { state: s, events, newWindow };
}

/** A person's command; throws RolloutCommandError (409) when it does not apply now. */
export function applyRolloutCommand(state: RolloutState, command: RolloutCommand, spec: RolloutInputSpec, now: number): { state: RolloutState; event: RolloutEvent } {
  const active = isActive(state);
  const where = `the rollout of ${state.revision} is ${describePhase(state)}`;
  switch (command) {
    case 'promote': {
      if (state.phase === 'Promoting') throw new RolloutCommandError(`${where}: it is already being promoted`);
      if (state.phase === 'Succeeded') throw new RolloutCommandError(`${where}: it already serves all traffic`);
      const next: RolloutState = { ...state, phase: 'Promoting', phaseSince: now, paused: false, reason: 'Promoting', message: `promoted by hand: ${state.revision} takes all traffic once every replica is ready` };
      delete next.scaleDownAt;
      delete next.finishedAt;
      return { state: next, event: rolloutEvent('RolloutPromoted', next.message) };
    }
    case 'abort': {
      if (active) {
        const next = fail({ ...state, paused: false }, now, durationMs(spec.rollout.scaleDownDelay), 'ManualAbort', `aborted by hand: ${state.stable} serves 100% of traffic`, 'Aborted');
        return { state: next, event: rolloutEvent('RolloutAborted', next.message) };
      }
      if (state.phase === 'Succeeded' && state.strategy === 'blue-green' && state.scaleDownAt !== undefined && now < state.scaleDownAt) {
        // Rolled back by hand: nothing left for the guard after promotion to watch.
        const { guard: _watched, ...rest } = state;
        const next = rollBack(rest, 'ManualRollback', `rolled back by hand: ${state.stable} (kept warm) serves 100% of traffic again`, spec, now);
        return { state: next, event: rolloutEvent('RolloutRolledBack', next.message) };
      }
      throw new RolloutCommandError(`${where}: nothing to abort${state.phase === 'Succeeded' ? ' (apply the previous spec to roll back)' : ''}`);
    }
    case 'pause': {
      if (!active) throw new RolloutCommandError(`${where}: only a rollout in progress can be paused`);
      if (state.paused) throw new RolloutCommandError(`${where}: it is already paused`);
      return { state: { ...state, paused: true, reason: 'Paused', message: 'paused by hand; karb rollout resume continues' }, event: rolloutEvent('RolloutPaused', `rollout of ${state.revision} paused at ${state.weight}% of traffic`) };
    }
    case 'resume': {
      if (state.paused) {
        return { state: { ...state, paused: false, stepSince: now, reason: 'Analysing', message: 'resumed' }, event: rolloutEvent('RolloutResumed', `rollout of ${state.revision} resumed at ${state.weight}% of traffic`) };
      }
      if (state.phase === 'Failed' || state.phase === 'Aborted' || state.phase === 'RolledBack') {
        const { state: again } = startRollout({ ...spec, rollout: { ...spec.rollout, strategy: state.strategy } }, state.revision, state.stable, now);
        return { state: again, event: rolloutEvent('RolloutRetried', `rollout of ${state.revision} tried again from the start`) };
      }
      throw new RolloutCommandError(`${where}: it is not paused`);
    }
    default: {
      const never: never = command;
      throw new RolloutCommandError(`unknown rollout command ${String(never)}`, 'INVALID_ROLLOUT_COMMAND');
    }
  }
}

/** What runs and who gets traffic, given the rollout and the service's replica count. */
export interface RolloutTargets {
  /** The revision that serves (status.stableRevision): the new one once it succeeded, the old one otherwise. */
  serving: string;
  replicas: { stable: number; revision: number };
  /** Traffic percent of the old (`stable`) and the new (`revision`) revision. */
  weights: { stable: number; revision: number };
  /** Mirror `rollout.mirrorPercent` of the old revision's requests to the new one. */
  mirror: boolean;
}

export function rolloutTargets(state: RolloutState, replicas: number, spec: RolloutInputSpec, now: number): RolloutTargets {
  const n = replicas;
  const lingering = state.scaleDownAt !== undefined && now < state.scaleDownAt;
  const mirror = spec.rollout.mirrorPercent > 0 && (state.phase === 'Progressing' || state.phase === 'Previewing' || state.phase === 'Promoting') && state.strategy !== 'immediate';
  const phase: RolloutPhase = state.phase;
  switch (phase) {
    case 'Starting':
    case 'Progressing':
    case 'Previewing':
    case 'Promoting':
      return { serving: state.stable, replicas: { stable: n, revision: newRevisionReplicas(state, n, spec) }, weights: { stable: 100 - state.weight, revision: state.weight }, mirror };
    case 'Succeeded':
      return { serving: state.revision, replicas: { stable: lingering ? n : 0, revision: n }, weights: { stable: 0, revision: 100 }, mirror: false };
    case 'Failed':
    case 'Aborted':
      // One replica lingers for inspection until scaleDownAt; it takes no traffic.
      return { serving: state.stable, replicas: { stable: n, revision: lingering ? Math.min(n, 1) : 0 }, weights: { stable: 100, revision: 0 }, mirror: false };
    case 'RolledBack':
      return { serving: state.stable, replicas: { stable: n, revision: lingering ? n : 0 }, weights: { stable: 100, revision: 0 }, mirror: false };
    default: {
      const never: never = phase;
      throw new RangeError(`unknown rollout phase ${String(never)}`);
    }
  }
}

/** Replicas a canary at `weight` percent needs: its share of `n`, at least one. */
export function canaryReplicas(n: number, weight: number): number {
  if (n <= 0) return 0;
  return Math.min(n, Math.max(1, Math.ceil((n * weight) / 100)));
}

function newRevisionReplicas(state: RolloutState, n: number, spec: RolloutInputSpec): number {
  if (state.strategy !== 'canary' || state.phase === 'Promoting') return n;
  const weight = state.phase === 'Starting' ? (spec.rollout.steps[0]?.weight ?? 100) : state.weight;
  return canaryReplicas(n, weight);
}

function enterStep(s: RolloutState, step: number, now: number, spec: RolloutInputSpec): RolloutState {
  const weight = spec.rollout.steps[step]?.weight ?? 100;
  return { ...s, phase: 'Progressing', step, weight, phaseSince: step === 0 ? now : s.phaseSince, stepSince: now, passedInStep: 0, windowSince: step === 0 ? now : s.windowSince, reason: 'Analysing', message: '' };
}

function succeed(s: RolloutState, now: number, spec: RolloutInputSpec, reason: RolloutSuccessReason, message: string): RolloutState {
  const keepWarm = s.strategy === 'blue-green' ? durationMs(spec.rollout.scaleDownDelay) : 0;
  const guard = startGuard(spec, now);
  const { guard: _earlier, ...rest } = s;
  return {
    ...rest,
    ...(guard ? { guard } : {}),
    phase: 'Succeeded',
    weight: 100,
    paused: false,
    finishedAt: now,
    scaleDownAt: now + keepWarm,
    reason,
    message:
      (message ||
        (keepWarm > 0
          ? `${s.revision} serves 100% of traffic; ${s.stable} stays warm for ${spec.rollout.scaleDownDelay} (karb rollout abort switches back at once)`
          : `${s.revision} serves 100% of traffic; ${s.stable} drains and stops`)) +
      (guard ? `; a fast SLO burn within ${spec.rollout.guard.window} rolls back to ${s.stable}` : ''),
  };
}

/**
 * A Succeeded rollout rolled back (by hand, or by the guard after promotion): the previous revision
 * takes all traffic at once, and the promoted one is scaled down after `scaleDownDelay`.
 */
export function rollBack(state: RolloutState, reason: 'ManualRollback' | 'GuardFastBurn', message: string, spec: RolloutInputSpec, now: number): RolloutState {
  return { ...state, phase: 'RolledBack', weight: 0, finishedAt: now, scaleDownAt: now + durationMs(spec.rollout.scaleDownDelay), reason, message };
}

function fail(s: RolloutState, now: number, delayMs: number, reason: RolloutFailureReason, message: string, phase: 'Failed' | 'Aborted' = 'Failed'): RolloutState {
  return { ...s, phase, weight: 0, paused: false, finishedAt: now, scaleDownAt: now + delayMs, reason, message };
}

function waitingMessage(s: RolloutState, now: number, pauseMs: number, where: string): string {
  const left = Math.max(0, Math.ceil((s.stepSince + pauseMs - now) / 1000));
  const judged = s.passedInStep > 0 ? `${s.passedInStep} window(s) passed here` : s.lastAnalysis?.reason === 'NotEnoughRequests' ? s.lastAnalysis.message : 'no window judged here yet';
  return `${where}: ${judged}${left > 0 ? `; ${left}s of the pause left` : ''}`;
}

function describePhase(s: RolloutState): string {
  return s.paused ? `${s.phase} (paused)` : s.phase;
}
