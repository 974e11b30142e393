// Hostile OpenAI-compatible requests for the built-in OpenAI server (or a gateway in front of it) serving the
// tiny LM (context 128 tokens) under the name in the {model} placeholder. Each prompt is far past the context and
// must be refused with 400 context_length_exceeded at once, without slowing other requests; bodies stay under 8 MiB.
import type { HostileCase } from './hostile-case.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };
/** 8,000,000 bytes of prompt: its body fits the 8 MiB body limit, so the context check (not a 413) answers. */
const EIGHT_MB = 'x'.repeat(8_000_000);

function tooLong(name: string, path: string, body: unknown): HostileCase {
  // The model name goes in as the placeholder; the runner substitutes it in the body as in the path.
  return { name, method: 'POST', path, headers: JSON_HEADERS, body: JSON.stringify(body), expectStatus: 400, expectBodyIncludes: 'context_length_exceeded' };
}

export const openaiCorpus: HostileCase[] = [
  tooLong('an 8 MB completions prompt', '/v1/completions', { model: '{model}', prompt: EIGHT_MB, max_tokens: 1 }),
  tooLong('an 8 MB completions prompt, streamed', '/v1/completions', { model: '{model}', prompt: EIGHT_MB, stream: true }),
  tooLong('an 8 MB prompt of two-byte characters', '/v1/completions', { model: '{model}', prompt: 'é'.repeat(3_900_000) }),
  tooLong('an 8 MB chat message', '/v1/chat/completions', { model: '{model}', messages: [{ role: 'user', content: EIGHT_MB }] }),
  tooLong('an 8 MB chat in 1,000 messages', '/v1/chat/completions', { model: '{model}', messages: Array.from({ length: 1000 }, () => ({ role: 'user', content: 'x'.repeat(7_900) })) }),
  tooLong('an 8 MB chat message in text parts', '/v1/chat/completions', { model: '{model}', messages: [{ role: 'user', content: Array.from({ length: 80 }, () => ({ type: 'text', text: 'x'.repeat(100_000) })) }] }),
  tooLong('an 8 MB embeddings input', '/v1/embeddings', { model: '{model}', input: EIGHT_MB }),
  tooLong('an 8 MB embeddings input after a short one', '/v1/embeddings', { model: '{model}', input: ['ok', EIGHT_MB] }),
];
