import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAIRequestError, openAIErrorJson } from '../../api/openai-errors.ts';
import { parseChatRequest, parseCompletionRequest, parseEmbeddingsRequest } from './requests.ts';

const chat = (extra: Record<string, unknown>) => JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });

test('a minimal chat request gets OpenAI defaults', () => {
  const r = parseChatRequest(chat({}));
  assert.deepEqual(r, {
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }],
    maxTokens: undefined,
    maxTokensExplicit: false,
    temperature: 1,
    topP: 1,
    seed: undefined,
    stop: [],
    stream: false,
    streamUsage: false,
  });
});

test('text parts are joined; max_completion_tokens counts as max_tokens; a single stop string becomes a list', () => {
  const r = parseChatRequest(
    JSON.stringify({
      model: 'm',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }],
      max_completion_tokens: 5,
      stop: 'x',
      stream: true,
      stream_options: { include_usage: true },
      seed: 3,
      temperature: 0,
    }),
  );
  assert.equal(r.messages[0]!.content, 'ab');
  assert.equal(r.maxTokens, 5);
  assert.equal(r.maxTokensExplicit, true);
  assert.deepEqual(r.stop, ['x']);
  assert.equal(r.streamUsage, true);
  assert.equal(r.seed, 3);
});

test('completions default to 16 tokens and accept a one-string prompt array', () => {
  const r = parseCompletionRequest(JSON.stringify({ model: 'm', prompt: ['once'] }));
  assert.equal(r.prompt, 'once');
  assert.equal(r.maxTokens, 16);
  assert.equal(r.maxTokensExplicit, false);
});

test('bad requests name the parameter and a stable code', async (t) => {
  const cases: Array<{ name: string; parse: () => unknown; param: string | null; code: string }> = [
    { name: 'not JSON', parse: () => parseChatRequest('{"model":'), param: null, code: 'invalid_json' },
    { name: 'a JSON array', parse: () => parseChatRequest('[]'), param: null, code: 'invalid_json' },
    { name: 'missing messages', parse: () => parseChatRequest('{"model":"m"}'), param: 'messages', code: 'missing_required_parameter' },
    { name: 'empty messages', parse: () => parseChatRequest('{"model":"m","messages":[]}'), param: 'messages', code: 'invalid_value' },
    { name: 'missing model', parse: () => parseChatRequest('{"messages":[{"role":"user","content":"x"}]}'), param: 'model', code: 'missing_required_parameter' },
    { name: 'unknown role', parse: () => parseChatRequest(chat({ messages: [{ role: 'robot', content: 'x' }] })), param: 'messages[0].role', code: 'invalid_value' },
    { name: 'image part', parse: () => parseChatRequest(chat({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] })), param: 'messages[0].content[0]', code: 'unsupported_value' },
    { name: 'max_tokens 0', parse: () => parseChatRequest(chat({ max_tokens: 0 })), param: 'max_tokens', code: 'invalid_value' },
    { name: 'max_tokens 1.5', parse: () => parseChatRequest(chat({ max_tokens: 1.5 })), param: 'max_tokens', code: 'invalid_value' },
    { name: 'temperature 2.5', parse: () => parseChatRequest(chat({ temperature: 2.5 })), param: 'temperature', code: 'invalid_value' },
    { name: 'temperature as a string', parse: () => parseChatRequest(chat({ temperature: '1' })), param: 'temperature', code: 'invalid_value' },
    { name: 'top_p 1.5', parse: () => parseChatRequest(chat({ top_p: 1.5 })), param: 'top_p', code: 'invalid_value' },
    { name: 'n 2', parse: () => parseChatRequest(chat({ n: 2 })), param: 'n', code: 'unsupported_value' },
    { name: 'stream not a boolean', parse: () => parseChatRequest(chat({ stream: 'yes' })), param: 'stream', code: 'invalid_value' },
    { name: 'stream_options without stream', parse: () => parseChatRequest(chat({ stream_options: { include_usage: true } })), param: 'stream_options', code: 'invalid_value' },
    { name: 'five stop sequences', parse: () => parseChatRequest(chat({ stop: ['a', 'b', 'c', 'd', 'e'] })), param: 'stop', code: 'invalid_value' },
    { name: 'empty stop', parse: () => parseChatRequest(chat({ stop: [''] })), param: 'stop', code: 'invalid_value' },
    { name: 'logprobs', parse: () => parseChatRequest(chat({ logprobs: true })), param: 'logprobs', code: 'unsupported_parameter' },
    { name: 'two prompts', parse: () => parseCompletionRequest('{"model":"m","prompt":["a","b"]}'), param: 'prompt', code: 'unsupported_value' },
    { name: 'missing prompt', parse: () => parseCompletionRequest('{"model":"m"}'), param: 'prompt', code: 'missing_required_parameter' },
    { name: 'embedding of tokens', parse: () => parseEmbeddingsRequest('{"model":"m","input":[[1,2]]}'), param: 'input', code: 'invalid_value' },
    { name: 'embedding format', parse: () => parseEmbeddingsRequest('{"model":"m","input":"a","encoding_format":"int8"}'), param: 'encoding_format', code: 'invalid_value' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      assert.throws(c.parse, (err) => {
        assert.ok(err instanceof OpenAIRequestError);
        assert.equal(err.status, 400);
        assert.equal(err.param, c.param);
        assert.equal(err.code, c.code);
        const body = JSON.parse(openAIErrorJson(err)) as { error: Record<string, unknown> };
        assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
        assert.equal(body.error.type, 'invalid_request_error');
        return true;
      });
    });
  }
});
