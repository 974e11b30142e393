import { InvalidRequestError, KarbError, NotFoundError, UnavailableError } from '../../../errors.ts';
import { OpenAIRequestError } from '../../../api/openai-errors.ts';
import type { TerminalJobState } from './types.ts';

export class AsyncNotEnabledError extends InvalidRequestError {
  constructor(service: string) {
    super(
      `service '${service}' does not accept async requests; set spec.traffic.async.enabled: true in its InferenceService (karb apply -f), or send the request without 'Prefer: respond-async'`,
      { code: 'ASYNC_NOT_ENABLED' },
    );
  }
}

export class AsyncStreamError extends InvalidRequestError {
  constructor() {
    super(`an async job stores one complete answer; send 'stream': false (or leave it out) with 'Prefer: respond-async'`, { code: 'ASYNC_STREAM_UNSUPPORTED' });
  }
}

export class JobQueueFullError extends UnavailableError {
  constructor(service: string, maxQueued: number) {
    super(`service '${service}' already has ${maxQueued} async jobs waiting (spec.traffic.async.maxQueued); retry later`, {
      code: 'ASYNC_QUEUE_FULL',
      status: 429,
      retryAfterSeconds: 5,
    });
  }
}

/** Unknown ids and other keys' jobs get the same answer, so ids cannot be probed. */
export class JobNotFoundError extends NotFoundError {
  constructor() {
    super('job not found; job ids come from the Location header of a 202 answer and are visible only to the key that created them', 'JOB_NOT_FOUND');
  }
}

/** DELETE /v1/jobs/{id} of a job that already ended: its state is final, so there is nothing to cancel. */
export class JobAlreadyFinishedError extends KarbError {
  constructor(state: TerminalJobState) {
    super('JOB_ALREADY_FINISHED', `the job is already ${state}; only queued or running jobs can be cancelled`, { status: 409 });
  }
}

/**
 * A bad `GET /v1/jobs` query parameter. An OpenAIRequestError only so that the
 * OpenAI error shape names the parameter in `param`.
 */
export class JobListQueryError extends OpenAIRequestError {
  constructor(param: string, message: string) {
    super(message, { code: 'INVALID_JOB_QUERY', param });
  }
}

/** The job store (Redis) could not be reached; the caller may retry. */
export class JobStoreUnavailableError extends UnavailableError {
  constructor(cause: unknown) {
    super('async jobs are unavailable right now (the job store did not answer); retry shortly', {
      code: 'JOB_STORE_UNAVAILABLE',
      retryAfterSeconds: 2,
      cause,
    });
  }
}
