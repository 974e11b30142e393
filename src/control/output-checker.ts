/**
 * Runs the rollout's optional check on outputs (`spec.rollout.analysis.outputCheck`):
 * the same OIP v2 request to one ready replica of each revision, then the pure
 * `compareOutputs` (src/rollout) on the two answers. At most one check per
 * rollout in flight and one per analysis interval, only to replica URLs the
 * runtime gave (never one from a request), each call bounded by a timeout. The
 * rollout tracker reads the latest result on its next pass. Time comes from
 * the injected clock only.
 */
import { request } from 'undici';
import { compareOutputs, type OutputCheckResult } from '../rollout/output-check.ts';
import type { Clock } from '../util/clock.ts';

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
  readonly #clock: Pick<Clock, 'now'>;
  readonly #latest = new Map<string, OutputCheckResult>();
  readonly #inFlight = new Set<string>();
  readonly #startedAt = new Map<string, number>();

  constructor(options: { clock: Pick<Clock, 'now'> }) {
    this.#clock = options.clock;
  }

  latest(key: string): OutputCheckResult | undefined {
    return this.#latest.get(key);
  }

  /** Starts a check unless one is running for `key` or one started less than an interval ago. */
  maybeRun(target: OutputCheckTarget): void {
    const now = this.#clock.now();
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
    this.#latest.set(t.key, { ...result, at: this.#clock.now() });
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
