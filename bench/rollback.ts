/**
 * Automatic rollback: how fast analysis pulls a bad canary, and what clients
 * see meanwhile. Real `karb up`, a steady open-loop probe through the gateway,
 * the default rollout spec (steps 10% → 50%, analysis every 10 s once 50
 * requests are seen, error-rate delta 0.5 points, p95 ratio 1.2), and two bad
 * canaries: 20% injected errors, and twice the model time (+100% latency).
 *
 * Reported per scenario, all from one run:
 *   intervals  (time traffic went to 0% − first judgeable moment) ÷ analysis interval   target ≤ 2
 *   errors     client errors from the canary's first request to its rollback ÷
 *              (canary weight × requests in that window)                                target ≤ 1
 *
 *   node bench/rollback.ts [--rate 50] [--json]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { startKarbUp, waitFor, workDir } from '../test/helpers.ts';
import { FRAUD_REQUEST as BODY, servedBy } from '../test/rollout-support.ts';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '50' }, json: { type: 'boolean', default: false } } });
const rate = Number(values.rate);
const INTERVAL_MS = 10_000;
const MIN_REQUESTS = 50;
const WEIGHT = 10;

interface Answer {
  sentAt: number;
  doneAt: number;
  status: number;
  revision: string;
}

const work = workDir('karb-bench-rollback-');
const up = await startKarbUp(work.dir);
const results: Array<Record<string, unknown>> = [];
try {
  for (const scenario of [
    { name: 'errors-20pct', stable: [] as string[], canary: ['--inject-error-rate', '0.2'] },
    { name: 'latency-2x', stable: ['--inject-latency-ms', '10'], canary: ['--inject-latency-ms', '20'] },
  ]) {
    const name = `bench-${scenario.name}`;
    const doc = (flags: string[]) => ({
      apiVersion: 'karb.dev/v1alpha1',
      kind: 'InferenceService',
      metadata: { name },
      spec: { model: servedBy(name, 'fraud-v1.onnx', flags), scaling: { minReplicas: 1, maxReplicas: 1 }, rollout: { strategy: 'canary', steps: [{ weight: WEIGHT, pause: '30s' }, { weight: 50, pause: '60s' }] } },
    });
    const put = (body: unknown) => fetch(`${up.controlUrl}/api/v1/services/${name}`, { method: 'PUT', headers: { ...up.admin, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const rollout = async () => ((await (await fetch(`${up.controlUrl}/api/v1/services/${name}/rollout`, { headers: up.admin })).json()) as { rollout: null | { phase: string; message: string } }).rollout;
    await put(doc(scenario.stable));
    await waitFor(`${name} to serve`, async () => (await fetch(`${up.gatewayUrl}/v2/models/${name}/ready`, { headers: up.auth })).ok, 30_000);

    const answers: Answer[] = [];
    const pending = new Set<Promise<void>>();
    const timer = setInterval(() => {
      const sentAt = Date.now();
      const p = fetch(`${up.gatewayUrl}/v2/models/${name}/infer`, { method: 'POST', headers: { ...up.auth, 'content-type': 'application/json' }, body: BODY })
        .then(async (res) => {
          await res.arrayBuffer();
          answers.push({ sentAt, doneAt: Date.now(), status: res.status, revision: res.headers.get('x-karb-revision') ?? '-' });
        })
        .catch(() => void answers.push({ sentAt, doneAt: Date.now(), status: 0, revision: '-' }))
        .finally(() => pending.delete(p));
      pending.add(p);
    }, 1000 / rate);
    await new Promise((r) => setTimeout(r, 3000));
    await put(doc(scenario.canary));
    const final = await waitFor(`${name} to be rolled back`, async () => {
      const r = await rollout();
      return r && r.phase !== 'Starting' && r.phase !== 'Progressing' ? r : undefined;
    }, 180_000, 200);
    await new Promise((r) => setTimeout(r, 2000));
    clearInterval(timer);
    while (pending.size > 0) await Promise.all([...pending]);

    const events = ((await (await fetch(`${up.controlUrl}/api/v1/events`, { headers: up.admin })).json()) as { items: Array<{ time: string; reason: string; service: string }> }).items.filter((e) => e.service === name);
    const at = (reason: string) => Date.parse(events.find((e) => e.reason === reason)?.time ?? 'NaN');
    const progressing = at('RolloutProgressing');
    const failed = at('RolloutFailed');
    const canaryName = `${name}-00002`;
    const canaryAnswers = answers.filter((a) => a.revision === canaryName).sort((a, b) => a.doneAt - b.doneAt);
    const windowEnd = progressing + INTERVAL_MS;
    const nth = canaryAnswers.filter((a) => a.doneAt >= progressing)[MIN_REQUESTS - 1]?.doneAt ?? NaN;
    const judgeable = Math.max(windowEnd, nth);
    const lastCanarySent = canaryAnswers.at(-1)?.sentAt ?? NaN;
    const firstCanarySent = canaryAnswers[0]?.sentAt ?? NaN;
    const window = answers.filter((a) => a.sentAt >= firstCanarySent && a.sentAt <= failed);
    const clientErrors = window.filter((a) => a.status !== 200).length;
    const allowed = (WEIGHT / 100) * window.length;
    const canaryLatency = canaryAnswers.map((a) => a.doneAt - a.sentAt).sort((a, b) => a - b);
    const stableLatency = answers.filter((a) => a.revision === `${name}-00001` && a.sentAt >= firstCanarySent && a.sentAt <= failed).map((a) => a.doneAt - a.sentAt).sort((a, b) => a - b);
    const p95 = (xs: number[]) => xs[Math.min(xs.length - 1, Math.ceil(0.95 * xs.length) - 1)] ?? NaN;
    results.push({
      scenario: scenario.name,
      phase: final.phase,
      message: final.message,
      intervalsToZero: Number(((failed - judgeable) / INTERVAL_MS).toFixed(2)),
      secondsFromProgressingToZero: Number(((failed - progressing) / 1000).toFixed(1)),
      lastCanaryRequestAfterRollbackMs: lastCanarySent - failed,
      requestsInWindow: window.length,
      clientErrors,
      errorsPerAllowed: Number((clientErrors / allowed).toFixed(2)),
      clientP95Ms: { stable: p95(stableLatency), canary: p95(canaryLatency) },
    });
    await fetch(`${up.controlUrl}/api/v1/services/${name}`, { method: 'DELETE', headers: up.admin });
  }
} finally {
  await up.stop();
  work.cleanup();
}

if (values.json) {
  process.stdout.write(`${JSON.stringify({ rate, cpus: cpus().length, results }, null, 2)}\n`);
} else {
  process.stdout.write(`rollback benchmark: ${rate} req/s probe, canary at ${WEIGHT}%, analysis every ${INTERVAL_MS / 1000} s after ${MIN_REQUESTS} requests; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})\n`);
  for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
}
