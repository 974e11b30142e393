/**
 * Server-sent events framing for streamed completions, as OpenAI sends them:
 * one `data: {json}` event per chunk, each ended by a blank line, then
 * `data: [DONE]`. No `event:` or `id:` lines; clients split on blank lines.
 */

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

export const SSE_DONE = 'data: [DONE]\n\n';

export function sseEvent(payload: unknown): string {
  // JSON.stringify never emits a raw newline, so one data line always suffices.
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/**
 * Splits an SSE byte stream into the data of each event; feed it chunks as they
 * arrive (events may span chunks). For tests and benchmarks.
 */
export class SseReader {
  #buffer = '';
  readonly #decoder = new TextDecoder();

  push(chunk: Uint8Array): string[] {
    this.#buffer += this.#decoder.decode(chunk, { stream: true });
    const events: string[] = [];
    for (;;) {
      const end = this.#buffer.indexOf('\n\n');
      if (end === -1) return events;
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5));
      if (data.length > 0) events.push(data.join('\n'));
    }
  }
}
