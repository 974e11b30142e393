/**
 * What the rollout end-to-end tests share: the service they deploy, and a
 * client of the control plane's rollout API and the gateway bound to the
 * current `karb up` (a getter, since a test may restart it).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KARB, ROOT, startProbe, waitFor, type KarbUp, type ProbeReport } from './helpers.ts';

export const FRAUD_REQUEST = readFileSync(join(ROOT, 'examples/fraud-request.json'), 'utf8');

export interface RolloutView {
  stableRevision: string | null;
  revisions: Array<{ name: string; ready: number; desired: number; traffic: number }>;
  rollout: null | {
    phase: string;
    reason: string;
    message: string;
    weight: number;
    revision: string;
    stable: string;
    step?: string;
    paused: boolean;
    judgements: number;
    lastAnalysis?: { verdict: string; message: string };
  };
}

export interface Replica {
  name: string;
  revision: string;
  phase: string;
  pid?: number;
}

/** A model served by `karb serve` started as a command, so that faults can be injected with `flags`. */
export function servedBy(name: string, modelFile: string, flags: string[] = []) {
  return {
    format: 'oip',
    command: [process.execPath, KARB, 'serve', '--model', join(ROOT, 'models', modelFile), '--name', name, '--port', '$PORT', '--max-delay-ms', '1', ...flags],
    readinessPath: `/v2/models/${name}/ready`,
  };
}

/**
 * A fast analysis for the tests. Its latency bound is loose on purpose: two model processes on a
 * shared two-core machine, next to another test's load, can differ by 2× in p95 with nothing wrong
 * (seen in CI), and these tests are about the rollout's path, not its thresholds (analysis.test.ts
 * pins those). The latency-regression test sets its own bound and injects far more than it.
 */
export const TEST_ANALYSIS = { interval: '2s', minRequests: 30, maxLatencyP95Ratio: 3 };

/** One replica, fixed (so only the rollout changes counts), a fast analysis, and `rollout` on top. */
export function rolloutService(name: string, model: Record<string, unknown>, rollout: Record<string, unknown>, analysis: Record<string, unknown> = TEST_ANALYSIS) {
  return {
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name },
    spec: { model, scaling: { minReplicas: 1, maxReplicas: 1 }, rollout: { analysis, scaleDownDelay: '5s', ...rollout } },
  };
}

export type RolloutDoc = ReturnType<typeof rolloutService>;

const TERMINAL = ['Failed', 'Succeeded', 'Aborted', 'RolledBack'];

export const errorsOf = (r: ProbeReport): number => [...r.statuses].filter(([s]) => s !== 200).reduce((n, [, c]) => n + c, 0);

export class RolloutClient {
  readonly #up: () => KarbUp;

  constructor(up: () => KarbUp) {
    this.#up = up;
  }

  async apply(doc: RolloutDoc): Promise<void> {
    const up = this.#up();
    const res = await fetch(`${up.controlUrl}/api/v1/services/${doc.metadata.name}`, { method: 'PUT', headers: { ...up.admin, 'content-type': 'application/json' }, body: JSON.stringify(doc) });
    assert.ok(res.status === 200 || res.status === 201, `apply ${doc.metadata.name}: ${res.status} ${await res.text()}`);
  }

  /** Applies the first revision and waits until it serves all traffic. */
  async deploy(doc: RolloutDoc): Promise<void> {
    await this.apply(doc);
    await waitFor(`${doc.metadata.name} to serve`, async () => (await this.view(doc.metadata.name)).revisions.some((r) => r.ready >= 1 && r.traffic === 100));
  }

  async view(name: string): Promise<RolloutView> {
    const up = this.#up();
    return (await (await fetch(`${up.controlUrl}/api/v1/services/${name}/rollout`, { headers: up.admin })).json()) as RolloutView;
  }

  /** Waits for the rollout to reach `want`; fails at once if it ends in another terminal phase. */
  phase(name: string, want: string, timeoutMs = 60_000): Promise<RolloutView> {
    return waitFor(`${name} to reach ${want}`, async () => {
      const v = await this.view(name);
      if (v.rollout && v.rollout.phase !== want && TERMINAL.includes(v.rollout.phase)) throw new Error(`${name} ended ${v.rollout.phase}: ${v.rollout.message}`);
      return v.rollout?.phase === want ? v : undefined;
    }, timeoutMs, 200);
  }

  async replicas(name?: string): Promise<Replica[]> {
    const up = this.#up();
    const res = await fetch(`${up.controlUrl}/api/v1/replicas${name ? `?service=${name}` : ''}`, { headers: up.admin });
    return ((await res.json()) as { items: Replica[] }).items.filter((r) => r.phase !== 'Stopped');
  }

  async routes(): Promise<Array<{ model: string; revisions: Array<{ revision: string; weight: number }> }>> {
    const up = this.#up();
    return ((await (await fetch(`${up.controlUrl}/api/v1/routes`, { headers: up.admin })).json()) as { items: Array<{ model: string; revisions: Array<{ revision: string; weight: number }> }> }).items;
  }

  /** A steady probe of the service's infer path through `karb up`'s gateway, or another at `gatewayUrl`. */
  probe(name: string, gatewayUrl?: string): ReturnType<typeof startProbe> {
    const up = this.#up();
    return startProbe(`${gatewayUrl ?? up.gatewayUrl}/v2/models/${name}/infer`, { headers: up.auth, body: FRAUD_REQUEST });
  }

  async probeFor(name: string, ms: number): Promise<ProbeReport> {
    const q = this.probe(name);
    await new Promise((r) => setTimeout(r, ms));
    return q.stop();
  }
}
