/**
 * The dashboard's server side over real HTTP: the page and its files with their
 * Content-Security-Policy, and the data behind the admin token — each service's
 * summary and SLO status, its one-second history with the autoscaler's changes
 * marked, and the stream of samples with its limits (streams at once, a client
 * that stops reading). Time is a ManualClock; the sampler is ticked by hand; the
 * runtime is a stand-in holding ready replicas.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { parseInferenceService } from '../api/index.ts';
import type { Endpoint, ReplicaStatus, Runtime } from '../runtime/types.ts';
import { ManualClock } from '../util/clock.ts';
import { SignalHub } from '../observability/hub.ts';
import { RequestTally } from '../observability/request-tally.ts';
import { startControlApi, type ControlApi } from './api.ts';
import { driftSummary } from './dashboard-api.ts';
import type { Reconciler } from './reconciler.ts';
import { SqliteStore } from './sqlite-store.ts';
import { HistorySampler } from './history-sampler.ts';
import { History } from '../observability/history.ts';

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
  for (let i = 0; i < ok; i++) tally.requestAnswered('svc', REVISION, 200, ms);
  for (let i = 0; i < failed; i++) tally.requestAnswered('svc', REVISION, 503, ms);
  clock.advance(1_000);
  sampler.tick();
}

/** Reads the stream on until `enough` holds of what arrived; fails, saying what came, if the stream ends first. */
async function readUntil(reader: ReadableStreamDefaultReader<string>, text: string, enough: (text: string) => boolean, what: string): Promise<string> {
  while (!enough(text)) {
    const { value, done } = await reader.read();
    if (done) assert.fail(`the stream ended before ${what}; it sent ${JSON.stringify(text.slice(-500))}`);
    text += value;
  }
  return text;
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
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const missing = await fetch(`${api.url}/dashboard/nope.js`);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'DASHBOARD_FILE_NOT_FOUND');
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
    const put = await fetch(`${api.url}/api/v1/dashboard/services`, { method: 'PUT', headers: admin });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'GET');
  });

  it('streams each sample', { timeout: 10_000 }, async () => {
    const controller = new AbortController();
    const res = await fetch(`${api.url}/api/v1/dashboard/stream`, { headers: { ...admin, accept: 'text/event-stream' }, signal: controller.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = await readUntil(reader, '', (t) => t.includes('karb dashboard stream'), 'its opening comment');
    second(5, 20);
    text = await readUntil(reader, text, (t) => t.includes('event: sample') && t.includes('\n\n', t.indexOf('event: sample')), 'a whole sample');
    controller.abort();
    const data = JSON.parse(/event: sample\ndata: (.*)\n/.exec(text)![1]!) as { t: number; items: Summary[]; points: Record<string, { revisions: Record<string, { requests: number }> }> };
    assert.equal(data.t, clock.now());
    assert.equal(data.items[0]!.name, 'svc');
    assert.equal(data.points['default/svc']!.revisions[REVISION]!.requests, 5);
  });
});

describe("the stream's limits", () => {
  // A control plane of its own, so its streams and samples do not meet the tests' above; forty
  // services make each sample some 50 kB, so a client that stops reading falls behind soon.
  const store2 = new SqliteStore(':memory:', { clock });
  const sampler2 = new HistorySampler({ store: store2, runtime, hub, tally: new RequestTally(), clock });
  const logs: Array<Record<string, unknown>> = [];
  let api2: ControlApi;

  before(async () => {
    for (let i = 0; i < 40; i++) {
      store2.apply(parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name: `svc${i}` }, spec: { model: { uri: 'file://m.onnx' } } }));
    }
    const dashboard = { store: store2, sampler: sampler2, clock, log: (r: Record<string, unknown>) => void logs.push(r), maxStreams: 1, streamBufferBytes: 64 * 1024 };
    api2 = await startControlApi({ store: store2, runtime, reconciler: { reconcile: async () => {} } as unknown as Reconciler, baseDir: process.cwd(), port: 0, adminToken: TOKEN, dashboard });
  });

  after(async () => {
    await api2.close();
    store2.close();
  });

  const open = (signal?: AbortSignal) => fetch(`${api2.url}/api/v1/dashboard/stream`, { headers: { ...admin, accept: 'text/event-stream' }, ...(signal ? { signal } : {}) });

  /** Waits (ticking nothing) until the sampler has `n` listeners. */
  async function listeners(n: number): Promise<void> {
    for (let i = 0; i < 200 && sampler2.listenerCount !== n; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(sampler2.listenerCount, n, 'stream subscriptions');
  }

  it('refuses a stream past the limit with 503 saying so, and takes one again once a stream closes', { timeout: 10_000 }, async () => {
    const first = new AbortController();
    const res = await open(first.signal);
    assert.equal(res.status, 200);
    await listeners(1);
    const refused = await open();
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '5');
    assert.equal(body.error.code, 'TOO_MANY_STREAMS');
    assert.match(body.error.message, /^1 dashboard streams are open, the most this control plane serves at once \(1\); close a dashboard tab/);
    first.abort();
    await listeners(0);
    const again = new AbortController();
    assert.equal((await open(again.signal)).status, 200);
    again.abort();
    await listeners(0);
  });

  it('drops a client that stops reading, and removes its subscription', { timeout: 30_000 }, async () => {
    const url = new URL(api2.url);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(`GET /api/v1/dashboard/stream HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${TOKEN}\r\naccept: text/event-stream\r\n\r\n`);
    socket.pause(); // and never read: the kernel's buffers fill, then the server's
    socket.on('error', () => {});
    await listeners(1);
    let ticks = 0;
    while (!logs.some((r) => r.msg === 'dashboard stream dropped') && ticks < 2_000) {
      clock.advance(1_000);
      sampler2.tick();
      ticks++;
      await new Promise((r) => setImmediate(r));
    }
    const dropped = logs.find((r) => r.msg === 'dashboard stream dropped');
    assert.ok(dropped, `no drop after ${ticks} samples`);
    assert.equal(dropped.level, 'warn');
    assert.equal(dropped.limitBytes, 64 * 1024);
    assert.ok((dropped.unsentBytes as number) > 64 * 1024);
    await listeners(0);
    socket.destroy();
    const next = new AbortController();
    assert.equal((await open(next.signal)).status, 200, 'its place is free');
    next.abort();
    await listeners(0);
  });
});

