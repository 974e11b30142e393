/**
 * How many failed requests the access log writes. A successful request is one
 * line, as always; a failed one is a line only while its class's token bucket
 * has a token (10 a second, bursts of 100), so a flood of bad requests (54k
 * unauthenticated calls in 5 s, say) costs a few lines a second instead of
 * megabytes. Client errors (4xx, and 499 for a caller that left) and server
 * errors (5xx) have a bucket each, so a flood of the first never hides the
 * second. Every request is still counted in `karb_gateway_requests_total`;
 * the first line written after some were left out says how many
 * (`unloggedBefore`), and `karb_gateway_log_lines_dropped_total{class}` counts
 * them.
 */
import { Counter, type Registry } from 'prom-client';

export type FailureClass = 'client_error' | 'server_error';

export interface FailureLogBudget {
  /** Lines a second each class may write, on average. */
  perSecond: number;
  /** Lines a class may write at once after a quiet spell. */
  burst: number;
}

export const DEFAULT_FAILURE_LOG_BUDGET: FailureLogBudget = { perSecond: 10, burst: 100 };

/** One class's bucket: pure, time passed in. */
export class LogLineBucket {
  readonly #budget: FailureLogBudget;
  #tokens: number;
  #at: number;
  /** Lines left out since the last one written. */
  #dropped = 0;

  constructor(budget: FailureLogBudget, now: number) {
    this.#budget = budget;
    this.#tokens = budget.burst;
    this.#at = now;
  }

  /**
   * Whether a line may be written now. Returns -1 when it may not (the line is
   * counted as dropped), else how many were dropped before it (0 usually).
   */
  take(now: number): number {
    const elapsed = now - this.#at;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#budget.burst, this.#tokens + (elapsed / 1000) * this.#budget.perSecond);
      this.#at = now;
    }
    if (this.#tokens < 1) {
      this.#dropped++;
      return -1;
    }
    this.#tokens -= 1;
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }
}

export class FailureLog {
  readonly #client: LogLineBucket;
  readonly #server: LogLineBucket;
  readonly #dropped: Counter<'class'>;

  constructor(registry: Registry, now: number, budget: FailureLogBudget = DEFAULT_FAILURE_LOG_BUDGET) {
    this.#client = new LogLineBucket(budget, now);
    this.#server = new LogLineBucket(budget, now);
    this.#dropped = new Counter({
      name: 'karb_gateway_log_lines_dropped_total',
      help: 'Failed requests left out of the access log by its rate limit (every request is still in karb_gateway_requests_total)',
      labelNames: ['class'],
      registers: [registry],
    });
  }

  /** For a failed request (status >= 400): -1 to leave it out, else the count of lines left out before it. */
  take(status: number, now: number): number {
    const cls: FailureClass = status >= 500 ? 'server_error' : 'client_error';
    const dropped = (cls === 'server_error' ? this.#server : this.#client).take(now);
    if (dropped === -1) this.#dropped.inc({ class: cls });
    return dropped;
  }
}
