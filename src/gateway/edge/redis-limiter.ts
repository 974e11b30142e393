/**
 * Rate-limit buckets in Redis, shared by every gateway pointed at it. One Lua
 * script refills, checks and charges all of a request's buckets atomically
 * (EVALSHA, falling back to EVAL when Redis has not cached the script), with
 * Redis's own clock, so gateways on different machines agree on time.
 *
 * When Redis cannot be reached the limiter fails open (admits, logs, counts
 * `karb_gateway_ratelimit_backend_errors_total`) or closed (refuses with 503),
 * as configured. A call waits for Redis at most `commandTimeoutMs`, so an
 * outage costs each request at most that.
 */
import { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { UnavailableError } from '../../errors.ts';
import type { Log } from '../../util/log.ts';
import { decide, type BucketSpec, type RateDecision, type RateLimiter } from './rate-limit.ts';

/** KEYS: bucket names; ARGV: rate1, burst1, rate2, burst2, ... Returns tokens×1000 per bucket after the take, then allowed. */
export const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local tokens = {}
local allowed = 1
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local s = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tk = tonumber(s[1])
  local ts = tonumber(s[2])
  if tk == nil or ts == nil then
    tk = burst
  else
    local elapsed = now - ts
    if elapsed < 0 then elapsed = 0 end
    tk = math.min(burst, tk + elapsed * rate / 1000)
  end
  tokens[i] = tk
  if tk < 1 then allowed = 0 end
end
local out = {}
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  if allowed == 1 then tokens[i] = tokens[i] - 1 end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i]), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst / rate * 1000) + 1000)
  out[i] = math.floor(tokens[i] * 1000)
end
out[n + 1] = allowed
return out
`;

const SCRIPT_SHA = createHash('sha1').update(TAKE_SCRIPT).digest('hex');

export type RedisFailureMode = 'open' | 'closed';

export class RateLimitBackendError extends UnavailableError {
  constructor(cause: unknown) {
    super('the rate-limit store is unavailable, so this gateway refuses requests for now; retry shortly', {
      code: 'RATE_LIMIT_BACKEND_UNAVAILABLE',
      retryAfterSeconds: 1,
      cause,
    });
  }
}

export interface RedisRateLimiterOptions {
  url: string;
  failure?: RedisFailureMode;
  /** Bucket names are prefixed with this (default `karb:rl:`). */
  prefix?: string;
  /** How long one Redis call may take before it counts as a failure. Default 250 ms. */
  commandTimeoutMs?: number;
  /** Called on every failed call; the gateway counts them. */
  onBackendError?: () => void;
  log?: Log;
}

export class RedisRateLimiter implements RateLimiter {
  readonly #redis: Redis;
  readonly #failure: RedisFailureMode;
  readonly #prefix: string;
  readonly #onError: () => void;
  readonly #log: Log | undefined;
  #lastLogMs = 0;

  constructor(options: RedisRateLimiterOptions) {
    this.#redis = new Redis(options.url, {
      // Queued while (re)connecting, but never longer than commandTimeout: startup and
      // outages cost a request at most that, then the failure mode answers.
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 250,
      connectTimeout: 1000,
      lazyConnect: false,
      // Keep trying to reconnect in the background, at most once a second.
      retryStrategy: (times) => Math.min(times * 100, 1000),
    });
    // Errors are handled per call; without a listener ioredis would print them.
    this.#redis.on('error', () => {});
    this.#failure = options.failure ?? 'open';
    this.#prefix = options.prefix ?? 'karb:rl:';
    this.#onError = options.onBackendError ?? (() => {});
    this.#log = options.log;
  }

  async take(specs: readonly BucketSpec[]): Promise<RateDecision> {
    const keys = specs.map((s) => this.#prefix + s.key);
    const args: (string | number)[] = [];
    for (const s of specs) args.push(s.rate, s.burst);
    let reply: number[];
    try {
      reply = (await this.#eval(keys, args)) as number[];
    } catch (err) {
      return this.#failed(specs, err);
    }
    const tokens = specs.map((_, i) => Number(reply[i]) / 1000);
    return decide(specs, tokens, Number(reply[specs.length]) === 1);
  }

  async #eval(keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.#redis.evalsha(SCRIPT_SHA, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return this.#redis.eval(TAKE_SCRIPT, keys.length, ...keys, ...args);
    }
  }

  #failed(specs: readonly BucketSpec[], err: unknown): RateDecision {
    this.#onError();
    const now = Date.now();
    if (this.#log !== undefined && now - this.#lastLogMs > 5000) {
      // At most one line every 5 s: an outage must not flood the log.
      this.#lastLogMs = now;
      this.#log({
        level: 'warn',
        msg: `rate-limit store unreachable; failing ${this.#failure}`,
        error: err instanceof Error ? err.message : String(err),
      });
    }
    if (this.#failure === 'closed') throw new RateLimitBackendError(err);
    const spec = specs[0]!;
    return { allowed: true, limiting: spec, remaining: Math.floor(spec.burst), resetSeconds: 0, retryAfterSeconds: 0 };
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