describe("a service's drift on the dashboard", () => {
  it('shows each watched column at its worst replica, inputs then outputs, and the verdict', () => {
    const column = (name: string, psi: number | null, ks: number | null) => ({ name, kind: 'continuous' as const, psi, ks });
    const summary = driftSummary({
      at: '2026-12-07T00:00:00Z',
      threshold: 0.25,
      verdict: { status: 'True', reason: 'FeatureDrift', message: 'amount drifted', features: ['amount'] },
      replicas: [
        { replica: 'a', revision: 'r-00001', report: { state: 'monitoring', reference: { rows: 1000, source: 'file' }, windowRows: 500, inputs: [column('amount', 0.1, 0.05), column('hour', null, null)], outputs: [column('score', 0.02, 0.01)] } },
        { replica: 'b', revision: 'r-00001', report: { state: 'monitoring', reference: { rows: 1000, source: 'file' }, windowRows: 500, inputs: [column('amount', 0.4, 0.2), column('hour', 0.01, 0.02)], outputs: [column('score', 0.01, 0.03)] } },
        { replica: 'c', revision: 'r-00001', report: { state: 'learning', learnedRows: 10, learnRows: 1000 } },
        { replica: 'd', revision: 'r-00001', report: null },
      ],
    });
    assert.deepEqual(summary, {
      status: 'True',
      reason: 'FeatureDrift',
      message: 'amount drifted',
      threshold: 0.25,
      columns: [
        { name: 'amount', side: 'input', psi: 0.4, ks: 0.2 },
        { name: 'hour', side: 'input', psi: 0.01, ks: 0.02 },
        { name: 'score', side: 'output', psi: 0.02, ks: 0.03 },
      ],
    });
  });
});

describe("the sampler past the history's bound", () => {
  it('builds no point for a service the history refuses unless a dashboard is watching', () => {
    const own = new SqliteStore(':memory:', { clock });
    for (const name of ['first', 'second']) {
      own.apply(parseInferenceService({ apiVersion: 'karb.dev/v1alpha1', kind: 'InferenceService', metadata: { name }, spec: { model: { uri: 'file://m.onnx' } } }));
    }
    const asked: string[] = [];
    const counting = Object.assign(new ReadyReplicas(), {
      replicas(filter: { service?: string } = {}): ReplicaStatus[] {
        asked.push(filter.service ?? '');
        return [];
      },
      endpoints: (): Endpoint[] => [],
    });
    const bounded = new HistorySampler({ store: own, runtime: counting, hub, tally: new RequestTally(), clock, history: new History({ maxServices: 1 }) });
    bounded.tick();
    assert.deepEqual(asked, ['first'], 'only the service with a history is sampled');
    assert.equal(bounded.history.refuses('default/second'), true);
    const seen: string[][] = [];
    const stop = bounded.onSample((_t, points) => seen.push([...points.keys()]));
    asked.length = 0;
    bounded.tick();
    assert.deepEqual(asked, ['first', 'second'], 'with a dashboard open, every service is sampled for its live view');
    assert.deepEqual(seen, [['default/first', 'default/second']]);
    stop();
    own.close();
  });
});
