/**
 * Keeps each service's rollout in the store and moves it along: starts one
 * when a new revision appears, supersedes an unfinished one when another
 * arrives, feeds the state machine what is ready and the analysis window,
 * watches a promoted revision's burn rates for `rollout.guard.window` (guard.ts),
 * and records its events. The reconciler calls `sync` once per pass; the control
 * API calls `command`. Both are synchronous, so a command and a pass never
 * interleave between reading and writing a rollout.
 */
import type { RevisionRecord, Store, StoredService } from './store.ts';
import { NotFoundError } from '../errors.ts';
import { countsBetween, type RevisionCounters, type WindowCounts } from '../observability/revision-counters.ts';
import { advanceRollout, applyRolloutCommand, isActive, rolloutTargets, startRollout } from '../rollout/machine.ts';
import { applyGuard, decideGuard, type GuardSample } from '../rollout/guard.ts';
import { rolloutEvent, type RolloutCommand, type RolloutEvent, type RolloutState } from '../rollout/types.ts';
import { durationMs } from '../api/index.ts';
import type { Clock } from '../util/clock.ts';
import type { OutputChecker } from './output-checker.ts';

export interface RolloutTrackerOptions {
  store: Store;
  counters: RevisionCounters;
  /** The tracker reads only `now`: the state machine is judged at the time of each pass. */
  clock: Pick<Clock, 'now'>;
  /**
   * Runs `analysis.outputCheck` against replicas. Without it (a control plane
   * that routes no traffic, as in tests) output checks are not run.
   */
  outputChecks?: {
    /** `OutputChecker` in karb up; only these three calls, so a test can stand in for it. */
    checker: Pick<OutputChecker, 'latest' | 'maybeRun' | 'retain'>;
    /** A ready replica's URL of a revision, from the runtime (output checks only go there). */
    endpointUrl: (namespace: string, revision: string) => string | undefined;
  };
}

interface WindowStart {
  since: number;
  stable: WindowCounts;
  canary: WindowCounts;
}

export class RolloutTracker {
  readonly #o: RolloutTrackerOptions;
  /** Counter snapshots at the start of each rollout's analysis window (lost on restart: the window restarts). */
  readonly #windows = new Map<string, WindowStart>();
  /** Rollouts `sync` found in progress since the last `forgetIdleRevisions`, by service. */
  readonly #inProgress = new Map<string, { key: string; checkKey: string; state: RolloutState }>();
  /** The guard's counter snapshots, by service (lost on restart: its windows count from the next pass). */
  readonly #guardSamples = new Map<string, { id: string; samples: GuardSample[] }>();
  /** Revisions `sync` found guarded since the last `forgetIdleRevisions`, by service. */
  readonly #guarded = new Map<string, string>();

  constructor(options: RolloutTrackerOptions) {
    this.#o = options;
  }

  /**
   * Brings the service's rollout up to date and returns it; undefined while a
   * single revision serves and nothing is rolling out.
   */
  sync(service: StoredService, revisions: RevisionRecord[], ready: ReadonlyMap<string, number>, replicas: number): RolloutState | undefined {
    const { store } = this.#o;
    const { namespace, name } = service.metadata;
    const now = this.#o.clock.now();
    const latest = revisions[revisions.length - 1];
    if (latest === undefined) return undefined;
    const known = (revision: string | undefined) => revision !== undefined && revisions.some((r) => r.name === revision);
    const events: RolloutEvent[] = [];

    let state = store.getRollout<RolloutState>(namespace, name);
    if (state !== undefined && (!known(state.revision) || !known(state.stable))) state = undefined;
    const serving = state !== undefined ? rolloutTargets(state, replicas, service.spec, now).serving : service.status.stableRevision;
    if (state === undefined || state.revision !== latest.name) {
      if (!known(serving) || serving === latest.name) {
        // The first revision, or nothing to roll out from: it serves at once.
        return undefined;
      }
      if (state !== undefined && isActive(state)) {
        events.push(rolloutEvent('RolloutSuperseded', `the rollout of ${state.revision} is superseded by ${latest.name}`));
      }
      const started = startRollout(service.spec, latest.name, serving!, now);
      state = started.state;
      events.push(started.event);
    }

    const key = `${namespace}/${name}`;
    const window = this.#window(key, state);
    const checkKey = outputCheckKey(namespace, name, state);
    const outputCheck = this.#o.outputChecks?.checker.latest(checkKey);
    const step = advanceRollout(state, { now, replicas, readyNew: ready.get(state.revision) ?? 0, ...(window ? { window } : {}), ...(outputCheck ? { outputCheck } : {}) }, service.spec);
    state = step.state;
    events.push(...step.events);
    const start = this.#windows.get(key);
    if (!isActive(state)) this.#windows.delete(key);
    else if (step.newWindow || start === undefined || start.since !== state.windowSince) {
      // A window counts only what this process saw from its first moment.
      state = { ...state, windowSince: now };
      this.#windows.set(key, { since: now, stable: this.#o.counters.snapshot(state.stable), canary: this.#o.counters.snapshot(state.revision) });
    }

    if (state.phase === 'Succeeded' && state.guard?.phase === 'Watching') {
      const guarded = this.#guard(key, state, service, now);
      state = guarded.state;
      events.push(...guarded.events);
    }
    if (state.phase === 'Succeeded' && state.guard?.phase === 'Watching') this.#guarded.set(key, state.revision);
    else {
      this.#guarded.delete(key);
      this.#guardSamples.delete(key);
    }

    store.setRollout(namespace, name, state);
    for (const e of events) store.addEvent({ ...e, namespace, service: name, revision: state.revision });
    this.#checkOutputs(service, state, checkKey);
    if (isActive(state)) this.#inProgress.set(key, { key, checkKey, state });
    else this.#inProgress.delete(key);
    return state;
  }

