/**
 * A task run every `periodMs` on an injected clock, for the control plane's loops (autoscaling,
 * drift watch, dashboard history). The next run is timed from the end of the last, so runs never
 * overlap; the timer is unref'd (it never keeps the process alive); a run that throws or rejects
 * is reported to `onError` and the task goes on. `stop()` resolves once the run in flight, if
 * any, has ended, so that what it writes to is not closed under it.
 */
import { unref, type Clock, type TimerHandle } from './clock.ts';

export interface PeriodicTaskOptions {
  clock: Clock;
  periodMs: number;
  /** One run; a promise keeps the next from starting until it settles. */
  run: () => void | Promise<void>;
  /** A run that threw or rejected; the task continues. */
  onError?: (err: unknown) => void;
}

export class PeriodicTask {
  readonly #o: PeriodicTaskOptions;
  #started = false;
  #timer: TimerHandle | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(options: PeriodicTaskOptions) {
    this.#o = options;
  }

  /** The first run comes one period from now. Starting a started task does nothing. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    // A run still in flight from before a stop schedules the next when it ends.
    if (this.#inFlight === undefined) this.#schedule();
  }

  /** No more runs; resolves when the run in flight (if any) has ended. */
  stop(): Promise<void> {
    this.#started = false;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    return this.#inFlight ?? Promise.resolve();
  }

  #schedule(): void {
    this.#timer = unref(this.#o.clock.setTimeout(() => this.#fire(), this.#o.periodMs));
  }

  #fire(): void {
    this.#timer = undefined;
    if (!this.#started) return;
    let result: void | Promise<void> = undefined;
    try {
      result = this.#o.run();
    } catch (err) {
      this.#o.onError?.(err);
    }
    // A synchronous run is over: the next is scheduled at once (a manual clock's advance fires it too).
    if (!(result instanceof Promise)) {
      if (this.#started) this.#schedule();
      return;
    }
    this.#inFlight = result
      .catch((err: unknown) => this.#o.onError?.(err))
      .finally(() => {
        this.#inFlight = undefined;
        if (this.#started && this.#timer === undefined) this.#schedule();
      });
  }
}
