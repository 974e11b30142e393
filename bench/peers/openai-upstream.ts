/**
 * A fast OpenAI-compatible upstream for the proxy benchmarks: POST
 * /v1/chat/completions answered at once, with no model behind it, so what a
 * benchmark measures in front of it is the proxy, not the model. A body asking
 * for `"stream": true` is answered as server-sent events: a role chunk, a few
 * content chunks, a final chunk with finish_reason, then `data: [DONE]` — the
 * shape OpenAI's clients (and so the proxies that use them) parse. Every other
 * path answers 404, so a proxy that rewrote the path shows up as errors.
 *
 * The body is scanned, not parsed: parsing would put the upstream's own cost
 * into every figure, and the proxies send `stream` as a plain JSON boolean.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const UPSTREAM_MODEL = 'bench-chat';
/** Content chunks in a streamed answer (besides the role chunk and the final one). */
export const STREAM_CONTENT_CHUNKS = 4;

const STREAM_FLAG = /"stream"\s*:\s*true/;
const CREATED = 1_700_000_000;

const COMPLETION = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: CREATED,
    model: UPSTREAM_MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the bench upstream.' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 9, completion_tokens: 6, total_tokens: 15 },
  }),
);

function chunk(delta: Record<string, string>, finish: string | null): string {
  const body = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: CREATED, model: UPSTREAM_MODEL, choices: [{ index: 0, delta, finish_reason: finish }] };
  return `data: ${JSON.stringify(body)}\n\n`;
}

/** The SSE events of one streamed answer, each written separately. */
export const STREAM_EVENTS: readonly string[] = [
  chunk({ role: 'assistant', content: '' }, null),
  ...Array.from({ length: STREAM_CONTENT_CHUNKS }, (_, i) => chunk({ content: `tok${i} ` }, null)),
  chunk({}, 'stop'),
  'data: [DONE]\n\n',
];

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
      return;
    }
    if (!STREAM_FLAG.test(Buffer.concat(chunks).toString('latin1'))) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': COMPLETION.length });
      res.end(COMPLETION);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    // One write per event, so each is its own chunk on the wire as a model's tokens would be.
    for (const event of STREAM_EVENTS) res.write(event);
    res.end();
  });
}

/** Starts the upstream on 127.0.0.1 at a free port; resolves with its origin. */
export function startOpenAIUpstream(): Promise<{ origin: string; server: Server }> {
  const server = createServer(handle);
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }));
  });
}
