/**
 * Failures the gateway reports to callers. Each has a stable `code` and an HTTP
 * `status`; `Exchange.fail` turns any of them into a response once, at the edge.
 */
import { InvalidRequestError, KarbError, MethodNotAllowedError, NotFoundError, PayloadTooLargeError, UnavailableError } from '../../errors.ts';

export class PathNotFoundError extends NotFoundError {
  constructor(method: string, path: string) {
    super(
      `no route for ${method} ${clip(path)}; the gateway serves GET /v2/health/live, GET /v2/health/ready, ` +
        'GET /v2/models/{name}, GET /v2/models/{name}/ready, POST /v2/models/{name}[/versions/{v}]/infer and the OpenAI API under /v1',
      'PATH_NOT_FOUND',
    );
  }
}

export class ModelNotFoundError extends NotFoundError {
  constructor(model: string) {
    super(`model '${clip(model)}' not found; karb get services lists the served models`, 'MODEL_NOT_FOUND');
  }
}

/** One class for every server's 405 (its `headers()` give the `Allow` header); re-exported for the gateway's steps. */
export { MethodNotAllowedError };

/** The gateway's 413: whose limit the body passed, and what the caller can do about it. */
export function bodyTooLarge(limitBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError(
    limitBytes,
    `request body is larger than the gateway's limit of ${limitBytes} bytes; send fewer inputs per request or raise the gateway body limit`,
  );
}

export class NoReadyEndpointError extends UnavailableError {
  /** With `revision`: the request named that revision (`x-karb-revision`) and it alone has nothing ready. */
  constructor(model: string, revision?: string) {
    super(
      revision === undefined
        ? `model '${clip(model)}' has no ready replica right now; retry shortly (karb get services shows its replicas)`
        : `revision '${clip(revision)}' of model '${clip(model)}' has no ready replica right now; retry shortly`,
      { code: 'NO_READY_ENDPOINT', retryAfterSeconds: 1 },
    );
  }
}

/** A `versions/{v}` segment that is not a plain name (percent-encoded, `..`, too long). */
export class InvalidVersionError extends InvalidRequestError {
  constructor(version: string) {
    super(
      `model version '${clip(version)}' is not a version name: letters, digits, '.', '_' and '-', starting with a letter or digit, ` +
        'at most 64 characters (POST /v2/models/{name}/versions/{v}/infer)',
      { code: 'INVALID_MODEL_VERSION' },
    );
  }
}

/** `x-karb-revision` is not something a revision could be called; nothing was looked up. */
export class InvalidRevisionHeaderError extends InvalidRequestError {
  constructor(header: string, value: string, maxLength: number) {
    super(
      `header ${header} '${clip(value)}' is not a revision name: one name of lowercase letters, digits and '-', ` +
        `starting and ending with a letter or digit, at most ${maxLength} characters`,
      { code: 'INVALID_REVISION_HEADER' },
    );
  }
}

/** `x-karb-revision` names a revision the routing table does not list for this model. */
export class RevisionNotRoutableError extends NotFoundError {
  constructor(revision: string, model: string, routable: readonly string[]) {
    super(
      `revision ${clip(revision)} is not routable for model ${clip(model)}; routable: ${routable.length === 0 ? '(none)' : routable.join(', ')}`,
      'REVISION_NOT_ROUTABLE',
    );
  }
}

/** The replica could not be reached or broke the connection before answering. */
export class UpstreamUnreachableError extends KarbError {
  constructor(model: string, replica: string, reason: string, cause?: unknown) {
    super('UPSTREAM_UNREACHABLE', `replica '${replica}' of model '${clip(model)}' could not be reached (${reason})`, {
      status: 502,
      cause,
    });
  }
}

/** The replica accepted the request but did not answer within the upstream timeout. */
export class UpstreamTimeoutError extends KarbError {
  constructor(model: string, replica: string, timeoutMs: number, cause?: unknown) {
    super('UPSTREAM_TIMEOUT', `replica '${replica}' of model '${clip(model)}' did not answer within ${timeoutMs} ms`, {
      status: 504,
      cause,
    });
  }
}

/** Echoed caller input is cut short so an error message stays readable. */
function clip(s: string): string {
  return s.length <= 200 ? s : `${s.slice(0, 200)}…`;
}
