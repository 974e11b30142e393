/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against a real
 * `karb up`: the page asks for the admin token, lists the service with its SLO status, shows
 * replicas and latency change under open-loop load with the autoscaler's decisions, receives
 * events live (no reload), and promotes a canary with its button. It takes the README's
 * screenshots on the way: into the test's work directory (gone with it), or into docs/images/
 * with KARB_UPDATE_SCREENSHOTS=1, which is how the README's pictures are refreshed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { fraudRequest, ROOT, startKarbUp, waitFor, workDir, type KarbUp } from '../helpers.ts';
import { servedBy } from '../rollout-support.ts';
import { createHttpSender, runOpenLoop } from '../../src/loadgen/runner.ts';
import { generatedSchedule } from '../../src/loadgen/schedule.ts';
import { FRAUD_FEATURES, FRAUD_FEATURE_COUNT, generateFraudData } from '../../src/models/fraud-data.ts';

// The page's globals, for the functions Playwright runs in the browser (this project compiles without the DOM library).
declare const document: {
  querySelector(selector: string): { textContent: string | null; getAttribute(name: string): string | null } | null;
  querySelectorAll(selector: string): { length: number };
};
declare const window: Record<string, unknown>;

const ROW = [42.5, 14, 0.1, 3.2, 1, 0, 1, 1200];
/** Where the screenshots go: docs/images/ only when asked, so `npm test` leaves tracked files alone. */
const UPDATE_SCREENSHOTS = process.env.KARB_UPDATE_SCREENSHOTS === '1';

