/**
 * Errors of the OpenAI-compatible API, answered in OpenAI's shape:
 * `{ "error": { "message", "type", "param", "code" } }`. `param` names the
 * request field at fault (null when none), so clients can point at it.
 */
import { KarbError } from '../../errors.ts';

export class OpenAIRequestError extends KarbError {
  readonly param: string | null;
  readonly openaiType: string;

  constructor(message: string, options: { param?: string | null; code?: string; status?: number; type?: string } = {}) {
    super(options.code ?? 'invalid_value', message, { status: options.status ?? 400 });
    this.param = options.param ?? null;
    this.openaiType = options.type ?? 'invalid_request_error';
  }
}

/** The OpenAI type for an HTTP status, for errors that carry none of their own. */
export function openAIErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The response body for any error; a KarbError's stable code is sent in lower case, as OpenAI spells codes. */
export function openAIErrorBody(err: KarbError): string {
  const param = err instanceof OpenAIRequestError ? err.param : null;
  const type = err instanceof OpenAIRequestError ? err.openaiType : openAIErrorType(err.status);
  return JSON.stringify({ error: { message: err.message, type, param, code: err.code.toLowerCase() } });
}
