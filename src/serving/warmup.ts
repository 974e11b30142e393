/**
 * Warm-up: before a new replica says it is ready, it answers a few inference
 * requests to itself over loopback HTTP, so the first requests it is sent are
 * not the ones that pay for JIT compilation and ONNX Runtime's first
 * allocations. A cold `karb serve` answers its first ~20 requests about three
 * times slower than it does afterwards, which is exactly what a canary's
 * latency analysis compares against a warm stable revision.
 *
 * Warm-up requests carry a per-process token (`WARMUP_HEADER`); the server
 * leaves them out of its metrics, drift and traces, and never injects faults
 * into them.
 */
import http from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { TensorSpec } from './onnx-model.ts';

export const WARMUP_HEADER = 'x-karb-warmup';

/** Largest body a warm-up request builds; a bigger input is warmed at one row, or not at all. */
const MAX_WARMUP_ELEMENTS = 1 << 20;

export interface WarmupToken {
  readonly value: string;
  /** Whether a request carries this process's token. */
  matches(req: http.IncomingMessage): boolean;
}

export function warmupToken(): WarmupToken {
  const value = randomBytes(16).toString('hex');
  const expected = Buffer.from(value);
  return {
    value,
    matches(req) {
      const presented = req.headers[WARMUP_HEADER];
      if (typeof presented !== 'string' || presented.length !== value.length) return false;
      return timingSafeEqual(Buffer.from(presented), expected);
    },
  };
}

/**
 * The body of one warm-up request of `rows` rows: zeros of each input's type,
 * its batch dimension set to `rows` and any other dynamic one to 1. Undefined
 * when an input cannot be warmed this way (no leading batch dimension for
 * rows > 1, or too large).
 */
export function warmupBody(inputs: readonly TensorSpec[], rows: number): string | undefined {
  const tensors = [];
  for (const input of inputs) {
    if (rows > 1 && input.shape[0] !== -1) return undefined;
    const shape = input.shape.map((d, i) => (d >= 0 ? d : i === 0 ? rows : 1));
    const elements = shape.reduce((a, b) => a * b, 1);
    if (elements > MAX_WARMUP_ELEMENTS) return undefined;
    const zero = input.datatype === 'BOOL' ? false : 0;
    tensors.push({ name: input.name, shape, datatype: input.datatype, data: new Array<number | boolean>(elements).fill(zero) });
  }
  return JSON.stringify({ inputs: tensors });
}

export interface WarmupPlan {
  /** Requests sent, one after another. */
  requests: number;
  /** Rows of the larger requests (every fourth request), usually the server's max batch size. */
  batchRows: number;
}

export interface WarmupResult {
  answered: number;
  /** Why warm-up stopped early, if it did (the server still starts). */
  stopped?: string;
}

/**
 * Sends the plan's requests to `url` (the server's own loopback address): three
 * of one row, then one of `batchRows`, and so on. Stops at the first answer that
 * is not 200, and says why.
 */
export async function warmUp(url: string, modelName: string, inputs: readonly TensorSpec[], token: WarmupToken, plan: WarmupPlan): Promise<WarmupResult> {
  const single = warmupBody(inputs, 1);
  if (single === undefined) return { answered: 0, stopped: 'an input is too large to warm up' };
  const batch = warmupBody(inputs, plan.batchRows) ?? single;
  const target = new URL(`/v2/models/${encodeURIComponent(modelName)}/infer`, url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let answered = 0;
  try {
    for (; answered < plan.requests; answered++) {
      const status = await post(target, answered % 4 === 3 ? batch : single, token, agent);
      if (status !== 200) return { answered, stopped: `warm-up request ${answered + 1} was answered ${status}` };
    }
    return { answered };
  } catch (err) {
    return { answered, stopped: `warm-up request ${answered + 1} failed: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    agent.destroy();
  }
}

function post(target: URL, body: string, token: WarmupToken, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(target, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [WARMUP_HEADER]: token.value },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
