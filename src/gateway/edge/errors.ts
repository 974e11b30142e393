/**
 * Failures of the edge steps. Their messages never contain a key or any part
 * of one: a refused caller learns that it was refused, not why its key failed.
 */
import { InvalidRequestError, KarbError, UnavailableError } from '../../errors.ts';

/** Every kind of bad key gets this one message. */
export const INVALID_KEY_MESSAGE = 'invalid or missing API key';

export class UnauthenticatedError extends KarbError {
  constructor() {
    super('UNAUTHENTICATED', INVALID_KEY_MESSAGE, { status: 401 });
  }
}

export class ForbiddenModelError extends KarbError {
  constructor(model: string) {
    super('FORBIDDEN', `this API key may not call model '${clip(model)}'; use a key scoped to its namespace and service`, { status: 403 });
  }
}

export class RateLimitedError extends UnavailableError {
  constructor(scope: 'key' | 'service', rate: number, model: string, retryAfterSeconds: number) {
    const whose = scope === 'key' ? 'this API key' : `model '${clip(model)}'`;
    super(`rate limit of ${rate} requests/s for ${whose} exceeded; retry after ${retryAfterSeconds} s`, {
      code: 'RATE_LIMITED',
      status: 429,
      retryAfterSeconds,
    });
  }
}

export class KeyCheckUnavailableError extends UnavailableError {
  constructor(cause: unknown) {
    super('the gateway cannot verify API keys right now (control plane unreachable); retry shortly', {
      code: 'KEY_CHECK_UNAVAILABLE',
      retryAfterSeconds: 1,
      cause,
    });
  }
}

export class BadTimeoutHeaderError extends InvalidRequestError {
  constructor(value: string) {
    super(`x-karb-timeout-ms must be a whole number of milliseconds greater than 0 (got '${clip(value)}')`, { code: 'BAD_TIMEOUT_HEADER' });
  }
}

function clip(s: string): string {
  return s.length <= 100 ? s : `${s.slice(0, 100)}…`;
}
