import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chatPrompt } from './generate.ts';
import { LanguageModel } from './language-model.ts';
import type { ModelSession } from '../onnx-model.ts';
import { startOpenAIServer, type OpenAIServer } from './server.ts';
import { SseReader } from './sse.ts';
import { loadTinyLm } from './test-support.ts';
import { metricValue, withRun } from '../test-helpers.ts';
import { jsonLogger } from '../../util/log.ts';
import { waitFor } from '../../util/wait-for.ts';

let lm: LanguageModel;
let session: ModelSession;
let closeModel: () => Promise<void>;
let server: OpenAIServer;

before(async () => {
  ({ lm, session, close: closeModel } = await loadTinyLm());
  server = await startOpenAIServer({ lm, name: 'tiny-lm', port: 0 });
});
after(async () => {
  await server.close();
  await closeModel();
});

function post(path: string, body: unknown): Promise<Response> {
  return fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

async function streamEvents(res: Response): Promise<string[]> {
  const reader = new SseReader();
  const events: string[] = [];
  for await (const chunk of res.body!) events.push(...reader.push(chunk));
  return events;
}

const messages = [{ role: 'user', content: 'Say something.' }];

test('GET /v1/models lists the served model', async () => {
  const body = (await (await fetch(`${server.url}/v1/models`)).json()) as { object: string; data: Array<{ id: string; object: string }> };
  assert.equal(body.object, 'list');
  assert.deepEqual(body.data.map((m) => [m.id, m.object]), [['tiny-lm', 'model']]);
  assert.equal((await fetch(`${server.url}/v1/models/tiny-lm`)).status, 200);
  assert.equal((await fetch(`${server.url}/v1/models/other`)).status, 404);
});

test('chat: the streamed deltas join to the non-streamed answer for the same request at temperature 0', async () => {
  const request = { model: 'tiny-lm', messages, max_tokens: 20, temperature: 0 };
  const whole = (await (await post('/v1/chat/completions', request)).json()) as {
    object: string;
    choices: Array<{ message: { role: string; content: string }; finish_reason: string }>;
    usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  };
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices[0]!.message.role, 'assistant');
  const promptBytes = Buffer.byteLength('<|user|>\nSay something.\n<|assistant|>\n') + 1;
  assert.equal(whole.usage.prompt_tokens, promptBytes);
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);

  const res = await post('/v1/chat/completions', { ...request, stream: true, stream_options: { include_usage: true } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events = await streamEvents(res);
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { object: string; choices: Array<{ delta: { role?: string; content?: string }; finish_reason: string | null }>; usage?: unknown });
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
  const usageChunk = chunks.at(-1)!;
  assert.deepEqual(usageChunk.choices, []);
  assert.deepEqual(usageChunk.usage, whole.usage);
  const finish = chunks.at(-2)!;
  assert.equal(finish.choices[0]!.finish_reason, whole.choices[0]!.finish_reason);
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  assert.equal(text, whole.choices[0]!.message.content);
  assert.ok(chunks.length >= 4, 'one chunk per token, not one at the end');
});

test('completions: text, usage and finish_reason length at max_tokens', async () => {
  const body = (await (await post('/v1/completions', { model: 'tiny-lm', prompt: 'Once', max_tokens: 5, temperature: 0 })).json()) as {
    object: string;
    choices: Array<{ text: string; finish_reason: string }>;
    usage: { prompt_tokens: number; completion_tokens: number };
  };
  assert.equal(body.object, 'text_completion');
  assert.equal(body.usage.prompt_tokens, 5);
  if (body.choices[0]!.finish_reason === 'length') assert.equal(body.usage.completion_tokens, 5);
  const streamed = await streamEvents(await post('/v1/completions', { model: 'tiny-lm', prompt: 'Once', max_tokens: 5, temperature: 0, stream: true }));
  const text = streamed.slice(0, -1).map((e) => (JSON.parse(e) as { choices: Array<{ text: string }> }).choices[0]!.text).join('');
  assert.equal(text, body.choices[0]!.text);
});

