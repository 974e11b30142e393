/**
 * Runs queued jobs: claims up to `concurrency` at a time from the store, sends
 * each through the router (dispatch-server.ts) and writes its terminal state.
 * On start it recovers what a dead process left running (at-least-once runs of
 * idempotent inference, exactly one terminal state per job). A job cancelled
 * while it runs is not interrupted: the replica finishes it and the answer is
 * discarded (the store no longer takes it).
 */
import { unref, type Clock, type TimerHandle } from '../../../util/clock.ts';
import type { Log } from '../../../util/log.ts';
import type { DispatchAnswer } from './dispatch-server.ts';
import type { JobMetrics } from './metrics.ts';
import type { Job, JobStore } from './types.ts';

export type JobDecision =
  | { action: 'complete'; state: 'succeeded' | 'failed' }
  | { action: 'retry-later'; notBeforeMs: number; reason: 'Overloaded' | 'Unreachable' };

const MAX_BACKOFF_MS = 30_000;
const NO_ROUTE_WAIT_MS = 1_000;
const ERROR_LOG_EVERY_MS = 5_000;

/**
 * What to do with a job after one dispatch (pure):
 *   | Answer                      | Decision                                  |
 *   |-----------------------------|-------------------------------------------|
 *   | 2xx                         | succeeded                                 |
 *   | 429, 503 (no capacity now)  | back to the queue after Retry-After or backoff; the TTL ends it |
 *   | none (dispatch error)       | back to the queue after backoff           |
 *   | any other status            | failed, with the replica's answer         |
 */
export function decideJob(answer: DispatchAnswer | undefined, job: Job, now: number): JobDecision {
  const backoff = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.max(0, job.attempts - 1));
  if (answer === undefined) return { action: 'retry-later', notBeforeMs: now + backoff, reason: 'Unreachable' };
  if (answer.status >= 200 && answer.status < 300) return { action: 'complete', state: 'succeeded' };
  if (answer.status === 429 || answer.status === 503) {
    const wait = answer.retryAfterSeconds !== undefined ? Math.min(MAX_BACKOFF_MS, answer.retryAfterSeconds * 1000) : backoff;
    return { action: 'retry-later', notBeforeMs: now + wait, reason: 'Overloaded' };
  }
  return { action: 'complete', state: 'failed' };
}

export interface JobWorkerOptions {
  store: JobStore;
  dispatch: (job: Job) => Promise<DispatchAnswer>;
  /** False while the service is not in the routing table (right after a restart, before the first reconcile): its jobs wait. */
  hasRoute: (service: string) => boolean;
  clock: Clock;
  metrics: JobMetrics;
  log?: Log | undefined;
  /** Jobs dispatched at once. Default 32. */
  concurrency?: number;
  /** How often the store is asked for work when the queue looked empty. Default 250 ms. */
  pollIntervalMs?: number;
  /** How often expired and old jobs are swept. Default 10 s. */
  sweepIntervalMs?: number;
}

export class JobWorker {
  readonly #o: JobWorkerOptions;
  readonly #concurrency: number;
  #inFlight = 0;
  #pumping = false;
  #again = false;
  #closed = false;
  #recovered = false;
  readonly #lastError = new Map<string, number>();
  #pollTimer: TimerHandle | undefined;
  #sweepTimer: TimerHandle | undefined;

  constructor(options: JobWorkerOptions) {
    this.#o = options;
    this.#concurrency = options.concurrency ?? 32;
  }

  /**
   * Recovers jobs a dead process left, then starts working. A store that cannot
   * be reached now (Redis down) does not stop the gateway: recovery is retried
   * at each poll, and nothing is claimed before it succeeded.
   */
  async start(): Promise<void> {
    await this.#recover();
    this.#scheduleSweep();
    this.nudge();
  }

  async #recover(): Promise<boolean> {
    if (this.#recovered) return true;
    try {
      const recovered = await this.#o.store.recover();
      this.#recovered = true;
      if (recovered.requeued + recovered.expired > 0) {
        this.#log('info', 'recovered async jobs', { requeued: recovered.requeued, expired: recovered.expired });
      }
    } catch (err) {
      this.#log('error', 'recovering async jobs failed; retrying', { error: (err as Error).message });
    }
    return this.#recovered;
  }

