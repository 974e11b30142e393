/**
 * Streaming latency of the built-in tiny LM over the OpenAI API, directly and
 * through the gateway, side by side in one run: time to first token (TTFT),
 * time per output token after the first (TPOT) and output tokens per second.
 *
 * A child runs `karb serve --model models/tiny-lm.onnx --openai`; this process
 * runs the gateway (no auth) and the client, alternating direct and gateway
 * requests so both see the same machine state. Every request streams
 * `max_tokens` tokens at temperature 0 with `stream: true`.
 *
 *   node bench/lm.ts [--requests 40] [--max-tokens 64] [--concurrency 1]
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { startGateway } from '../src/gateway/server/gateway.ts';
import { InMemoryRoutingTable } from '../src/gateway/discovery/routing-table.ts';
import { SseReader } from '../src/serving/openai/sse.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = 'tiny-lm';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '40' },
    'max-tokens': { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '1' },
  },
});
const requests = Number(values.requests);
const maxTokens = Number(values['max-tokens']);
const concurrency = Number(values.concurrency);

interface Sample {
  ttftMs: number;
  tpotMs: number;
  tokens: number;
  totalMs: number;
}

async function streamOnce(pool: Pool): Promise<Sample> {
  const body = JSON.stringify({
    model: MODEL,
    messages: [{ role: 'user', content: 'Tell me a story about a gateway.' }],
    max_tokens: maxTokens,
    temperature: 0,
    stream: true,
  });
  const started = performance.now();
  const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${await res.body.text()}`);
  const reader = new SseReader();
  let first = 0;
  let last = 0;
  let tokens = 0;
  for await (const chunk of res.body) {
    for (const event of reader.push(chunk as Uint8Array)) {
      if (event === '[DONE]') continue;
      const parsed = JSON.parse(event) as { choices: Array<{ delta: { content?: string } }> };
      if (!parsed.choices[0]?.delta.content) continue;
      const now = performance.now();
      if (tokens === 0) first = now;
      last = now;
      tokens++;
    }
  }
  const end = performance.now();
  return { ttftMs: first - started, tpotMs: tokens > 1 ? (last - first) / (tokens - 1) : 0, tokens, totalMs: end - started };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, [path.join(ROOT, 'src/cli/main.ts'), 'serve', '--model', path.join(ROOT, 'models/tiny-lm.onnx'), '--openai', '--port', '0', '--intra-op-threads', '1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"msg":"listening","port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`karb serve exited ${code}: ${out}`)));
  });
  const direct = `http://127.0.0.1:${port}`;
  const table = new InMemoryRoutingTable();
  table.replace([{ model: MODEL, namespace: 'default', service: MODEL, format: 'openai', revisions: [{ revision: `${MODEL}-00001`, weight: 100, endpoints: [{ replica: 'r0', url: direct }] }] }]);
  const gateway = await startGateway({ routingTable: table, port: 0 });
  const pools = { direct: new Pool(direct, { connections: concurrency }), gateway: new Pool(gateway.url, { connections: concurrency }) };
  const samples: Record<'direct' | 'gateway', Sample[]> = { direct: [], gateway: [] };
  const wall: Record<'direct' | 'gateway', number> = { direct: 0, gateway: 0 };
  try {
    for (let i = 0; i < 3; i++) await Promise.all([streamOnce(pools.direct), streamOnce(pools.gateway)]); // warm-up
    const rounds = Math.ceil(requests / concurrency);
    for (let r = 0; r < rounds; r++) {
      for (const target of ['direct', 'gateway'] as const) {
        const t0 = performance.now();
        const batch = await Promise.all(Array.from({ length: concurrency }, () => streamOnce(pools[target])));
        wall[target] += performance.now() - t0;
        samples[target].push(...batch);
      }
    }
  } finally {
    await gateway.close();
    await pools.direct.close();
    await pools.gateway.close();
    child.kill('SIGTERM');
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`tiny-lm streaming, ${requests} requests per path, ${maxTokens} tokens each, concurrency ${concurrency}; ${cpus().length} × ${cpu}; node ${process.version}`);
  console.log('path     TTFT p50   TTFT p95   TPOT p50   TPOT p95   tokens/s (aggregate)');
  for (const target of ['direct', 'gateway'] as const) {
    const s = samples[target];
    const tokens = s.reduce((a, x) => a + x.tokens, 0);
    const row = [
      target.padEnd(8),
      `${percentile(s.map((x) => x.ttftMs), 50).toFixed(2)} ms`.padStart(10),
      `${percentile(s.map((x) => x.ttftMs), 95).toFixed(2)} ms`.padStart(10),
      `${percentile(s.map((x) => x.tpotMs), 50).toFixed(3)} ms`.padStart(10),
      `${percentile(s.map((x) => x.tpotMs), 95).toFixed(3)} ms`.padStart(10),
      (tokens / (wall[target] / 1000)).toFixed(0).padStart(10),
    ];
    console.log(row.join(' '));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
