/**
 * Validation of OpenAI API request bodies (pure). Each parser takes the raw
 * body bytes and returns a typed request, or throws an OpenAIRequestError whose
 * `param` names the field at fault and whose message says how to fix it.
 * Fields the server does not act on (user, presence_penalty, …) are accepted
 * and ignored, as OpenAI-compatible servers commonly do; features it cannot
 * honour (n > 1, logprobs) are refused rather than silently dropped.
 */
import { OpenAIRequestError } from '../../api/openai-errors.ts';

export interface SamplingRequest {
  model: string;
  /** undefined: as many as the context allows (chat) or 16 (completions, as OpenAI's default). */
  maxTokens: number | undefined;
  /** The caller set max_tokens: a value past the context window is then an error, not silently cut. */
  maxTokensExplicit: boolean;
  temperature: number;
  topP: number;
  seed: number | undefined;
  stop: string[];
  stream: boolean;
  /** stream_options.include_usage: a last chunk with usage and no choices. */
  streamUsage: boolean;
}

export interface CompletionRequest extends SamplingRequest {
  prompt: string;
}

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface ChatRequest extends SamplingRequest {
  messages: ChatMessage[];
}

export interface EmbeddingsRequest {
  model: string;
  inputs: string[];
  encodingFormat: 'float' | 'base64';
}

export const MAX_STOP_SEQUENCES = 4;
export const MAX_EMBEDDING_INPUTS = 256;

const CHAT_ROLES: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

export function parseJsonObject(body: Buffer | string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (err) {
    throw new OpenAIRequestError(`the request body is not valid JSON (${(err as Error).message}); send a JSON object with Content-Type: application/json`, {
      code: 'invalid_json',
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OpenAIRequestError('the request body must be a JSON object, e.g. {"model": "tiny-lm", ...}', { code: 'invalid_json' });
  }
  return value as Record<string, unknown>;
}

export function parseChatRequest(body: Buffer | string): ChatRequest {
  const o = parseJsonObject(body);
  const messages = o.messages;
  if (messages === undefined) throw missing('messages', 'a list of {"role": "user", "content": "..."} objects');
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalid('messages', 'must be a non-empty array of {"role", "content"} objects');
  }
  return { ...sampling(o, undefined), messages: messages.map(chatMessage) };
}

export function parseCompletionRequest(body: Buffer | string): CompletionRequest {
  const o = parseJsonObject(body);
  let prompt = o.prompt;
  if (prompt === undefined) throw missing('prompt', 'a string');
  if (Array.isArray(prompt)) {
    if (prompt.length !== 1 || typeof prompt[0] !== 'string') {
      throw invalid('prompt', 'must be a string (or an array of exactly one string); this server completes one prompt per request', 'unsupported_value');
    }
    prompt = prompt[0];
  }
  if (typeof prompt !== 'string') throw invalid('prompt', `must be a string, got ${describe(prompt)}`);
  return { ...sampling(o, 16), prompt };
}

export function parseEmbeddingsRequest(body: Buffer | string): EmbeddingsRequest {
  const o = parseJsonObject(body);
  const model = modelName(o);
  const input = o.input;
  if (input === undefined) throw missing('input', 'a string or an array of strings');
  const inputs = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((i) => typeof i === 'string')) {
    throw invalid('input', 'must be a string or a non-empty array of strings (token arrays are not supported)');
  }
  if (inputs.length > MAX_EMBEDDING_INPUTS) throw invalid('input', `holds ${inputs.length} strings; send at most ${MAX_EMBEDDING_INPUTS} per request`);
  const format = o.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') throw invalid('encoding_format', `must be "float" or "base64", got ${describe(format)}`);
  if (o.dimensions !== undefined) throw invalid('dimensions', 'is not supported: this model has a fixed embedding size', 'unsupported_parameter');
  return { model, inputs: inputs as string[], encodingFormat: format };
}