  /** New work may be there: claim now instead of at the next poll. */
  nudge(): void {
    if (this.#closed) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    void this.#pump();
  }

  /** Stops claiming; jobs still running stay `running` in the store and are recovered at the next start. */
  close(): void {
    this.#closed = true;
    if (this.#pollTimer !== undefined) this.#o.clock.clearTimeout(this.#pollTimer);
    if (this.#sweepTimer !== undefined) this.#o.clock.clearTimeout(this.#sweepTimer);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      if (await this.#recover()) {
        do {
          this.#again = false;
          while (!this.#closed && this.#inFlight < this.#concurrency) {
            const jobs = await this.#o.store.claim(this.#concurrency - this.#inFlight);
            if (jobs.length === 0) break;
            for (const job of jobs) {
              this.#inFlight++;
              void this.#run(job);
            }
          }
        } while (this.#again && !this.#closed);
      }
    } catch (err) {
      this.#log('error', 'claiming async jobs failed', { error: (err as Error).message });
    } finally {
      this.#pumping = false;
    }
    if (this.#closed) return;
    if (this.#pollTimer !== undefined) this.#o.clock.clearTimeout(this.#pollTimer);
    this.#pollTimer = unref(this.#o.clock.setTimeout(() => {
      this.#pollTimer = undefined;
      this.nudge();
    }, this.#o.pollIntervalMs ?? 250));
  }

  async #run(job: Job): Promise<void> {
    try {
      await this.#runOnce(job);
    } catch (err) {
      if (!this.#closed) this.#log('error', 'writing an async job failed', { job: job.id, error: (err as Error).message });
    } finally {
      this.#inFlight--;
      this.nudge();
    }
  }

  async #runOnce(job: Job): Promise<void> {
    const store = this.#o.store;
    if (!this.#o.hasRoute(job.service)) {
      // Not known yet (or deleted): wait for the table instead of failing; the TTL bounds the wait.
      await store.release(job.id, this.#o.clock.now() + NO_ROUTE_WAIT_MS);
      return;
    }
    let answer: DispatchAnswer | undefined;
    try {
      answer = await this.#o.dispatch(job);
    } catch (err) {
      if (!this.#closed) this.#log('warn', 'async job dispatch failed', { job: job.id, service: job.service, error: (err as Error).message });
    }
    if (this.#closed) return; // still running in the store: the next start recovers it
    const decision = decideJob(answer, job, this.#o.clock.now());
    // False when the job is no longer running (its owner cancelled it, or another gateway took it over):
    // the store kept its state and this answer is discarded, so there is no outcome to count.
    if (decision.action === 'complete') {
      const a = answer!;
      const written = await store.complete(job.id, { state: decision.state, status: a.status, contentType: a.contentType, body: a.body });
      if (written) this.#o.metrics.count(job.service, decision.state);
    } else if (await store.release(job.id, decision.notBeforeMs)) {
      this.#o.metrics.count(job.service, 'retried');
    }
  }

  #scheduleSweep(): void {
    if (this.#closed) return;
    this.#sweepTimer = unref(this.#o.clock.setTimeout(() => {
      this.#o.store.sweep().then(
        () => this.#scheduleSweep(),
        (err: unknown) => {
          this.#log('error', 'sweeping async jobs failed', { error: (err as Error).message });
          this.#scheduleSweep();
        },
      );
    }, this.#o.sweepIntervalMs ?? 10_000));
  }

  #log(level: string, msg: string, fields: Record<string, unknown>): void {
    // A store that is down fails every poll: one line per message per 5 s is enough.
    if (level === 'error') {
      const now = this.#o.clock.now();
      if (now - (this.#lastError.get(msg) ?? -Infinity) < ERROR_LOG_EVERY_MS) return;
      this.#lastError.set(msg, now);
    }
    this.#o.log?.({ time: new Date(this.#o.clock.now()).toISOString(), level, msg, ...fields });
  }
}