test('embeddings: one vector per input, as floats or base64 little-endian float32', async () => {
  const floats = (await (await post('/v1/embeddings', { model: 'tiny-lm', input: ['a', 'bc'] })).json()) as { data: Array<{ index: number; embedding: number[] }>; usage: { prompt_tokens: number } };
  assert.deepEqual(floats.data.map((d) => [d.index, d.embedding.length]), [[0, 64], [1, 64]]);
  assert.equal(floats.usage.prompt_tokens, 5);
  const b64 = (await (await post('/v1/embeddings', { model: 'tiny-lm', input: 'a', encoding_format: 'base64' })).json()) as { data: Array<{ embedding: string }> };
  const bytes = Buffer.from(b64.data[0]!.embedding, 'base64');
  const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
  assert.deepEqual(decoded, floats.data[0]!.embedding.map((v) => Math.fround(v)));
});

test('errors come in the OpenAI shape with the right status', async (t) => {
  const cases: Array<{ name: string; path: string; body: unknown; status: number; code: string; param: string | null }> = [
    { name: 'missing messages', path: '/v1/chat/completions', body: { model: 'tiny-lm' }, status: 400, code: 'missing_required_parameter', param: 'messages' },
    { name: 'max_tokens < 1', path: '/v1/chat/completions', body: { model: 'tiny-lm', messages, max_tokens: 0 }, status: 400, code: 'invalid_value', param: 'max_tokens' },
    { name: 'temperature out of range', path: '/v1/completions', body: { model: 'tiny-lm', prompt: 'x', temperature: 3 }, status: 400, code: 'invalid_value', param: 'temperature' },
    { name: 'n > 1', path: '/v1/chat/completions', body: { model: 'tiny-lm', messages, n: 3 }, status: 400, code: 'unsupported_value', param: 'n' },
    { name: 'malformed JSON', path: '/v1/chat/completions', body: '{"model":', status: 400, code: 'invalid_json', param: null },
    { name: 'prompt past the context', path: '/v1/completions', body: { model: 'tiny-lm', prompt: 'x'.repeat(200) }, status: 400, code: 'context_length_exceeded', param: 'prompt' },
    { name: 'unknown model', path: '/v1/chat/completions', body: { model: 'gpt-9', messages }, status: 404, code: 'model_not_found', param: 'model' },
    { name: 'unknown route', path: '/v1/images', body: {}, status: 404, code: 'not_found', param: null },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const res = await post(c.path, c.body);
      assert.equal(res.status, c.status);
      const body = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string } };
      assert.equal(body.error.code, c.code);
      assert.equal(body.error.param, c.param);
      assert.equal(body.error.type, 'invalid_request_error');
      assert.ok(body.error.message.length > 10);
    });
  }
  const wrongMethod = await fetch(`${server.url}/v1/chat/completions`);
  assert.equal(wrongMethod.status, 405);
});

test('a multi-megabyte prompt is refused as past the context, as the same error, without being tokenized', async (t) => {
  const big = 'x'.repeat(8_000_000);
  const cases = [
    { path: '/v1/completions', body: { model: 'tiny-lm', prompt: big }, param: 'prompt', tokens: 8_000_001 },
    { path: '/v1/chat/completions', body: { model: 'tiny-lm', messages: [{ role: 'user', content: big }] }, param: 'messages', tokens: Buffer.byteLength(chatPrompt([{ role: 'user', content: big }])) + 1 },
    { path: '/v1/completions', body: { model: 'tiny-lm', prompt: 'é'.repeat(4_000_000) }, param: 'prompt', tokens: 8_000_001 },
    { path: '/v1/embeddings', body: { model: 'tiny-lm', input: ['ok', big] }, param: 'input', tokens: 8_000_001 },
  ];
  // Bytes on the wire, made before encode is watched: only the server's own tokenizing is counted.
  const bodies = cases.map((c) => Buffer.from(JSON.stringify(c.body)));
  const encode = t.mock.method(TextEncoder.prototype, 'encode');
  for (const [i, c] of cases.entries()) {
    const res = await fetch(server.url + c.path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodies[i] });
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as { error: { message: string; param: string; code: string } };
    assert.equal(error.code, 'context_length_exceeded');
    assert.equal(error.param, c.param);
    assert.match(error.message, new RegExp(`\\b${c.tokens}\\b`), error.message);
  }
  const longest = Math.max(0, ...encode.mock.calls.map((call) => String(call.arguments[0] ?? '').length));
  assert.ok(longest <= lm.info.contextLength, `the server tokenized a text of ${longest} characters`);
});

