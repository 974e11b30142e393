/**
 * A real Prometheus (Debian's) scraping `karb up`'s /metrics with the rules `karb render
 * --prometheus` writes: the recording rules' series appear in its HTTP API, and the fast-burn
 * availability alert fires while the service fails and resolves after. The rules are rendered
 * with `--slo-period 1d --scrape-interval 1s`, which scales every window by 1/30 (1h → 2m,
 * 5m → 10s, ten scrapes): the same alerts, passing in seconds what takes an hour over 30 days
 * (promtool covers the real windows: rules.e2e.test.ts). It also scrapes a standalone `karb
 * gateway`'s --metrics-port, which answers Prometheus in OpenMetrics (Prometheus asks for it on
 * every scrape), and its series are ingested.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wantsOpenMetrics } from '../../src/observability/tracing/openmetrics.ts';
import { freePort, karb, startGatewayProcess, startKarbUp, waitFor, workDir, type GatewayProcess, type KarbUp } from '../helpers.ts';
import { namingProblems } from './naming.ts';
import { promtoolCheckMetrics } from './promtool.ts';

const SERVICE = 'flaky';
let work: ReturnType<typeof workDir>;
let up: KarbUp;
let gateway: GatewayProcess;
/** Stands where a scrape target would, to see what Prometheus asks for. */
let acceptProbe: Server;
const acceptHeaders: string[] = [];
let prometheus: ChildProcess;
let prometheusUrl: string;
let prometheusOutput = '';
let traffic: { stop(): Promise<void> } | undefined;
const failFile = () => join(work.dir, 'fail');

before(async () => {
  work = workDir('karb-prometheus-');
  up = await startKarbUp(work.dir);
  const manifest = {
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name: SERVICE },
    spec: {
      model: { format: 'oip', command: [process.execPath, join(import.meta.dirname, 'flaky-model.ts'), '$PORT', failFile()], readinessPath: `/v2/models/${SERVICE}/ready` },
      scaling: { minReplicas: 1, maxReplicas: 1 },
      slo: { latencyP95Ms: 250, errorRate: 0.01 },
    },
  };
  const manifestFile = join(work.dir, 'flaky.yaml');
  writeFileSync(manifestFile, JSON.stringify(manifest));
  const put = await fetch(`${up.controlUrl}/api/v1/services/${SERVICE}`, { method: 'PUT', headers: { ...up.admin, 'content-type': 'application/json' }, body: JSON.stringify(manifest) });
  assert.ok(put.ok, `apply: ${put.status} ${await put.text()}`);

  // Ready before Prometheus first scrapes, so no answer from before (a 503 while the replica starts) is in any window.
  await waitFor('the service to answer', async () => (await infer()) === 200, 60_000);

  const rules = join(work.dir, 'rules');
  const rendered = await karb(['render', '-f', manifestFile, '--prometheus', rules, '--slo-period', '1d', '--scrape-interval', '1s']);
  assert.equal(rendered.code, 0, rendered.stderr);

  gateway = await startGatewayProcess(work.dir, up.controlUrl, up.adminToken, []);
  acceptProbe = createServer((req, res) => {
    acceptHeaders.push(String(req.headers.accept));
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end('');
  });
  await new Promise<void>((resolve) => acceptProbe.listen(0, '127.0.0.1', resolve));

  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  const data = join(work.dir, 'prometheus-data');
  mkdirSync(data);
  writeFileSync(
    join(work.dir, 'prometheus.yml'),
    JSON.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [join(rules, '*.rules.yaml')],
      scrape_configs: [
        { job_name: 'karb', static_configs: [{ targets: [new URL(up.controlUrl).host] }] },
        { job_name: 'karb-gateway', static_configs: [{ targets: [new URL(gateway.metricsUrl).host] }] },
        { job_name: 'accept-probe', static_configs: [{ targets: [`127.0.0.1:${(acceptProbe.address() as { port: number }).port}`] }] },
      ],
    }),
  );
  prometheus = spawn('prometheus', [`--config.file=${join(work.dir, 'prometheus.yml')}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  prometheus.stdout!.on('data', (d) => (prometheusOutput += d));
  prometheus.stderr!.on('data', (d) => (prometheusOutput += d));
  await waitFor(`Prometheus to be ready (output: ${prometheusOutput.slice(-2000)})`, async () => (await fetch(`${prometheusUrl}/-/ready`)).ok, 60_000);
  traffic = steadyTraffic();
});

after(async () => {
  await traffic?.stop();
  if (prometheus !== undefined && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus.once('exit', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await gateway?.stop();
  if (acceptProbe !== undefined) await new Promise<void>((resolve) => acceptProbe.close(() => resolve()));
  await up?.stop();
  work?.cleanup();
});

async function infer(): Promise<number> {
  const res = await fetch(`${up.gatewayUrl}/v2/models/${SERVICE}/infer`, { method: 'POST', headers: { ...up.auth, 'content-type': 'application/json' }, body: '{"inputs":[]}' });
  await res.arrayBuffer();
  return res.status;
}

/** About 50 requests a second, one at a time, until stopped. */
function steadyTraffic(): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      await infer().catch(() => 0);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

async function query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  assert.equal(body.status, 'success');
  return body.data.result;
}

/** A scrape job's target as Prometheus last saw it: its health and last error (what a failed scrape says). */
async function targetHealth(job: string): Promise<string> {
  const body = (await (await fetch(`${prometheusUrl}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> } };
  const target = body.data.activeTargets.find((t) => t.labels.job === job);
  return target === undefined ? 'not among the targets' : `${target.health} ${target.lastError}`;
}

