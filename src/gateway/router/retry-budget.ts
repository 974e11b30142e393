/**
 * The retry budget, per service, two rules that both must allow a retry:
 *
 * - concurrency (Envoy's `retry_budget`): retries in flight stay below
 *   max(`minConcurrent`, `ratio` × the requests in flight that are not
 *   retrying themselves);
 * - ratio (Linkerd's retry budget): every request earns `ratio` of a retry and
 *   every retry spends one; a service starts with `maxBanked` retries banked
 *   and never banks more. So over any run, retries ≤ ratio × requests +
 *   `maxBanked`, whatever the timing: when every replica fails, upstream
 *   attempts per request stay ≤ 1 + ratio plus that small floor. The bank
 *   lets a quiet service retry the few failures it takes to eject a replica.
 *
 * karb retries in exactly one place, this gateway; replicas never retry, so
 * no layer multiplies another's retries. A retry holds its concurrency slot
 * from the moment it is decided (through the backoff) until the request's
 * next retry decision or its end. A request's first retry after a connection
 * failure (connect error, reset) is not drawn from this budget at all: a
 * replica that dies fails its whole share of the requests at once, more than
 * these floors allow, and retrying them adds no load (retry.ts
 * `isConnectionFailure`).
 */
export interface RetryBudgetOptions {
  /** Retries per request. Default 0.2. */
  ratio?: number;
  /** Retries in flight always allowed (the concurrency floor). Default 10: a replica killed under load fails several requests at once, and each must get its retry. */
  minConcurrent?: number;
  /** Retries a service starts with and may bank at most (the ratio floor). Default 10. */
  maxBanked?: number;
}

export const DEFAULT_RETRY_BUDGET_RATIO = 0.2;
export const DEFAULT_RETRY_BUDGET_MIN_CONCURRENT = 10;
export const DEFAULT_RETRY_BUDGET_MAX_BANKED = 10;

/** Pure: may one more retry start, given the requests and the retries in flight now? */
export function retryAllowed(active: number, retriesInFlight: number, ratio: number, minConcurrent: number): boolean {
  return retriesInFlight < Math.max(minConcurrent, Math.floor(ratio * (active - retriesInFlight)));
}

interface Counts {
  active: number;
  retries: number;
  banked: number;
}

export class RetryBudget {
  readonly #counts = new Map<string, Counts>();
  readonly #ratio: number;
  readonly #min: number;
  readonly #maxBanked: number;

  constructor(options: RetryBudgetOptions = {}) {
    this.#ratio = options.ratio ?? DEFAULT_RETRY_BUDGET_RATIO;
    this.#min = options.minConcurrent ?? DEFAULT_RETRY_BUDGET_MIN_CONCURRENT;
    this.#maxBanked = options.maxBanked ?? DEFAULT_RETRY_BUDGET_MAX_BANKED;
  }

  requestStarted(service: string): void {
    const c = this.#get(service);
    c.active++;
    c.banked = Math.min(this.#maxBanked, c.banked + this.#ratio);
  }

  requestFinished(service: string): void {
    const c = this.#get(service);
    c.active--;
    this.#forgetIfIdle(service, c);
  }

  /** Takes a retry (a concurrency slot and one banked retry) if the budget allows one. */
  tryAcquire(service: string): boolean {
    const c = this.#get(service);
    if (c.banked < 1 || !retryAllowed(c.active, c.retries, this.#ratio, this.#min)) {
      this.#forgetIfIdle(service, c);
      return false;
    }
    c.retries++;
    c.banked -= 1;
    return true;
  }

  /** Gives back the concurrency slot (the banked retry stays spent). */
  release(service: string): void {
    const c = this.#get(service);
    c.retries--;
    this.#forgetIfIdle(service, c);
  }

  active(service: string): number {
    return this.#counts.get(service)?.active ?? 0;
  }

  retriesInFlight(service: string): number {
    return this.#counts.get(service)?.retries ?? 0;
  }

  #get(service: string): Counts {
    let c = this.#counts.get(service);
    if (c === undefined) {
      c = { active: 0, retries: 0, banked: this.#maxBanked };
      this.#counts.set(service, c);
    }
    return c;
  }

  /** An idle service is forgotten only when forgetting it grants nothing it did not have. */
  #forgetIfIdle(service: string, c: Counts): void {
    if (c.active <= 0 && c.retries <= 0 && c.banked >= this.#maxBanked) this.#counts.delete(service);
  }
}