test('health and readiness answer for probes; a draining server is not ready and finishes its work', async () => {
  const other = await startOpenAIServer({ lm, name: 'tiny-lm', port: 0 });
  assert.equal((await fetch(`${other.url}/health`)).status, 200);
  assert.equal((await fetch(`${other.url}/v2/health/ready`)).status, 200);
  const res = await fetch(`${other.url}/v1/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'tiny-lm', prompt: 'x', max_tokens: 30, temperature: 0, stream: true }),
  });
  // The first chunk proves the generation is running; then drain.
  const reader = new SseReader();
  const iterator = res.body![Symbol.asyncIterator]();
  const events: string[] = [];
  while (events.length === 0) events.push(...reader.push((await iterator.next()).value as Uint8Array));
  const drained = other.drain(10_000);
  assert.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200, 'the other server is unaffected');
  for (;;) {
    const next = await iterator.next();
    if (next.done === true) break;
    events.push(...reader.push(next.value as Uint8Array));
  }
  assert.equal(events.at(-1), '[DONE]', 'the running generation finished during the drain');
  assert.deepEqual(await drained, { timedOut: false });
});

test('a client that leaves mid-stream stops its generation', async () => {
  const logged: Array<Record<string, unknown>> = [];
  const logger = jsonLogger({ write: (line) => void logged.push(JSON.parse(line) as Record<string, unknown>), level: 'debug' });
  const other = await startOpenAIServer({ lm, name: 'tiny-lm', port: 0, logger });
  const abort = new AbortController();
  const res = await fetch(`${other.url}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'tiny-lm', messages, stream: true, temperature: 0 }),
    signal: abort.signal,
  });
  const iterator = res.body![Symbol.asyncIterator]();
  await iterator.next();
  abort.abort();
  await other.drain(20_000);
  const stopped = logged.find((l) => l.msg === 'client closed the stream; generation stopped');
  assert.ok(stopped, JSON.stringify(logged));
  assert.ok((stopped.completionTokens as number) < (stopped.maxTokens as number), 'stopped before the token budget ran out');
});

test('/metrics counts requests, tokens and time to first token; answers carry the queue depth', async () => {
  const res = await post('/v1/completions', { model: 'tiny-lm', prompt: 'm', max_tokens: 3, temperature: 0 });
  assert.equal(res.headers.get('x-karb-queue-depth'), '0');
  await res.json();
  const text = await (await fetch(`${server.url}/metrics`)).text();
  assert.ok(metricValue(text, 'karb_serving_requests_total', { route: 'completions', code: '200' })! >= 1);
  assert.ok(metricValue(text, 'karb_serving_generated_tokens_total')! >= 3);
  assert.ok(metricValue(text, 'karb_serving_time_to_first_token_seconds_count')! >= 1);
  assert.ok(metricValue(text, 'karb_serving_time_per_output_token_seconds_count')! >= 1);
});

test('x-karb-queue-ms: how long a generation waited behind the others before its first model run; a stream opens when that run begins', async () => {
  // The first model run is held until the test lets it go, so whatever arrives meanwhile waits behind it.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let runs = 0;
  const holding = withRun(session, async (feeds) => {
    if (runs++ === 0) await held;
    return session.run(feeds);
  });
  // Counts the generations that asked for their first run, so the test knows when the second one waits.
  let asked = 0;
  class Counting extends LanguageModel {
    override nextLogits(tokens: readonly number[], onStart?: () => void): Promise<Float32Array> {
      if (onStart !== undefined) asked++;
      return super.nextLogits(tokens, onStart);
    }
  }
  const other = await startOpenAIServer({ lm: new Counting(holding, lm.info), name: 'tiny-lm', port: 0 });
  try {
    const request = { model: 'tiny-lm', prompt: 'm', max_tokens: 2, temperature: 0 };
    const first = await fetch(`${other.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...request, stream: true }) });
    assert.equal(first.status, 200, 'the stream opened as its first run began, before the run ended');
    const firstWait = Number(first.headers.get('x-karb-queue-ms'));
    assert.ok(firstWait >= 0 && firstWait < 1_000, `the first generation waited for nothing: ${first.headers.get('x-karb-queue-ms')}`);

    const second = fetch(`${other.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
    await waitFor('the second generation to wait for its first run', () => asked === 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    const answer = await second;
    assert.equal(answer.status, 200);
    // It asked for its run before the test's 100 ms began (a timer may fire a hair early).
    assert.ok(Number(answer.headers.get('x-karb-queue-ms')) >= 90, `waited behind the held run: ${answer.headers.get('x-karb-queue-ms')}`);
    await answer.json();
    assert.ok((await streamEvents(first)).length >= 2, 'the held stream went on to its tokens');
  } finally {
    await other.close();
  }
});
