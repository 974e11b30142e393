/**
 * The dashboard's server side over real HTTP: the page and its files with their
 * Content-Security-Policy, and the data behind the admin token — each service's
 * summary and SLO status, its one-second history with the autoscaler's changes
 * marked, and the stream of samples. Time is a ManualClock; the sampler is ticked
 * by hand; the runtime is a stand-in holding ready replicas.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferenceService } from '../api/index.ts';
import type { Endpoint, ReplicaStatus, Runtime } from '../runtime/types.ts';
import { ManualClock } from '../util/clock.ts';
import { SignalHub } from '../observability/hub.ts';
import { RequestTally } from '../observability/request-tally.ts';
import { startControlApi, type ControlApi } from './api.ts';
import type { Reconciler } from './reconciler.ts';
import { SqliteStore } from './sqlite-store.ts';
import { HistorySampler } from './history-sampler.ts';

const TOKEN = 'test-admin-token';
const REVISION = 'svc-00001';

/** `n` ready replicas of one revision; the replica named `fresh` became ready at `freshAt`. */
class ReadyReplicas implements Runtime {
  n = 1;
  freshAt = 0;
  async ensureRevision(): Promise<void> {}
  async removeRevision(): Promise<void> {}
  revisions() {
    return [{ namespace: 'default', service: 'svc', revision: REVISION, replicas: this.n }];
  }
  replicas(): ReplicaStatus[] {
    return Array.from({ length: this.n }, (_, i) => ({ name: `r${i}`, revision: REVISION, service: 'svc', namespace: 'default', phase: 'Ready' as const, restarts: 0, startedAt: i === this.n - 1 ? this.freshAt - 900 : 0, readyAt: i === this.n - 1 ? this.freshAt : 1 }));
  }
  endpoints(): Endpoint[] {
    return this.replicas().map((r) => ({ replica: r.name, revision: REVISION, service: 'svc', namespace: 'default', url: 'http://127.0.0.1:1' }));
  }
  usage() {
    return [];
  }
  onEvent(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}
}

const clock = new ManualClock(1_700_000_000_000);
const store = new SqliteStore(':memory:', { clock });
const runtime = new ReadyReplicas();
const hub = new SignalHub({ clock });
const tally = new RequestTally();
const sampler = new HistorySampler({ store, runtime, hub, tally, clock });
let api: ControlApi;
const admin = { authorization: `Bearer ${TOKEN}` };

before(async () => {
  store.apply(
    parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'svc' }, spec: { model: { uri: 'file://m.onnx' }, slo: { latencyP95Ms: 100, errorRate: 0.01 } } }),
  );
  store.setStatus('default', 'svc', { revisions: [{ name: REVISION, ready: 1, desired: 1, traffic: 100 }], stableRevision: REVISION, latestRevision: REVISION });
  api = await startControlApi({ store, runtime, reconciler: { reconcile: async () => {} } as unknown as Reconciler, baseDir: process.cwd(), port: 0, adminToken: TOKEN, dashboard: { store, sampler, clock } });
});

after(async () => {
  await api.close();
  store.close();
});

/** One second of traffic: `ok` answers at `ms`, `failed` 503s. */
function second(ok: number, ms: number, failed = 0): void {
  for (let i = 0; i < ok; i++) tally.requestFinished('svc', REVISION, 'e', ms, 200, -1);
  for (let i = 0; i < failed; i++) tally.requestFinished('svc', REVISION, 'e', ms, 503, -1);
  clock.advance(1_000);
  sampler.tick();
}

async function getJson<T>(path: string, headers: Record<string, string> = admin): Promise<{ status: number; body: T }> {
  const res = await fetch(api.url + path, { headers });
  return { status: res.status, body: (await res.json()) as T };
}

interface Summary {
  name: string;
  sloStatus: { state: string; message: string; latency: { p95Ms?: number; burn5m?: number }; availability: { errorRate?: number; budgetLeft?: number } };
  replicas: { ready: number; desired: number; min: number; max: number };
  policy: string;
}