async function firingFastBurn(): Promise<boolean> {
  const res = await fetch(`${prometheusUrl}/api/v1/alerts`);
  const body = (await res.json()) as { data: { alerts: Array<{ labels: Record<string, string>; state: string }> } };
  return body.data.alerts.some((a) => a.labels.alertname === 'KarbAvailabilityBudgetBurn' && a.labels.service === SERVICE && a.labels.long_window === '1h' && a.state === 'firing');
}

test('the recording rules’ series are in Prometheus: both SLIs over every window, 0 bad while all is well', async () => {
  for (const window of ['5m', '30m', '1h', '2h', '6h', '1d', '3d']) {
    for (const sli of ['availability_errors', 'latency_slow']) {
      const series = await waitFor(`service:karb_slo_${sli}:ratio_rate${window}`, async () => {
        const r = await query(`service:karb_slo_${sli}:ratio_rate${window}{service="${SERVICE}"}`);
        return r.length === 1 ? r : undefined;
      }, 60_000);
      assert.equal(series[0]!.metric.service, SERVICE);
    }
  }
  // The gateway's counter of requests within the target grows with the answers.
  const within = await query(`karb_gateway_requests_within_latency_target_total{service="${SERVICE}"}`);
  assert.ok(within.length >= 1 && Number(within[0]!.value[1]) > 0, JSON.stringify(within));
  assert.equal(Number((await query(`service:karb_slo_availability_errors:ratio_rate5m{service="${SERVICE}"}`))[0]!.value[1]), 0);
  assert.equal(await firingFastBurn(), false);
});

test('the fast-burn page fires while every request fails, and resolves once they succeed again', async () => {
  // Every request fails from here: the 10 s window passes 14.4 × 1% at once, the 2-minute one once
  // errors are 14.4% of what it holds (Prometheus has scraped for less than that, so sooner).
  writeFileSync(failFile(), '');
  try {
    await waitFor('KarbAvailabilityBudgetBurn (1h/5m, scaled to 2m/10s) to fire', firingFastBurn, 180_000, 500);
    const ratio = await query(`service:karb_slo_availability_errors:ratio_rate5m{service="${SERVICE}"}`);
    assert.ok(Number(ratio[0]!.value[1]) > 0.144, `the short window's error share: ${JSON.stringify(ratio)}`);
  } finally {
    unlinkSync(failFile());
  }
  // Resolved because the short window is clean again, while the long one still remembers the errors:
  // read at the moment it resolves, as the long window (2m) forgets them later.
  const long = await waitFor('the fast-burn page to resolve', async () => {
    if (await firingFastBurn()) return undefined;
    return { ratio: await query(`service:karb_slo_availability_errors:ratio_rate1h{service="${SERVICE}"}`) };
  }, 180_000, 500);
  assert.ok(Number(long.ratio[0]?.value[1]) > 0, `the long window's error share: ${JSON.stringify(long.ratio)}`);
});

test('karb up’s /metrics (control plane and gateway, with traffic) follows Prometheus’ naming', async () => {
  const text = await (await fetch(`${up.controlUrl}/metrics`)).text();
  assert.match(text, /^karb_gateway_requests_within_latency_target_total\{/m);
  assert.deepEqual(namingProblems(text), []);
  const lint = await promtoolCheckMetrics(text);
  assert.equal(lint.code, 0, lint.output);
});

test('a standalone karb gateway’s --metrics-port, which Prometheus asks for OpenMetrics, is scraped and its series ingested', async () => {
  // What Prometheus sends every target: OpenMetrics first, so every scrape of the gateway goes through toOpenMetrics.
  const accept = await waitFor('a scrape of the accept probe', () => acceptHeaders[0], 60_000);
  assert.ok(wantsOpenMetrics(accept), `Prometheus' Accept: ${accept}`);
  const asked = await fetch(`${gateway.metricsUrl}/metrics`, { headers: { accept } });
  assert.match(String(asked.headers.get('content-type')), /^application\/openmetrics-text/);
  assert.match(await asked.text(), /# EOF\n$/);

  await waitFor('the standalone gateway to know the service', async () => (await fetch(`${gateway.url}/v2/models/${SERVICE}/ready`, { headers: up.auth })).ok, 60_000);
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${gateway.url}/v2/models/${SERVICE}/infer`, { method: 'POST', headers: { ...up.auth, 'content-type': 'application/json' }, body: '{"inputs":[]}' });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
  }
  const series = await waitFor('the standalone gateway’s requests in Prometheus', async () => {
    const r = await query(`karb_gateway_requests_total{job="karb-gateway",service="${SERVICE}",revision="${SERVICE}-00001",code="200"}`);
    if (r.length === 1 && Number(r[0]!.value[1]) >= 5) return r;
    throw new Error(`series ${JSON.stringify(r)}; the target: ${await targetHealth('karb-gateway')}`);
  }, 60_000);
  assert.equal(series[0]!.metric.instance, new URL(gateway.metricsUrl).host);
  // Every scrape since Prometheus started (the gateway was up before it) parsed.
  const upSeries = await query('min_over_time(up{job="karb-gateway"}[10m])');
  assert.deepEqual(upSeries.map((s) => s.value[1]), ['1'], 'every scrape of the gateway parsed');
});
