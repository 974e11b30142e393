/**
 * Text in, tokens out, and the decoding loop. The byte-level tokenizer maps
 * UTF-8 bytes to ids 0..255 and prepends BOS; the chat template turns messages
 * into one such prompt. `generate` samples one token per model run (the whole
 * window is re-run each step: no KV cache, fine for a model this small) and
 * hands text to `onText` as it becomes final: a multi-byte character is held
 * until complete, and text that could be the start of a stop sequence is held
 * until it is known not to be. Joined, the deltas equal the final text, so a
 * streamed and a whole answer with the same seed are the same.
 */
import { seededRandom } from '../../util/prng.ts';
import { OpenAIRequestError } from '../../api/openai-errors.ts';
import type { LanguageModel } from './language-model.ts';
import type { ChatMessage, SamplingRequest } from './requests.ts';
import { sampleToken } from './sampling.ts';

export type FinishReason = 'stop' | 'length';

export interface Generation {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

const encoder = new TextEncoder();

export function encodePrompt(text: string, bos: number): number[] {
  return [bos, ...encoder.encode(text)];
}

/**
 * How many tokens `encodePrompt` makes of `text`, without making them: one per
 * UTF-8 byte (a lone surrogate is U+FFFD's three, in both) plus BOS. So a prompt
 * far past the context is refused before a token array of its size is built.
 */
export function promptTokenCount(text: string): number {
  return Buffer.byteLength(text, 'utf8') + 1;
}

/** `<|role|>\n{content}\n` per message, then `<|assistant|>\n` for the answer. */
export function chatPrompt(messages: readonly ChatMessage[]): string {
  let out = '';
  for (const m of messages) out += `<|${m.role}|>\n${m.content}\n`;
  return `${out}<|assistant|>\n`;
}

/**
 * How many tokens to generate: the request's max_tokens, checked against the
 * context window, or (when unset) the default capped at what the window allows.
 */
export function tokenBudget(promptTokens: number, requested: number | undefined, explicit: boolean, contextLength: number, promptParam: string): number {
  const room = contextLength - promptTokens;
  if (room < 1) {
    throw new OpenAIRequestError(
      `this model's maximum context length is ${contextLength} tokens, and the ${promptParam} alone takes ${promptTokens} (one token per UTF-8 byte plus one); shorten the ${promptParam}`,
      { param: promptParam, code: 'context_length_exceeded' },
    );
  }
  if (requested === undefined) return room;
  if (explicit && requested > room) {
    throw new OpenAIRequestError(
      `this model's maximum context length is ${contextLength} tokens; you requested ${promptTokens + requested} (${promptTokens} in the ${promptParam}, ${requested} for the completion); lower max_tokens to ${room} or shorten the ${promptParam}`,
      { param: 'max_tokens', code: 'context_length_exceeded' },
    );
  }
  return Math.min(requested, room);
}

export interface GenerateOptions {
  prompt: readonly number[];
  maxTokens: number;
  request: Pick<SamplingRequest, 'temperature' | 'topP' | 'seed' | 'stop'>;
  /** Receives each piece of final text; may be async (a slow client). */
  onText?: (delta: string) => void | Promise<void>;
  /** Called once, when the generation's first model run begins (it may first wait behind other generations' runs). */
  onFirstStep?: () => void;
  /** Stops early (client gone); the result then says what was produced so far. */
  signal?: AbortSignal;
  /** Random source when the request has no seed. */
  random?: () => number;
}

export async function generate(lm: LanguageModel, options: GenerateOptions): Promise<Generation> {
  const { bos, eos } = lm.info;
  const { stop } = options.request;
  const random = options.request.seed === undefined ? (options.random ?? Math.random) : seededRandom(options.request.seed).next;
  // Only real bytes and EOS may be sampled; BOS and any unused ids never are.
  const allowed = Math.max(256, eos + 1);
  const tokens = [...options.prompt];
  const decoder = new TextDecoder('utf-8');
  let text = '';
  let emitted = 0;
  let generated = 0;
  let finishReason: FinishReason = 'length';
  let cutAtStop = false;

  const emit = async (upTo: number): Promise<void> => {
    if (upTo <= emitted) return;
    const delta = text.slice(emitted, upTo);
    emitted = upTo;
    await options.onText?.(delta);
  };

  while (generated < options.maxTokens && options.signal?.aborted !== true) {
    const logits = await lm.nextLogits(tokens, generated === 0 ? options.onFirstStep : undefined);
    const token = sampleToken(logits, allowed, options.request, random);
    generated++;
    if (token === eos || token === bos) {
      finishReason = 'stop';
      break;
    }
    tokens.push(token);
    text += decoder.decode(Uint8Array.of(token), { stream: true });
    const at = findStop(text, stop, emitted);
    if (at !== -1) {
      text = text.slice(0, at);
      finishReason = 'stop';
      cutAtStop = true;
      break;
    }
    await emit(text.length - heldForStop(text, stop));
  }
  if (!cutAtStop) {
    // A character left incomplete at the end becomes U+FFFD, the same in both modes.
    text += decoder.decode();
    const at = findStop(text, stop, emitted);
    if (at !== -1) {
      text = text.slice(0, at);
      finishReason = 'stop';
    }
  }
  await emit(text.length);
  return { text, finishReason, promptTokens: options.prompt.length, completionTokens: generated };
}

/** Index of the earliest stop sequence in `text`, searching only where a new one can start. */
function findStop(text: string, stop: readonly string[], emitted: number): number {
  let best = -1;
  for (const s of stop) {
    const i = text.indexOf(s, Math.max(0, emitted - s.length));
    if (i !== -1 && (best === -1 || i < best)) best = i;
  }
  return best;
}

/** Length of the longest suffix of `text` that is a proper prefix of a stop sequence. */
function heldForStop(text: string, stop: readonly string[]): number {
  let held = 0;
  for (const s of stop) {
    for (let k = Math.min(s.length - 1, text.length); k > held; k--) {
      if (text.endsWith(s.slice(0, k))) {
        held = k;
        break;
      }
    }
  }
  return held;
}
