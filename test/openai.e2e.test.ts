/**
 * The OpenAI-compatible path end to end, driven by the official `openai` npm
 * client: `karb up`, `karb apply -f examples/tiny-lm.yaml` (the built-in tiny
 * LM, format openai, no command), then chat, streaming, completions,
 * embeddings and the client's error classes — all through the gateway.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import OpenAI from 'openai';
import { karb, ROOT, startKarbUp, waitFor, workDir, type KarbUp } from './helpers.ts';

describe('OpenAI API through the gateway with the official client', () => {
  const work = workDir('karb-openai-');
  let up: KarbUp;
  let client: OpenAI;
  const cli = (args: string[]) => karb([...args, '--server', up.controlUrl], { cwd: work.dir });
  const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
    { role: 'system', content: 'You are a test.' },
    { role: 'user', content: 'Write something.' },
  ];

  before(async () => {
    up = await startKarbUp(work.dir);
    const applied = await cli(['apply', '-f', join(ROOT, 'examples/tiny-lm.yaml')]);
    assert.equal(applied.code, 0, applied.stderr);
    client = new OpenAI({ baseURL: `${up.gatewayUrl}/v1`, apiKey: up.apiKey, maxRetries: 0, timeout: 30_000 });
    await waitFor('tiny-lm to answer through the gateway', async () => {
      const models = await client.models.list();
      if (!models.data.some((m) => m.id === 'tiny-lm')) return false;
      const r = await fetch(`${up.gatewayUrl}/v2/models/tiny-lm/ready`, { headers: up.auth });
      return r.status === 200;
    });
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('lists tiny-lm among the models', async () => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['tiny-lm']);
  });

  it('chats, and a stream at temperature 0 gives the same text chunk by chunk', async () => {
    const whole = await client.chat.completions.create({ model: 'tiny-lm', messages, max_tokens: 24, temperature: 0, seed: 1 });
    const answer = whole.choices[0]!;
    assert.equal(answer.message.role, 'assistant');
    assert.equal(typeof answer.message.content, 'string');
    assert.ok(answer.finish_reason === 'length' || answer.finish_reason === 'stop');
    assert.ok(whole.usage!.prompt_tokens > 0 && whole.usage!.completion_tokens > 0);

    const stream = await client.chat.completions.create({ model: 'tiny-lm', messages, max_tokens: 24, temperature: 0, seed: 1, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let contentChunks = 0;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta.content) {
        text += choice.delta.content;
        contentChunks++;
      }
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, answer.message.content);
    assert.ok(contentChunks > 1, `tokens arrive one by one (got ${contentChunks} chunks)`);
    assert.equal(finish, answer.finish_reason);
    assert.deepEqual(usage, whole.usage);
  });

  it('completes a prompt and honours max_tokens', async () => {
    const completion = await client.completions.create({ model: 'tiny-lm', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    assert.equal(completion.object, 'text_completion');
    assert.ok(completion.usage!.completion_tokens <= 8);
    assert.equal(completion.usage!.prompt_tokens, Buffer.byteLength('Once upon a time') + 1);
  });

  it('embeds text (the client asks for base64 and decodes it)', async () => {
    const result = await client.embeddings.create({ model: 'tiny-lm', input: ['first', 'second'] });
    assert.equal(result.data.length, 2);
    for (const item of result.data) {
      assert.equal(item.embedding.length, 64);
      assert.ok(item.embedding.every(Number.isFinite));
    }
    assert.notDeepEqual(result.data[0]!.embedding, result.data[1]!.embedding);
  });

  it('bad parameters raise BadRequestError (400) and an unknown model NotFoundError (404)', async () => {
    const bad: Array<[string, Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming>, string]> = [
      ['max_tokens below 1', { max_tokens: 0 }, 'max_tokens'],
      ['temperature out of range', { temperature: 5 }, 'temperature'],
      ['n above 1', { n: 2 }, 'n'],
      ['no messages', { messages: undefined as unknown as [] }, 'messages'],
    ];
    for (const [what, params, param] of bad) {
      await assert.rejects(
        client.chat.completions.create({ model: 'tiny-lm', messages, ...params }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.BadRequestError, `${what}: ${String(err)}`);
          assert.equal(err.status, 400);
          assert.equal(err.param, param);
          assert.equal(err.type, 'invalid_request_error');
          return true;
        },
      );
    }
    await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError, String(err));
      assert.equal(err.code, 'model_not_found');
      return true;
    });
    const wrongKey = new OpenAI({ baseURL: `${up.gatewayUrl}/v1`, apiKey: 'karb_wrong', maxRetries: 0 });
    await assert.rejects(wrongKey.chat.completions.create({ model: 'tiny-lm', messages }), (err: unknown) => err instanceof OpenAI.AuthenticationError);
  });
});
