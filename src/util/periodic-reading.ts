/**
 * A reading of the outside world repeated every period (the control plane's drift and
 * replica-load watches, which call replicas over HTTP): readings never overlap, and a `tick()`
 * while one is in flight joins it. `stop()` is for good: it aborts the reading in flight through
 * the signal the reading was given, and resolves once that reading has ended, so that what it
 * writes to can be closed after it. A reading that fails is reported to `onError`.
 */
import type { Clock } from './clock.ts';
import { PeriodicTask } from './periodic-task.ts';

export interface PeriodicReadingOptions {
  clock: Clock;
  periodMs: number;
  /** One reading; it should end soon after `signal` aborts, and then record nothing. */
  read: (signal: AbortSignal) => Promise<void>;
  onError?: (err: unknown) => void;
}

export class PeriodicReading {
  readonly #read: (signal: AbortSignal) => Promise<void>;
  readonly #task: PeriodicTask;
  readonly #stopping = new AbortController();
  #reading: Promise<void> | undefined;

  constructor(options: PeriodicReadingOptions) {
    this.#read = options.read;
    this.#task = new PeriodicTask({ clock: options.clock, periodMs: options.periodMs, run: () => this.tick(), ...(options.onError ? { onError: options.onError } : {}) });
  }

  /** Reads every period until stopped; a stopped reading does not start again. */
  start(): void {
    if (!this.#stopping.signal.aborted) this.#task.start();
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#task.stop();
    // Its failure, if any, was reported by the task or belongs to whoever called tick().
    await this.#reading?.catch(() => undefined);
  }

  /** One reading now; one in progress is joined, not repeated. */
  tick(): Promise<void> {
    if (this.#stopping.signal.aborted) return Promise.resolve();
    this.#reading ??= this.#read(this.#stopping.signal).finally(() => (this.#reading = undefined));
    return this.#reading;
  }
}
