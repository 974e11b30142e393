import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../util/clock.ts';
import { createHttpSender, probeTarget, runOpenLoop, type SendResult, type Sender } from './runner.ts';
import { generatedSchedule, type Arrival } from './schedule.ts';
import { answerAfter, closedPort, startTestServer } from './test-server.ts';

/** Walks a manual clock forward 1 ms at a time, letting promise callbacks run between steps. */
async function walk(clock: ManualClock, ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
  }
}

/** A sender whose every request takes `serviceMs` of the manual clock; it notes when each was sent. */
function clockSender(clock: ManualClock, serviceMs: (a: Arrival) => number, wireDelayMs = 0) {
  const sends: Array<{ scheduled: number; at: number }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send: Sender = (arrival) => {
    sends.push({ scheduled: arrival.atMs, at: clock.now() });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const sentAt = clock.now() + wireDelayMs;
    return new Promise<SendResult>((resolve) =>
      clock.setTimeout(() => {
        inFlight--;
        resolve({ status: 200, sentAt });
      }, wireDelayMs + serviceMs(arrival)),
    );
  };
  return { send, sends, maxInFlight: () => maxInFlight };
}

test('open loop: arrivals go out on schedule while earlier requests are still in flight', async () => {
  const clock = new ManualClock(0);
  const sender = clockSender(clock, () => 200);
  const schedule = generatedSchedule({ shape: 'constant', rate: 50 }, { durationMs: 2000, arrivals: 'uniform' });
  const done = runOpenLoop({ schedule, send: sender.send, clock });
  await walk(clock, 2300);
  const result = await done;

  assert.equal(sender.sends.length, 100);
  for (const s of sender.sends) assert.ok(Math.abs(s.at - s.scheduled) < 1e-6, `sent at ${s.at}, scheduled ${s.scheduled}`);
  // 200 ms per request at 50/s: about 10 in flight at once. A closed loop would have had 1.
  assert.equal(sender.maxInFlight(), 10);
  assert.equal(result.totals.ok, 100);
  assert.equal(result.totals.dropped, 0);
  assert.equal(result.latencyMs.p50, 200);
  assert.equal(result.latencyMs.max, 200);
  assert.equal(result.durationMs, 2000);
  assert.equal(result.rates.offeredRps, 50);
  assert.equal(result.series.length, 3); // two scheduled seconds and the tail
  assert.deepEqual(result.series.map((s) => s.offered), [50, 50, 0]);
  assert.deepEqual(result.series.map((s) => s.ok), [40, 50, 10]);
  assert.equal(result.series[0]!.outstanding, 10);
});

test('latency counts from the scheduled time; time spent before reaching the wire is send lag', async () => {
  const clock = new ManualClock(0);
  // Each request waits 50 ms for a connection, then the server takes 100 ms.
  const sender = clockSender(clock, () => 100, 50);
  const schedule = generatedSchedule({ shape: 'constant', rate: 10 }, { durationMs: 1000, arrivals: 'uniform' });
  const done = runOpenLoop({ schedule, send: sender.send, clock });
  await walk(clock, 1200);
  const result = await done;
  assert.equal(result.totals.ok, 10);
  assert.equal(result.latencyMs.p50, 150);
  assert.equal(result.serviceLatencyMs.p50, 100);
  assert.equal(result.sendLagMs.p50, 50);
});

test('past the outstanding cap, arrivals are dropped and counted, never delayed', async () => {
  const clock = new ManualClock(0);
  const sender = clockSender(clock, () => 1000);
  const schedule = generatedSchedule({ shape: 'constant', rate: 50 }, { durationMs: 2000, arrivals: 'uniform' });
  const done = runOpenLoop({ schedule, send: sender.send, clock, maxOutstanding: 20 });
  await walk(clock, 3200);
  const result = await done;

  assert.equal(sender.maxInFlight(), 20);
  assert.equal(result.totals.offered, 100);
  assert.equal(result.totals.sent + result.totals.dropped, 100);
  // 20 go out at once; each frees a slot a second later, when the next arrival takes it.
  assert.equal(result.totals.sent, 40);
  assert.equal(result.totals.dropped, 60);
  for (const s of sender.sends) assert.ok(Math.abs(s.at - s.scheduled) < 1e-6, 'every sent request left on time');
  assert.deepEqual(result.series.map((s) => s.dropped).slice(0, 2), [30, 30]);
});

test('an abort stops sending and reports what was done; progress comes once a second', async () => {
  const clock = new ManualClock(0);
  const sender = clockSender(clock, () => 10);
  const controller = new AbortController();
  const progress: number[] = [];
  const schedule = generatedSchedule({ shape: 'constant', rate: 20 }, { durationMs: 10_000, arrivals: 'uniform' });
  const done = runOpenLoop({ schedule, send: sender.send, clock, signal: controller.signal, onProgress: (p) => progress.push(p.totals.sent) });
  await walk(clock, 2500);
  controller.abort();
  await walk(clock, 100);
  const result = await done;
  assert.equal(result.aborted, true);
  assert.equal(result.durationMs, 2500);
  assert.equal(result.totals.sent, 50);
  assert.equal(result.totals.unfinished, 0);
  assert.deepEqual(progress, [20, 40]);
});