function sampling(o: Record<string, unknown>, defaultMaxTokens: number | undefined): SamplingRequest {
  const model = modelName(o);
  const maxTokensField = o.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens';
  const maxTokens = optionalInteger(o, maxTokensField, 1) ?? defaultMaxTokens;
  const temperature = optionalNumber(o, 'temperature', 0, 2) ?? 1;
  const topP = optionalNumber(o, 'top_p', 0, 1) ?? 1;
  const n = optionalInteger(o, 'n', 1);
  if (n !== undefined && n > 1) throw invalid('n', `must be 1 (got ${n}): this server returns one choice per request; send ${n} requests instead`, 'unsupported_value');
  const seed = optionalInteger(o, 'seed', Number.MIN_SAFE_INTEGER);
  const stream = o.stream ?? false;
  if (typeof stream !== 'boolean') throw invalid('stream', `must be true or false, got ${describe(stream)}`);
  let streamUsage = false;
  if (o.stream_options !== undefined && o.stream_options !== null) {
    if (!stream) throw invalid('stream_options', 'is only allowed when stream is true');
    const options = o.stream_options as { include_usage?: unknown };
    if (typeof options !== 'object' || (options.include_usage !== undefined && typeof options.include_usage !== 'boolean')) {
      throw invalid('stream_options', 'must be an object like {"include_usage": true}');
    }
    streamUsage = options.include_usage === true;
  }
  if (o.logprobs !== undefined && o.logprobs !== null && o.logprobs !== false) {
    throw invalid('logprobs', 'is not supported by this server', 'unsupported_parameter');
  }
  return { model, maxTokens, maxTokensExplicit: o[maxTokensField] !== undefined && o[maxTokensField] !== null, temperature, topP, seed, stop: stopSequences(o.stop), stream, streamUsage };
}

function modelName(o: Record<string, unknown>): string {
  if (o.model === undefined) throw missing('model', 'the name of the model (GET /v1/models lists them)');
  if (typeof o.model !== 'string' || o.model === '') throw invalid('model', `must be a non-empty string, got ${describe(o.model)}`);
  return o.model;
}

function chatMessage(m: unknown, i: number): ChatMessage {
  const where = `messages[${i}]`;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw invalid(where, 'must be an object with "role" and "content"');
  const { role, content } = m as { role?: unknown; content?: unknown };
  if (typeof role !== 'string' || !CHAT_ROLES.has(role)) {
    throw invalid(`${where}.role`, `must be one of ${[...CHAT_ROLES].join(', ')}, got ${describe(role)}`);
  }
  if (typeof content === 'string') return { role: role as ChatRole, content };
  if (content === null && role === 'assistant') return { role, content: '' };
  if (Array.isArray(content)) {
    const texts = content.map((part, k) => {
      const p = part as { type?: unknown; text?: unknown };
      if (typeof p !== 'object' || p === null || p.type !== 'text' || typeof p.text !== 'string') {
        throw invalid(`${where}.content[${k}]`, 'must be a text part {"type": "text", "text": "..."}; this model reads text only', 'unsupported_value');
      }
      return p.text;
    });
    return { role: role as ChatRole, content: texts.join('') };
  }
  throw invalid(`${where}.content`, `must be a string or an array of text parts, got ${describe(content)}`);
}

function stopSequences(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s !== '')) {
    throw invalid('stop', 'must be a non-empty string or an array of non-empty strings');
  }
  if (list.length > MAX_STOP_SEQUENCES) throw invalid('stop', `holds ${list.length} sequences; at most ${MAX_STOP_SEQUENCES} are allowed`);
  return list as string[];
}

function optionalNumber(o: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw invalid(field, `must be a number from ${min} to ${max}, got ${describe(v)}`);
  }
  return v;
}

function optionalInteger(o: Record<string, unknown>, field: string, min: number): number | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw invalid(field, `must be a whole number of at least ${min}, got ${describe(v)}`);
  }
  return v;
}

function missing(param: string, what: string): OpenAIRequestError {
  return new OpenAIRequestError(`missing required parameter '${param}': send ${what}`, { param, code: 'missing_required_parameter' });
}

function invalid(param: string, message: string, code = 'invalid_value'): OpenAIRequestError {
  return new OpenAIRequestError(`'${param}' ${message}`, { param, code });
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}
