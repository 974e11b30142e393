/**
 * Token-bucket rate limits. A request takes one token from every bucket that
 * applies to it (its key's, its service's) or from none: the buckets are
 * checked together and only charged when all of them admit it.
 *
 * A bucket holds up to `burst` tokens and refills at `rate` tokens per second,
 * so over any interval T it admits at most `burst + rate·T` requests — the
 * burst is the documented tolerance above the steady rate.
 *
 * `takeTokens` is the pure decision (time passed in); `LocalRateLimiter` keeps
 * buckets in this process; `RedisRateLimiter` (redis-limiter.ts) keeps them in
 * Redis with the same arithmetic in one Lua script, so several gateways share them.
 */
import type { Clock } from '../../util/clock.ts';

export interface BucketSpec {
  /** Unique bucket name, e.g. `key:<id>` or `svc:<namespace>/<name>`. */
  key: string;
  /** Tokens per second. */
  rate: number;
  /** Bucket size. */
  burst: number;
  /** Which limit this is, for metrics and messages. */
  scope: 'key' | 'service';
}

export interface BucketState {
  tokens: number;
  updatedMs: number;
}

export interface RateDecision {
  allowed: boolean;
  /** The bucket that refused the request, or the one with the fewest tokens left. */
  limiting: BucketSpec;
  /** Whole tokens left in the limiting bucket after this request. */
  remaining: number;
  /** Seconds until the limiting bucket is full again. */
  resetSeconds: number;
  /** Seconds until a refused request could be admitted; 0 when admitted. */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  /** Takes one token from every bucket or from none; `specs` is never empty. */
  take(specs: readonly BucketSpec[]): RateDecision | Promise<RateDecision>;
  close(): Promise<void>;
}

/** The default burst of a limit given only its rate. */
export function defaultBurst(rate: number): number {
  return Math.max(1, Math.ceil(rate * 2));
}

/**
 * Refills each bucket to `nowMs`, then takes one token from all of them if
 * every one holds at least one. Returns the decision and the buckets' new states
 * (the same objects, updated in place when given).
 */
export function takeTokens(
  specs: readonly BucketSpec[],
  states: (BucketState | undefined)[],
  nowMs: number,
): { decision: RateDecision; states: BucketState[] } {
  const next: BucketState[] = [];
  let allowed = true;
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!;
    const s = states[i];
    const tokens = s === undefined ? spec.burst : Math.min(spec.burst, s.tokens + (Math.max(0, nowMs - s.updatedMs) * spec.rate) / 1000);
    const state = s ?? { tokens, updatedMs: nowMs };
    state.tokens = tokens;
    state.updatedMs = nowMs;
    next.push(state);
    if (tokens < 1) allowed = false;
  }
  if (allowed) for (const s of next) s.tokens -= 1;
  return { decision: decide(specs, next.map((s) => s.tokens), allowed), states: next };
}

/** Builds the decision from the buckets' token counts after the take. */
export function decide(specs: readonly BucketSpec[], tokens: readonly number[], allowed: boolean): RateDecision {
  let at = 0;
  // The emptiest bucket: when refused, it is one that had no whole token.
  for (let i = 1; i < specs.length; i++) if (tokens[i]! < tokens[at]!) at = i;
  const spec = specs[at]!;
  const left = tokens[at]!;
  return {
    allowed,
    limiting: spec,
    remaining: Math.max(0, Math.floor(left)),
    resetSeconds: Math.max(0, Math.ceil((spec.burst - left) / spec.rate)),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - left) / spec.rate)),
  };
}

/** Buckets in this process's memory: exact for one gateway, per process for several. */
export class LocalRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, BucketState>();
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  take(specs: readonly BucketSpec[]): RateDecision {
    const states: (BucketState | undefined)[] = [];
    for (const spec of specs) states.push(this.#buckets.get(spec.key));
    const { decision, states: next } = takeTokens(specs, states, this.#clock.now());
    for (let i = 0; i < specs.length; i++) if (states[i] === undefined) this.#buckets.set(specs[i]!.key, next[i]!);
    return decision;
  }

  async close(): Promise<void> {}
}