describe('the dashboard page', () => {
  it('serves the page and its files openly, with a CSP that allows no inline script', async () => {
    const res = await fetch(`${api.url}/`);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self';/);
    assert.doesNotMatch(res.headers.get('content-security-policy') ?? '', /unsafe-inline/);
    assert.match(html, /<script type="module" src="\/dashboard\/app\.js"><\/script>/);
    assert.doesNotMatch(html, /<script>|\son\w+="|style="/, 'no inline script, handler or style');
    assert.doesNotMatch(html, new RegExp(TOKEN), 'no secret in the page');
    const js = await fetch(`${api.url}/dashboard/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
  });

  it('serves only its own files', async () => {
    for (const path of ['/dashboard/nope.js', '/dashboard/assets.ts', '/dashboard/..%2Fcontrol%2Fapi.ts', '/dashboard/README.md']) {
      assert.equal((await fetch(api.url + path)).status, 404, path);
    }
    const post = await fetch(`${api.url}/`, { method: 'POST' });
    assert.equal(post.status, 405);
  });
});

describe('the dashboard data', () => {
  it('needs the admin token', async () => {
    const { status } = await getJson('/api/v1/dashboard/services', {});
    assert.equal(status, 401);
  });

  it('lists each service with its SLO status, replicas and policy', async () => {
    let { body } = await getJson<{ items: Summary[] }>('/api/v1/dashboard/services');
    assert.equal(body.items[0]!.sloStatus.state, 'NoData');
    for (let i = 0; i < 5; i++) second(99, 20, 1);
    ({ body } = await getJson<{ items: Summary[] }>('/api/v1/dashboard/services'));
    const s = body.items[0]!;
    assert.equal(s.name, 'svc');
    assert.equal(s.policy, 'gascl');
    assert.deepEqual(s.replicas, { ready: 1, desired: 1, min: 1, max: 10 });
    assert.equal(s.sloStatus.state, 'Met', s.sloStatus.message);
    assert.equal(s.sloStatus.availability.errorRate, 0.01);
    assert.ok(Math.abs(s.sloStatus.availability.budgetLeft!) < 1e-9, '1% errors spend exactly a 1% budget');
    assert.ok(s.sloStatus.latency.p95Ms! < 25);

    for (let i = 0; i < 10; i++) second(50, 300);
    ({ body } = await getJson<{ items: Summary[] }>('/api/v1/dashboard/services'));
    assert.equal(body.items[0]!.sloStatus.state, 'Breaching', 'two thirds of the last 15 s were slower than 100 ms');
    assert.match(body.items[0]!.sloStatus.message, /slower than 100 ms/);
  });

  it('serves the history after a time, with the autoscaler changes and cold starts marked', async () => {
    store.setAutoscaler('default', 'svc', { desiredReplicas: 1, reason: 'WithinTolerance', message: '1→1', panic: false, decidedAt: clock.now() });
    second(10, 20);
    const since = clock.now();
    store.setAutoscaler('default', 'svc', { desiredReplicas: 3, reason: 'Panic', message: '1→3: queue 40 would breach p95 100 ms (panic)', panic: true, decidedAt: clock.now() });
    runtime.n = 2;
    runtime.freshAt = clock.now() + 500;
    second(10, 20);
    const { status, body } = await getJson<{ points: Array<{ t: number; ready: number; coldStarts: number[]; scale?: { from: number; to: number; reason: string }; revisions: Record<string, { requests: number; p95Ms: number; answered?: unknown }> }> }>(`/api/v1/dashboard/services/svc/history?since=${since}`);
    assert.equal(status, 200);
    assert.equal(body.points.length, 1, 'only the points after since');
    const p = body.points[0]!;
    assert.deepEqual(p.scale && { from: p.scale.from, to: p.scale.to, reason: p.scale.reason }, { from: 1, to: 3, reason: 'Panic' });
    assert.equal(p.ready, 2);
    assert.deepEqual(p.coldStarts, [900]);
    assert.equal(p.revisions[REVISION]!.requests, 10);
    assert.equal(p.revisions[REVISION]!.answered, undefined, 'histograms stay on the server');
    const all = await getJson<{ points: Array<{ t: number }> }>('/api/v1/dashboard/services/svc/history');
    assert.deepEqual(all.body.points.slice(-2).map((x) => x.t), [since, clock.now()], 'the whole history, oldest first');
  });

  it('answers a bad request with what was wrong', async () => {
    const bad = await getJson<{ error: { code: string; message: string } }>('/api/v1/dashboard/services/svc/history?since=yesterday');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'INVALID_SINCE');
    const missing = await getJson<{ error: { code: string; message: string } }>('/api/v1/dashboard/services/nope/history');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'SERVICE_NOT_FOUND');
    const unknown = await getJson<{ error: { code: string } }>('/api/v1/dashboard/nothing');
    assert.equal(unknown.status, 404);
  });

  it('streams each sample', async () => {
    const controller = new AbortController();
    const res = await fetch(`${api.url}/api/v1/dashboard/stream`, { headers: { ...admin, accept: 'text/event-stream' }, signal: controller.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('karb dashboard stream')) text += (await reader.read()).value ?? '';
    second(5, 20);
    const complete = () => text.includes('event: sample') && text.includes('\n\n', text.indexOf('event: sample'));
    while (!complete()) text += (await reader.read()).value ?? '';
    controller.abort();
    const data = JSON.parse(/event: sample\ndata: (.*)\n/.exec(text)![1]!) as { t: number; items: Summary[]; points: Record<string, { revisions: Record<string, { requests: number }> }> };
    assert.equal(data.t, clock.now());
    assert.equal(data.items[0]!.name, 'svc');
    assert.equal(data.points['default/svc']!.revisions[REVISION]!.requests, 5);
  });
});