test('requests still in flight after the drain timeout are reported as unfinished', async () => {
  const clock = new ManualClock(0);
  const sender = clockSender(clock, (a) => (a.atMs < 100 ? 60_000 : 10));
  const schedule = generatedSchedule({ shape: 'constant', rate: 10 }, { durationMs: 1000, arrivals: 'uniform' });
  const done = runOpenLoop({ schedule, send: sender.send, clock, drainTimeoutMs: 500 });
  await walk(clock, 1600);
  const result = await done;
  assert.equal(result.totals.unfinished, 1);
  assert.equal(result.totals.ok, 9);
});

test('HTTP, open loop: a 200 ms server at 50 req/s for 2 s gets ~100 requests while earlier ones are still running', async () => {
  const server = await startTestServer(answerAfter(200));
  const sender = createHttpSender({ url: `${server.url}/v2/models/m/infer`, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs":[]}' }, { connections: 64, timeoutMs: 10_000 });
  try {
    const schedule = generatedSchedule({ shape: 'constant', rate: 50 }, { durationMs: 2000, arrivals: 'uniform' });
    const result = await runOpenLoop({ schedule, send: sender.send });
    assert.equal(result.totals.sent, 100);
    assert.equal(result.totals.ok, 100);
    assert.equal(server.received.length, 100);
    assert.ok(server.received.every((r) => r.method === 'POST' && r.url === '/v2/models/m/infer' && r.body === '{"inputs":[]}'));
    // The runner did not wait for answers: the server held many requests at once (about 10).
    assert.ok(server.maxInFlight() >= 4, `the server saw at most ${server.maxInFlight()} requests at once`);
    // Most requests arrived while others were still in service.
    assert.ok(server.received.filter((r) => r.inFlight > 1).length >= 50, 'requests kept coming while earlier ones were in service');
    // Latency from the scheduled time includes the server's 200 ms and is never below the on-the-wire latency.
    assert.ok(result.latencyMs.p50 >= 195, `p50 ${result.latencyMs.p50}`);
    for (const p of ['p50', 'p95', 'p99', 'max'] as const) assert.ok(result.latencyMs[p] >= result.serviceLatencyMs[p], `${p}: from schedule ${result.latencyMs[p]} < from send ${result.serviceLatencyMs[p]}`);
    assert.equal(result.series.slice(0, 2).reduce((n, s) => n + s.offered, 0), 100);
  } finally {
    await sender.close();
    await server.close();
  }
});

test('HTTP: error statuses and refused connections show up in errors by code', async () => {
  const server = await startTestServer(answerAfter(5, (req) => (req.index % 4 === 3 ? 503 : 200)));
  const sender = createHttpSender({ url: server.url, method: 'GET', headers: {} }, { connections: 16, timeoutMs: 10_000 });
  const refusedSender = createHttpSender({ url: `http://127.0.0.1:${await closedPort()}/`, method: 'GET', headers: {} }, { connections: 4, timeoutMs: 10_000 });
  try {
    const schedule = generatedSchedule({ shape: 'constant', rate: 40 }, { durationMs: 1000, arrivals: 'uniform' });
    const result = await runOpenLoop({ schedule, send: sender.send });
    assert.equal(result.totals.sent, 40);
    assert.deepEqual(result.totals.errorsByCode, { '503': 10 });
    assert.equal(result.totals.ok, 30);
    assert.equal(result.series.reduce((n, s) => n + (s.errorsByCode['503'] ?? 0), 0), 10);

    const refused = await runOpenLoop({ schedule: generatedSchedule({ shape: 'constant', rate: 20 }, { durationMs: 250, arrivals: 'uniform' }), send: refusedSender.send });
    assert.equal(refused.totals.ok, 0);
    assert.deepEqual(refused.totals.errorsByCode, { ECONNREFUSED: 5 });
  } finally {
    await sender.close();
    await refusedSender.close();
    await server.close();
  }
});

test('HTTP: {{field}} placeholders in the body are filled from each arrival', async () => {
  const server = await startTestServer(answerAfter(0));
  const sender = createHttpSender({ url: server.url, method: 'POST', headers: {}, body: '{"max_tokens":{{tokens_out}},"x":"{{missing}}"}' }, { connections: 2, timeoutMs: 10_000 });
  try {
    const schedule = [{ atMs: 0, fields: { tokens_out: 7 } }, { atMs: 5, fields: { tokens_out: 9 } }];
    const result = await runOpenLoop({ schedule, send: sender.send });
    assert.equal(result.totals.ok, 2);
    assert.deepEqual(server.received.map((r) => r.body).sort(), ['{"max_tokens":7,"x":"{{missing}}"}', '{"max_tokens":9,"x":"{{missing}}"}']);
  } finally {
    await sender.close();
    await server.close();
  }
});

test('probeTarget connects, or names why it could not', async () => {
  const server = await startTestServer(answerAfter(0));
  try {
    assert.equal(await probeTarget(server.url), undefined);
    assert.equal(await probeTarget(`http://127.0.0.1:${await closedPort()}/`, 2, 10), 'ECONNREFUSED');
  } finally {
    await server.close();
  }
});
