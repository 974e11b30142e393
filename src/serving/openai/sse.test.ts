import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SSE_DONE, SseReader, sseEvent } from './sse.ts';

test('each chunk is one data line ended by a blank line, and the stream ends with [DONE]', () => {
  assert.equal(sseEvent({ text: 'a\nb' }), 'data: {"text":"a\\nb"}\n\n');
  assert.equal(SSE_DONE, 'data: [DONE]\n\n');
});

test('the reader finds events split anywhere across chunks, multi-byte characters included', () => {
  const stream = Buffer.from(sseEvent({ text: 'héllo' }) + ': comment\n\n' + sseEvent({ n: 2 }) + SSE_DONE);
  for (let cut = 1; cut < stream.length; cut++) {
    const reader = new SseReader();
    const events = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
    assert.deepEqual(events, ['{"text":"héllo"}', '{"n":2}', '[DONE]'], `cut at ${cut}`);
  }
});
