/**
 * Time limits of one request. The overall deadline (absolute, on the
 * gateway's clock) bounds the whole routing of a request — queueing, every
 * attempt, every backoff — until its response starts; a per-try timeout
 * bounds one attempt. Once a replica has started answering, the body timeout
 * of the upstream pool (time between chunks) governs, so long streams live.
 */
import { KarbError } from '../../errors.ts';

/** The overall deadline passed: 504, never retried. */
export class DeadlineExceededError extends KarbError {
  constructor(model: string, deadlineMs: number) {
    super(
      'DEADLINE_EXCEEDED',
      `model '${model}' did not start answering within the request deadline of ${deadlineMs} ms; ` +
        'send a larger x-karb-timeout-ms or retry later',
      { status: 504 },
    );
  }
}

/** One attempt ran past the per-try timeout; retried on another replica when the budget allows. */
export class TryTimeoutError extends KarbError {
  constructor(model: string, replica: string, timeoutMs: number) {
    super('TRY_TIMEOUT', `replica '${replica}' of model '${model}' did not answer within ${timeoutMs} ms`, { status: 504 });
  }
}
