/**
 * Model drift end to end, on a real `karb up` serving fraud-v1 (ONNX Runtime, real HTTP): traffic
 * drawn like the model's training data leaves the service's `Drift` condition False; the same
 * traffic with one feature shifted (amounts four times larger) turns it True naming exactly that
 * feature, records one `Drift` Warning event, and the replica's `karb_serving_feature_psi` for
 * that feature is past the threshold while every other feature's stays under it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { karb, startKarbUp, waitFor, workDir, type KarbUp } from '../helpers.ts';
import { FRAUD_FEATURES, FRAUD_FEATURE_COUNT, generateFraudData } from '../../src/models/fraud-data.ts';
import { PSI_DRIFT } from '../../src/observability/drift/stats.ts';

const SERVICE = `apiVersion: karb.dev/v1alpha1
kind: InferenceService
metadata: { name: drifty }
spec:
  model:
    format: onnx
    uri: file://models/fraud-v1.onnx
    drift: { windowRows: 2000 }
  resources: { requests: { cpu: "0.25", memory: 256Mi }, limits: { cpu: "1", memory: 512Mi } }
  scaling: { minReplicas: 1, maxReplicas: 1 }
`;

const SHIFTED = 'amount_usd';
const ROWS_PER_REQUEST = 25;

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

describe('model drift', { timeout: 120_000 }, () => {
  const work = workDir('karb-drift-');
  let up: KarbUp;
  // Fresh draws from the training distribution (another seed than the training set's).
  const data = generateFraudData({ rows: 4000, seed: 777 });
  let sent = 0;

  /** Sends `rows` rows of the data set through the gateway; `scale` multiplies the shifted feature. */
  async function send(rows: number, scale = 1): Promise<void> {
    const column = FRAUD_FEATURES.indexOf(SHIFTED);
    for (let done = 0; done < rows; done += ROWS_PER_REQUEST) {
      const batch = data.features.slice(sent * FRAUD_FEATURE_COUNT, (sent + ROWS_PER_REQUEST) * FRAUD_FEATURE_COUNT);
      sent += ROWS_PER_REQUEST;
      for (let r = 0; r < ROWS_PER_REQUEST; r++) batch[r * FRAUD_FEATURE_COUNT + column]! *= scale;
      const res = await fetch(`${up.gatewayUrl}/v2/models/drifty/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...up.auth },
        body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [ROWS_PER_REQUEST, FRAUD_FEATURE_COUNT], data: Array.from(batch) }] }),
      });
      assert.equal(res.status, 200, await res.text());
    }
  }

  async function service(): Promise<{ status?: { conditions?: Condition[]; revisions?: Array<{ ready: number }> } }> {
    return (await fetch(`${up.controlUrl}/api/v1/services/drifty`, { headers: up.admin })).json() as never;
  }

  async function driftCondition(): Promise<Condition | undefined> {
    return (await service()).status?.conditions?.find((c) => c.type === 'Drift');
  }

  /** The replica's address, from the record the local runtime keeps of it (karb's own endpoint). */
  function replicaUrl(): string {
    const dir = join(work.dir, '.karb', 'replicas');
    const records = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { service: string; url: string });
    const record = records.find((r) => r.service === 'drifty');
    assert.ok(record, `a replica record of drifty in ${dir}`);
    return record.url;
  }

  before(async () => {
    up = await startKarbUp(work.dir);
    const applied = await karb(['apply', '-f', '-', '--server', up.controlUrl, '--token', up.adminToken], { cwd: work.dir, input: SERVICE });
    assert.equal(applied.code, 0, applied.stderr);
    await waitFor('a ready replica', async () => (await service()).status?.revisions?.[0]?.ready === 1, 60_000);
  });

  after(async () => {
    await up?.stop();
    work.cleanup();
  });

  it('reads traffic like the training data as no drift', async () => {
    await send(1000);
    const condition = await waitFor('Drift=False', async () => {
      const c = await driftCondition();
      return c?.status === 'False' ? c : undefined;
    });
    assert.equal(condition.reason, 'NoDrift');
  });

  it('flags exactly the shifted feature: condition, event and metric', async () => {
    await send(2000, 4);
    const condition = await waitFor('Drift=True', async () => {
      const c = await driftCondition();
      return c?.status === 'True' ? c : undefined;
    });
    assert.equal(condition.reason, 'FeatureDrift');
    const named = /input features: ([^;]+);/.exec(condition.message ?? '')?.[1];
    assert.equal(named, SHIFTED, `the condition names exactly ${SHIFTED}: ${condition.message}`);

    const events = ((await (await fetch(`${up.controlUrl}/api/v1/events`, { headers: up.admin })).json()) as { items: Array<{ type: string; reason: string; message: string; service: string }> }).items;
    const drift = events.filter((e) => e.service === 'drifty' && e.reason === 'Drift');
    assert.equal(drift.length, 1, JSON.stringify(drift));
    assert.equal(drift[0]!.type, 'Warning');
    assert.match(drift[0]!.message, new RegExp(`^input features drifted: ${SHIFTED} `));

    // The control plane's reading, for the dashboard: every replica's report.
    const reading = (await (await fetch(`${up.controlUrl}/api/v1/services/drifty/drift`, { headers: up.admin })).json()) as {
      verdict: { features: string[] };
      replicas: Array<{ report: { state: string; inputs?: Array<{ name: string; psi: number }> } | null }>;
    };
    assert.deepEqual(reading.verdict.features, [SHIFTED]);
    assert.equal(reading.replicas.length, 1);
    assert.ok(reading.replicas[0]!.report?.inputs?.some((f) => f.name === SHIFTED && f.psi > PSI_DRIFT));

    const metrics = await (await fetch(`${replicaUrl()}/metrics`)).text();
    const psi = new Map<string, number>();
    for (const m of metrics.matchAll(/^karb_serving_feature_psi\{([^}]*)\} (\S+)$/gm)) {
      const feature = /feature="([^"]+)"/.exec(m[1]!)?.[1];
      if (feature) psi.set(feature, Number(m[2]));
    }
    assert.deepEqual([...psi.keys()].sort(), [...FRAUD_FEATURES].sort(), 'a PSI for every feature');
    for (const [feature, value] of psi) {
      if (feature === SHIFTED) assert.ok(value > PSI_DRIFT, `${feature} PSI ${value} is past ${PSI_DRIFT}`);
      else assert.ok(value < PSI_DRIFT, `${feature} PSI ${value} stays under ${PSI_DRIFT}`);
    }
    console.log(`feature PSI after the shift: ${[...psi].map(([f, v]) => `${f}=${v.toFixed(3)}`).join(' ')}`);
  });
});