/** Slow enough (50 ms a run, one request at a time per replica) that 40 requests/s need more than one replica. */
function service(modelFile: string) {
  return {
    apiVersion: 'karb.dev/v1alpha1',
    kind: 'InferenceService',
    metadata: { name: 'dash' },
    spec: {
      model: servedBy('dash', modelFile, ['--inject-latency-ms', '50']),
      resources: { requests: { cpu: '0.5', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
      slo: { latencyP95Ms: 250, errorRate: 0.01, coldStartMs: 15000 },
      scaling: { policy: 'gascl', minReplicas: 1, maxReplicas: 3, targetConcurrency: 1, stabilization: { upSeconds: 0, downSeconds: 5 } },
      // Long pauses: the canary waits at 20% until the test promotes it.
      rollout: { strategy: 'canary', steps: [{ weight: 20, pause: '10m' }, { weight: 50, pause: '10m' }], analysis: { interval: '2s', minRequests: 10, maxLatencyP95Ratio: 3 }, scaleDownDelay: '5s' },
    },
  };
}

/** The page down to the end of its content (at most `maxHeight`), so a short page's screenshot has no empty band. */
async function contentClip(page: Page, maxHeight: number): Promise<{ x: number; y: number; width: number; height: number }> {
  const box = await page.locator('main').boundingBox();
  const viewport = page.viewportSize()!;
  const bottom = box ? box.y + box.height : viewport.height;
  return { x: 0, y: 0, width: viewport.width, height: Math.min(maxHeight, viewport.height, Math.ceil(bottom)) };
}

describe('the dashboard in a browser', { timeout: 240_000 }, () => {
  const work = workDir('karb-dashboard-');
  const shot = (name: string) => join(UPDATE_SCREENSHOTS ? join(ROOT, 'docs/images') : work.dir, name);
  let up: KarbUp;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const apply = async (doc: ReturnType<typeof service>) => {
    const res = await fetch(`${up.controlUrl}/api/v1/services/dash`, { method: 'PUT', headers: { ...up.admin, 'content-type': 'application/json' }, body: JSON.stringify(doc) });
    assert.ok(res.status === 200 || res.status === 201, `apply: ${res.status} ${await res.text()}`);
  };

  /** Open-loop load on the service through the gateway for `ms`; resolves with the totals. */
  const load = async (rate: number, ms: number) => {
    const sender = createHttpSender(
      { url: `${up.gatewayUrl}/v2/models/dash/infer`, method: 'POST', headers: { 'content-type': 'application/json', ...up.auth }, body: fraudRequest([ROW]) },
      { connections: 64, timeoutMs: 30_000 },
    );
    try {
      return await runOpenLoop({ schedule: generatedSchedule({ shape: 'constant', rate }, { durationMs: ms, seed: 11 }), send: sender.send });
    } finally {
      await sender.close();
    }
  };

  /** Waits in the page until `condition` holds; a timeout says what the page and karb up showed. */
  const until = async (condition: () => unknown, timeout = 60_000) => {
    try {
      await page.waitForFunction(condition, null, { timeout });
    } catch (err) {
      const shown = await page.locator('main').innerText().catch(() => '(no page)');
      const history = await fetch(`${up.controlUrl}/api/v1/dashboard/services/dash/history`, { headers: up.admin }).then((r) => r.text());
      throw new Error(
        `${(err as Error).message}\nwaiting for: ${condition.toString()}\npage shows:\n${shown.slice(0, 2000)}\nthe history (last 3000 characters):\n${history.slice(-3000)}\nkarb up's output ends:\n${up.output().slice(-3000)}`,
      );
    }
  };

  before(async () => {
    up = await startKarbUp(work.dir);
    await apply(service('fraud-v1.onnx'));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    // A CSP violation or a script error shows here: the page must run clean under its policy.
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/401 \(Unauthorized\)/.test(m.text())) pageErrors.push(m.text());
    });
  });

  after(async () => {
    await browser?.close();
    await up?.stop();
    work.cleanup();
  });

  it('asks for the admin token, refuses a wrong one, and lists the service with its SLO status', async () => {
    await page.goto(`${up.controlUrl}/`);
    await page.locator('form.login').waitFor();
    await page.fill('#token', 'not-the-token');
    await page.click('form.login button[type=submit]');
    await page.getByText('That token was refused').waitFor();
    await page.fill('#token', up.adminToken);
    await page.click('form.login button[type=submit]');
    const row = page.locator('tr[data-service="default/dash"]');
    await row.waitFor();
    await until(() => document.querySelector('tr[data-service="default/dash"] [data-field=replicas]')?.textContent === '1/1', 60_000);
    assert.match((await row.textContent()) ?? '', /gascl/);
    assert.equal(await row.locator('[data-slo-state]').getAttribute('data-slo-state'), 'NoData', 'no request yet');
    assert.match((await page.locator('p.note').textContent()) ?? '', /this process's history/);
    const token = await page.evaluate(() => sessionStorage.getItem('karb.adminToken'));
    assert.equal(token, up.adminToken, 'the token is kept for the tab');
  });

  it('shows latency, throughput and replicas change under load, with the autoscaler decisions', async () => {
    await page.click('tr[data-service="default/dash"] a');
    await page.locator('svg[data-chart=latency]').waitFor();
    assert.equal(await page.locator('[data-field=replicas]').textContent(), '1 / 1');
    const running = load(40, 16_000);
    try {
      // Replicas grow on the page while the load runs: the autoscaler's decision and the ready count.
      await until(() => Number(document.querySelector('[data-field=replicas]')?.textContent?.split('/')[0]) >= 2, 60_000);
      await until(() => document.querySelector('ol.decisions li[data-decision]'));
      await until(() => document.querySelector('svg[data-chart=latency] path[data-series$="p95"]'));
      await until(() => document.querySelector('svg[data-chart=throughput] path[data-series$="req/s"]'));
      await until(() => document.querySelector('svg[data-chart=replicas] g.mark'));
    } finally {
      const result = await running;
      assert.ok(result.totals.ok > 0, JSON.stringify(result.totals));
    }
    const decision = (await page.locator('ol.decisions li[data-decision]').first().textContent()) ?? '';
    assert.match(decision, /\d→\d/, `a decision names its counts: ${decision}`);
    const p95 = (await page.locator('[data-field=p95]').textContent()) ?? '';
    assert.doesNotMatch(p95, /^–/, `p95 is read from the load: ${p95}`);
    // A model karb does not serve itself (a command) has no drift reading, and the page says so.
    assert.match((await page.locator('[data-field=drift]').textContent()) ?? '', /^Not measured/);
    await page.screenshot({ path: shot('dashboard-service.png'), fullPage: true });

    await page.click('nav a[href="#/"]');
    await until(() => document.querySelector('tr[data-service="default/dash"] [data-slo-state]')?.getAttribute('data-slo-state') !== 'NoData');
    await page.screenshot({ path: shot('dashboard-services.png'), clip: await contentClip(page, 1000) });
  });

  it('shows events as they happen, without a reload', async () => {
    await page.click('nav a[href="#/events"]');
    await page.locator('ol[data-live=events] li[data-reason]').first().waitFor();
    await page.evaluate(() => (window.stillHere = true));
    assert.equal(await page.locator('ol[data-live=events] li[data-reason=RevisionCreated]').count(), 1, 'only the first revision so far');
    await apply(service('fraud-v2.onnx'));
    await until(() => document.querySelectorAll('ol[data-live=events] li[data-reason=RevisionCreated]').length === 2);
    assert.equal(await page.evaluate(() => window.stillHere), true, 'the same page, not reloaded');
    await page.screenshot({ path: shot('dashboard-events.png'), clip: await contentClip(page, 720) });
  });

  it('shows the canary and its analysis, and promotes it with the button', async () => {
    await page.goto(`${up.controlUrl}/#/services/default/dash`);
    await until(() => document.querySelector('[data-field=rollout-phase]')?.textContent?.startsWith('Progressing'), 60_000);
    const running = load(15, 8_000);
    try {
      await page.locator('ol.analyses li[data-verdict]').first().waitFor({ timeout: 60_000 });
    } finally {
      await running;
    }
    await page.screenshot({ path: shot('dashboard-rollout.png'), fullPage: true });
    await page.click('button[data-command=promote]');
    await until(() => document.querySelector('.rollout-message')?.getAttribute('data-result') === 'ok');
    await until(() => /^(Promoting|Succeeded)/.test(document.querySelector('[data-field=rollout-phase]')?.textContent ?? ''));
    const view = (await (await fetch(`${up.controlUrl}/api/v1/services/dash/rollout`, { headers: up.admin })).json()) as { rollout: { phase: string } };
    assert.ok(['Promoting', 'Succeeded'].includes(view.rollout.phase), `the control plane promoted it: ${view.rollout.phase}`);
    await waitFor('the canary to take all traffic', async () => {
      const v = (await (await fetch(`${up.controlUrl}/api/v1/services/dash/rollout`, { headers: up.admin })).json()) as { rollout: { phase: string } };
      return v.rollout.phase === 'Succeeded';
    }, 60_000);
    await until(() => document.querySelector('[data-field=rollout-phase]')?.textContent === 'Succeeded');
    assert.equal(await page.locator('button[data-command=promote]').isDisabled(), true, 'nothing left to promote');
    assert.deepEqual(pageErrors, [], 'the page ran without script errors or CSP violations');
  });

  it("shows a model's drift column by column, for a model karb serves itself", async () => {
    const drifty = { apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'drifty' }, spec: { model: { format: 'onnx', uri: 'file://models/fraud-v1.onnx' }, scaling: { minReplicas: 1, maxReplicas: 1 } } };
    const put = await fetch(`${up.controlUrl}/api/v1/services/drifty`, { method: 'PUT', headers: { ...up.admin, 'content-type': 'application/json' }, body: JSON.stringify(drifty) });
    assert.ok(put.status === 200 || put.status === 201, `apply: ${put.status} ${await put.text()}`);
    // Rows from the training distribution (another seed), enough for a judged window (200 rows).
    const data = generateFraudData({ rows: 300, seed: 777 });
    const rows = 25;
    await waitFor('drifty to answer', async () => {
      const res = await fetch(`${up.gatewayUrl}/v2/models/drifty/ready`, { headers: up.auth });
      await res.arrayBuffer();
      return res.status === 200 ? true : undefined;
    }, 60_000);
    for (let at = 0; at < 300; at += rows) {
      const res = await fetch(`${up.gatewayUrl}/v2/models/drifty/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...up.auth },
        body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [rows, FRAUD_FEATURE_COUNT], data: Array.from(data.features.slice(at * FRAUD_FEATURE_COUNT, (at + rows) * FRAUD_FEATURE_COUNT)) }] }),
      });
      assert.equal(res.status, 200, await res.text());
    }
    await page.goto(`${up.controlUrl}/#/services/default/drifty`);
    await until(() => document.querySelector('[data-field=drift-status]')?.textContent === 'No drift', 60_000);
    const features = await page.locator('[data-field=drift] tr[data-column]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-column')));
    for (const feature of FRAUD_FEATURES) assert.ok(features.includes(feature), `${feature} on the page: ${features.join(', ')}`);
    assert.match((await page.locator('[data-field=drift] tr[data-column="amount_usd"] td:nth-child(3)').textContent()) ?? '', /^0\.\d{3}$/, 'its PSI, under the threshold');
    assert.equal(await page.locator('[data-field=drift] tr.drifted').count(), 0);
    assert.deepEqual(pageErrors, [], 'the page ran without script errors or CSP violations');
  });
});
