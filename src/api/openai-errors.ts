/**
 * OpenAI's error shape, `{ "error": { "message", "type", "param", "code" } }`, in one
 * place for both layers that answer OpenAI clients: the gateway (every answer on
 * /v1, including its own refusals) and the model server's OpenAI face. Here, in
 * src/api, because the gateway and the model server may both import it and must
 * not import each other.
 */
import { KarbError } from '../errors.ts';

/**
 * A request the OpenAI API refuses, naming the request field at fault in `param`
 * (null when none) so that clients can point at it. The code is sent in lower case.
 */
export class OpenAIRequestError extends KarbError {
  readonly param: string | null;

  constructor(message: string, options: { param?: string | null; code?: string; status?: number } = {}) {
    super(options.code ?? 'invalid_value', message, { status: options.status ?? 400 });
    this.param = options.param ?? null;
  }
}

/** The OpenAI `type` of an error with this HTTP status. */
export function openAIErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The response body for any KarbError; its stable code is sent in lower case, as OpenAI spells codes. */
export function openAIErrorJson(err: KarbError): string {
  const param = err instanceof OpenAIRequestError ? err.param : null;
  return JSON.stringify({ error: { message: err.message, type: openAIErrorType(err.status), param, code: err.code.toLowerCase() } });
}
