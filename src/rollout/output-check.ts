/**
 * The optional check on outputs (`spec.rollout.analysis.outputCheck`): the same
 * OIP v2 request goes to one ready replica of each revision, and the new one
 * fails when any output value is further than `maxDelta` from stable's, or its
 * outputs do not line up (names, shapes, non-finite values, a status that is
 * not 200). It catches a release that answers quickly and without errors but
 * wrongly — the wrong model file, a broken export.
 *
 * `compareOutputs` is pure. `OutputChecker` does the I/O: at most one check per
 * rollout in flight and one per analysis interval, only to replica URLs the
 * runtime gave (never one from a request), each call bounded by a timeout. The
 * tracker reads the latest result on its next pass.
 */
import { request } from 'undici';

export interface OutputCheckResult {
  verdict: 'Pass' | 'Fail';
  message: string;
  /** Largest absolute difference seen, when the outputs lined up. */
  maxDelta?: number;
  /** Milliseconds since the epoch when the check finished. */
  at: number;
}

interface Tensor {
  name: string;
  shape: number[];
  data: unknown[];
}

export function compareOutputs(stable: unknown, canary: unknown, maxDelta: number): Omit<OutputCheckResult, 'at'> {
  const s = tensorsOf(stable);
  const c = tensorsOf(canary);
  if (s === undefined) return { verdict: 'Pass', message: 'stable gave no outputs to compare with' };
  if (c === undefined) return { verdict: 'Fail', message: 'the new revision answered without an outputs list' };
  let worst = 0;
  let where = '';
  for (const st of s) {
    const ct = c.find((t) => t.name === st.name);
    if (ct === undefined) return { verdict: 'Fail', message: `output ${st.name} is missing from the new revision's answer` };
    if (ct.shape.join(',') !== st.shape.join(',') || ct.data.length !== st.data.length) {
      return { verdict: 'Fail', message: `output ${st.name} has shape [${ct.shape}] where stable's is [${st.shape}]` };
    }
    for (let i = 0; i < st.data.length; i++) {
      const a = st.data[i];
      const b = ct.data[i];
      if (typeof a !== 'number' || typeof b !== 'number') {
        if (a !== b) return { verdict: 'Fail', message: `output ${st.name}[${i}] is ${JSON.stringify(b)} where stable says ${JSON.stringify(a)}` };
        continue;
      }
      if (!Number.isFinite(b)) return { verdict: 'Fail', message: `output ${st.name}[${i}] is ${b}` };
      const d = Math.abs(a - b);
      if (d > worst) {
        worst = d;
        where = `${st.name}[${i}]: ${round(b)} vs stable ${round(a)}`;
      }
    }
  }
  if (worst > maxDelta) return { verdict: 'Fail', message: `outputs differ by up to ${round(worst)} (${where}; allowed ${maxDelta})`, maxDelta: worst };
  return { verdict: 'Pass', message: `outputs within ${round(worst)} of stable's (allowed ${maxDelta})`, maxDelta: worst };
}

function tensorsOf(body: unknown): Tensor[] | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const outputs = (body as { outputs?: unknown }).outputs;
  if (!Array.isArray(outputs)) return undefined;
  const tensors: Tensor[] = [];
  for (const o of outputs) {
    if (o === null || typeof o !== 'object') return undefined;
    const { name, shape, data } = o as Record<string, unknown>;
    if (typeof name !== 'string' || !Array.isArray(shape) || !Array.isArray(data)) return undefined;
    tensors.push({ name, shape: shape as number[], data: data.flat(Infinity) });
  }
  return tensors;
}

function round(x: number): string {
  return String(Math.round(x * 1e6) / 1e6);
}

export interface OutputCheckTarget {
  /** Rollout identity: results of an earlier rollout never count for a later one. */
  key: string;
  model: string;
  stableUrl: string;
  canaryUrl: string;
  request: Record<string, unknown>;
  maxDelta: number;
  intervalMs: number;
}

/** How long each of the two calls may take. */
const CALL_TIMEOUT_MS = 5_000;

export class OutputChecker {
  readonly #now: () => number;
  readonly #latest = new Map<string, OutputCheckResult>();
  readonly #inFlight = new Set<string>();
  readonly #startedAt = new Map<string, number>();

  constructor(options: { now: () => number }) {
    this.#now = options.now;
  }

  latest(key: string): OutputCheckResult | undefined {
    return this.#latest.get(key);
  }

  /** Starts a check unless one is running for `key` or one started less than an interval ago. */
  maybeRun(target: OutputCheckTarget): void {
    const now = this.#now();
    const last = this.#startedAt.get(target.key);
    if (this.#inFlight.has(target.key) || (last !== undefined && now - last < target.intervalMs)) return;
    this.#inFlight.add(target.key);
    this.#startedAt.set(target.key, now);
    void this.#run(target).finally(() => this.#inFlight.delete(target.key));
  }

  /** Forgets rollouts that are over. */
  retain(keys: ReadonlySet<string>): void {
    for (const map of [this.#latest, this.#startedAt]) for (const k of map.keys()) if (!keys.has(k)) map.delete(k);
  }

  async #run(t: OutputCheckTarget): Promise<void> {
    const body = JSON.stringify(t.request);
    const [stable, canary] = await Promise.all([infer(t.stableUrl, t.model, body), infer(t.canaryUrl, t.model, body)]);
    let result: Omit<OutputCheckResult, 'at'>;
    if (!stable.ok) result = { verdict: 'Pass', message: `stable did not answer the check (${stable.error}); nothing to compare` };
    else if (!canary.ok) result = { verdict: 'Fail', message: `the new revision did not answer the check request: ${canary.error}` };
    else result = compareOutputs(stable.body, canary.body, t.maxDelta);
    this.#latest.set(t.key, { ...result, at: this.#now() });
  }
}

async function infer(url: string, model: string, body: string): Promise<{ ok: true; body: unknown } | { ok: false; error: string }> {
  try {
    const res = await request(`${url}/v2/models/${encodeURIComponent(model)}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'karb-rollout-output-check' },
      body,
      headersTimeout: CALL_TIMEOUT_MS,
      bodyTimeout: CALL_TIMEOUT_MS,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) return { ok: false, error: `status ${res.statusCode}` };
    return { ok: true, body: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, error: err instanceof SyntaxError ? 'an answer that is not JSON' : ((err as { code?: string }).code ?? (err as Error).message) };
  }
}