  /** Judges the promoted revision's burn rates (guard.ts); a fast burn rolls the rollout back. */
  #guard(key: string, state: RolloutState, service: StoredService, now: number): { state: RolloutState; events: RolloutEvent[] } {
    const id = `${state.revision}/${state.guard!.since}`;
    const earlier = this.#guardSamples.get(key);
    const samples = earlier?.id === id ? earlier.samples : [];
    const decision = decideGuard(state.guard!, samples, this.#o.counters.sliSnapshot(state.revision), service.spec, now);
    this.#guardSamples.set(key, { id, samples: decision.samples });
    return applyGuard(state, decision.evaluation, service.spec, now);
  }

  /** Starts the rollout's output check when one is configured and due (it reports on a later pass). */
  #checkOutputs(service: StoredService, state: RolloutState, key: string): void {
    const check = service.spec.rollout.analysis.outputCheck;
    const outputChecks = this.#o.outputChecks;
    if (check === undefined || outputChecks === undefined) return;
    const { checker, endpointUrl } = outputChecks;
    if (!isActive(state) || state.phase === 'Starting' || state.strategy === 'immediate') return;
    const { namespace, name } = service.metadata;
    const stableUrl = endpointUrl(namespace, state.stable);
    const canaryUrl = endpointUrl(namespace, state.revision);
    if (stableUrl === undefined || canaryUrl === undefined) return;
    checker.maybeRun({ key, model: name, stableUrl, canaryUrl, request: check.request, maxDelta: check.maxDelta, intervalMs: durationMs(service.spec.rollout.analysis.interval) });
  }

  /** A person's command (`karb rollout promote|abort|pause|resume`); throws 404/409 KarbErrors. */
  command(service: StoredService, command: RolloutCommand): RolloutState {
    const { store } = this.#o;
    const { namespace, name } = service.metadata;
    const state = store.getRollout<RolloutState>(namespace, name);
    if (state === undefined) {
      throw new NotFoundError(`service ${name} has no rollout: one revision serves all traffic; apply a new model or resources to start one`, 'NO_ROLLOUT');
    }
    const { state: next, event } = applyRolloutCommand(state, command, service.spec, this.#o.clock.now());
    this.#windows.delete(`${namespace}/${name}`);
    store.setRollout(namespace, name, next);
    store.addEvent({ ...event, namespace, service: name, revision: next.revision });
    return next;
  }

  /**
   * Drops the counters, output checks and windows no rollout in progress (or
   * guard after one) needs: those of the rollouts `sync` did not find in progress or guarded since the
   * last call (the reconciler calls this once per pass, after syncing every service).
   */
  forgetIdleRevisions(): void {
    const names = new Set<string>();
    const checks = new Set<string>();
    const windows = new Set<string>();
    for (const { key, checkKey, state } of this.#inProgress.values()) {
      names.add(state.revision).add(state.stable);
      checks.add(checkKey);
      windows.add(key);
    }
    this.#inProgress.clear();
    for (const revision of this.#guarded.values()) names.add(revision);
    for (const key of this.#guardSamples.keys()) if (!this.#guarded.has(key)) this.#guardSamples.delete(key);
    this.#guarded.clear();
    this.#o.counters.retain(names);
    this.#o.outputChecks?.checker.retain(checks);
    for (const key of this.#windows.keys()) if (!windows.has(key)) this.#windows.delete(key);
  }

  /** Counts since the window began, when this process saw all of it. */
  #window(key: string, state: RolloutState): { stable: WindowCounts; canary: WindowCounts } | undefined {
    const start = this.#windows.get(key);
    if (start === undefined || start.since !== state.windowSince) return undefined;
    return {
      stable: countsBetween(start.stable, this.#o.counters.snapshot(state.stable)),
      canary: countsBetween(start.canary, this.#o.counters.snapshot(state.revision)),
    };
  }
}

/** One rollout attempt: a retried rollout (a new startedAt) never sees an earlier attempt's check. */
function outputCheckKey(namespace: string, name: string, state: RolloutState): string {
  return `${namespace}/${name}/${state.revision}/${state.startedAt}`;
}
