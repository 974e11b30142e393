/**
 * One error base for karb. Every failure a caller can see carries a stable `code`
 * (never reworded once shipped) and, where it maps to HTTP, a `status`.
 * The gateway and control plane turn these into responses once, at the edge.
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
}

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

/** Temporarily unable to serve; the caller should retry after `retryAfterSeconds`. */
export class UnavailableError extends KarbError {
  readonly retryAfterSeconds: number;
  constructor(message: string, options: { code?: string; retryAfterSeconds?: number; status?: number; cause?: unknown } = {}) {
    super(options.code ?? 'UNAVAILABLE', message, { status: options.status ?? 503, cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}

export function isKarbError(err: unknown): err is KarbError {
  return err instanceof KarbError;
}
