/**
 * One error base for karb. Every failure a caller can see carries a stable `code`
 * (never reworded once shipped) and, where it maps to HTTP, a `status` and the
 * response headers it implies (`headers()`). The gateway, the model servers and
 * the control plane turn these into responses once, at the edge, without asking
 * which subclass they hold. Failures that more than one layer reports (a full
 * queue, a method a path does not take, a body over the limit, a command-line
 * mistake) have one class here, with the message each place needs.
 */
export class KarbError extends Error {
  readonly code: string;
  readonly status: number;
  /** Optional structured details safe to show a caller (never secrets). */
  readonly details?: unknown;

  constructor(code: string, message: string, options: { status?: number; cause?: unknown; details?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? 500;
    this.details = options.details;
  }

  /**
   * Response headers that belong with this error (lower-case names): `retry-after`
   * for a retryable refusal, `allow` for a 405. Most errors have none; the shared
   * empty object is frozen, so callers copy rather than write into it.
   */
  headers(): Readonly<Record<string, string>> {
    return NO_HEADERS;
  }
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** The caller sent something karb cannot accept (4xx). */
export class InvalidRequestError extends KarbError {
  constructor(message: string, options: { code?: string; status?: number; details?: unknown; cause?: unknown } = {}) {
    super(options.code ?? 'INVALID_REQUEST', message, { status: options.status ?? 400, details: options.details, cause: options.cause });
  }
}

export class NotFoundError extends KarbError {
  constructor(message: string, code = 'NOT_FOUND') {
    super(code, message, { status: 404 });
  }
}

/** Temporarily unable to serve; the caller should retry after `retryAfterSeconds` (sent as `Retry-After`). */
export class UnavailableError extends KarbError {
  readonly retryAfterSeconds: number;
  constructor(message: string, options: { code?: string; retryAfterSeconds?: number; status?: number; cause?: unknown } = {}) {
    super(options.code ?? 'UNAVAILABLE', message, { status: options.status ?? 503, cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }

  override headers(): Readonly<Record<string, string>> {
    return { 'retry-after': String(this.retryAfterSeconds) };
  }
}

/**
 * A queue in front of the work is full: the gateway's admission queue (429 when
 * the service takes async jobs, so the caller can queue one instead; 503 otherwise)
 * or a model server's batch queue (503). Always retryable.
 */
export class QueueFullError extends UnavailableError {
  constructor(message: string, options: { status?: 429 | 503; retryAfterSeconds?: number } = {}) {
    super(message, { code: 'QUEUE_FULL', status: options.status ?? 503, retryAfterSeconds: options.retryAfterSeconds ?? 1 });
  }
}

/** A path answered only to other methods; `allow` lists them and becomes the `Allow` header. */
export class MethodNotAllowedError extends KarbError {
  readonly allow: string;
  constructor(method: string, path: string, allow: string) {
    super('METHOD_NOT_ALLOWED', `${clip(method)} is not allowed on ${clip(path)}; use ${allow}`, { status: 405 });
    this.allow = allow;
  }

  override headers(): Readonly<Record<string, string>> {
    return { allow: this.allow };
  }
}

/**
 * A request body over the limit (413). The message says whose limit and what to do
 * about it, so each server passes its own; the code is the same everywhere.
 */
export class PayloadTooLargeError extends InvalidRequestError {
  readonly limitBytes: number;
  constructor(limitBytes: number, message = `request body is larger than the limit of ${limitBytes} bytes`) {
    super(message, { code: 'PAYLOAD_TOO_LARGE', status: 413 });
    this.limitBytes = limitBytes;
  }
}

/**
 * A mistake on a command line (an unknown flag, a value out of range, a missing
 * argument): every karb command prints the message and exits 2, where any other
 * failure exits 1.
 */
export class UsageError extends KarbError {
  readonly exitCode = 2;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('USAGE', message, { status: 400, cause: options.cause });
  }
}

export function isKarbError(err: unknown): err is KarbError {
  return err instanceof KarbError;
}

/** Echoed caller input is cut short so an error message stays readable. */
function clip(s: string): string {
  return s.length <= 200 ? s : `${s.slice(0, 200)}…`;
}
