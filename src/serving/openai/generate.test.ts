import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAIRequestError } from '../../api/openai-errors.ts';
import { chatPrompt, encodePrompt, generate, promptTokenCount, tokenBudget, type GenerateOptions } from './generate.ts';
import type { LanguageModel } from './language-model.ts';
import { loadTinyLm } from './test-support.ts';

let lm: LanguageModel;
let close: () => Promise<void>;
before(async () => ({ lm, close } = await loadTinyLm()));
after(() => close());

const greedy: GenerateOptions['request'] = { temperature: 0, topP: 1, seed: undefined, stop: [] };

async function run(prompt: string, maxTokens: number, request = greedy): Promise<{ text: string; deltas: string[]; finishReason: string; completionTokens: number }> {
  const deltas: string[] = [];
  const g = await generate(lm, { prompt: encodePrompt(prompt, lm.info.bos), maxTokens, request, onText: (d) => void deltas.push(d) });
  return { ...g, deltas };
}

test('the model describes itself from its metadata', () => {
  assert.deepEqual(lm.info, { tokenizer: 'bytes', vocabSize: 258, contextLength: 128, bos: 256, eos: 257, embeddingDim: 64 });
});

test('greedy generation is deterministic, stops at max_tokens, and its deltas join to the text', async () => {
  const a = await run('hello', 24);
  const b = await run('hello', 24);
  assert.equal(a.text, b.text);
  assert.equal(a.deltas.join(''), a.text);
  assert.ok(a.text.length > 0);
  if (a.finishReason === 'length') assert.equal(a.completionTokens, 24);
});

test('a seed makes sampling repeatable', async () => {
  const seeded = { temperature: 1, topP: 0.9, seed: 42, stop: [] };
  assert.equal((await run('abc', 20, seeded)).text, (await run('abc', 20, seeded)).text);
});

test('a stop sequence ends the text before it, and no delta ever shows part of it', async () => {
  const full = await run('hello', 40);
  // Stop at the first two-character sequence that appears after the first few characters.
  const stop = full.text.slice(3, 5);
  assert.equal(stop.length, 2, `greedy text too short to test stops: ${JSON.stringify(full.text)}`);
  const cut = await run('hello', 40, { ...greedy, stop: [stop] });
  assert.equal(cut.text, full.text.slice(0, full.text.indexOf(stop)));
  assert.equal(cut.finishReason, 'stop');
  assert.equal(cut.deltas.join(''), cut.text);
});

test('the chat template marks each role and leaves the assistant turn open', () => {
  assert.equal(chatPrompt([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }]), '<|system|>\nbe brief\n<|user|>\nhi\n<|assistant|>\n');
  assert.deepEqual(encodePrompt('é', 256), [256, 0xc3, 0xa9]);
});

test('a prompt is counted without tokenizing it, to the same number of tokens', () => {
  for (const text of ['', 'hello', 'é', '€uro', '🙂', 'a\uD800b', '\uDC00', '\uD83D', 'x\u0000y']) {
    assert.equal(promptTokenCount(text), encodePrompt(text, lm.info.bos).length, JSON.stringify(text));
  }
});

test('the token budget respects the context window', () => {
  assert.equal(tokenBudget(100, undefined, false, 128, 'prompt'), 28);
  assert.equal(tokenBudget(100, 16, false, 128, 'prompt'), 16);
  assert.equal(tokenBudget(120, 16, false, 128, 'prompt'), 8, 'a default is cut to what fits');
  assert.throws(() => tokenBudget(120, 16, true, 128, 'prompt'), (e) => e instanceof OpenAIRequestError && e.code === 'context_length_exceeded' && e.param === 'max_tokens');
  assert.throws(() => tokenBudget(128, undefined, false, 128, 'messages'), (e) => e instanceof OpenAIRequestError && e.param === 'messages');
});

test('embeddings have the model dimension and differ between inputs', async () => {
  const a = await lm.embed(encodePrompt('cat', lm.info.bos));
  const b = await lm.embed(encodePrompt('dog', lm.info.bos));
  assert.equal(a.length, 64);
  assert.notDeepEqual(Array.from(a), Array.from(b));
});
