// Table tests of the router's pure parts: queue-depth decay, retry budget,
// retry reasons and backoff, stickiness, the load-aware picker, outlier ejection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdmissionQueues, admissionQueueFull, defaultQueueBound } from '../buffer/admission-queue.ts';
import { pickEndpointByLoad } from './endpoint-picker.ts';
import { OutlierDetector } from './outlier.ts';
import { ReportedQueueDepths, decayedDepth, parseQueueDepth } from './queue-depth.ts';
import { backoffMs, retryReasonForError, retryReasonForStatus } from './retry.ts';
import { RetryBudget, retryAllowed } from './retry-budget.ts';
import { pickRevision } from './revision-picker.ts';
import { sessionDraw, sessionPoint } from './sticky.ts';
import { revision, seededRandom } from '../server/test-support.ts';

test('a reported queue depth loses weight linearly with age', () => {
  const cases: Array<[depth: number, ageMs: number, staleMs: number, want: number, why: string]> = [
    [10, 0, 2000, 10, 'fresh report counts whole'],
    [10, 1000, 2000, 5, 'half way to stale counts half'],
    [10, 2000, 2000, 0, 'stale report counts nothing'],
    [10, 5000, 2000, 0, 'long stale report counts nothing'],
    [0, 0, 2000, 0, 'an empty queue is no load'],
    [10, -5, 2000, 10, 'a report from the future (clock skew) counts whole'],
  ];
  for (const [depth, age, stale, want, why] of cases) assert.equal(decayedDepth(depth, age, stale), want, why);
  const store = new ReportedQueueDepths(1000);
  assert.equal(store.at('a', 0), 0, 'never reported');
  store.record('a', 8, 100);
  assert.equal(store.at('a', 600), 4);
  store.sweep(new Set());
  assert.equal(store.at('a', 600), 0, 'forgotten once it left the table');
  assert.equal(parseQueueDepth('12'), 12);
  for (const bad of [undefined, '', '-1', '1.5', 'x', ['1'], '1e3000']) assert.equal(parseQueueDepth(bad as string), undefined);
});

test('the retry budget allows ratio × active retries with a floor', () => {
  const cases: Array<[active: number, retries: number, want: boolean, why: string]> = [
    [0, 0, true, 'the floor allows retries on a quiet service'],
    [5, 2, true, 'below the floor of 3'],
    [5, 3, false, 'the floor is reached and 20% of 5 is 1'],
    [100, 15, true, '20% of the 85 not retrying is 17'],
    [100, 17, false, '20% of the 83 not retrying is 16: the ratio is passed'],
    [120, 20, false, '20% of the 100 not retrying is 20: the ratio is reached'],
  ];
  for (const [active, retries, want, why] of cases) assert.equal(retryAllowed(active, retries, 0.2, 3), want, why);
  assert.equal(new RetryBudget().tryAcquire('quiet'), true, 'the default floor lets a quiet service retry');
  const budget = new RetryBudget({ minConcurrent: 3 });
  for (let i = 0; i < 10; i++) budget.requestStarted('s');
  assert.ok(budget.tryAcquire('s') && budget.tryAcquire('s') && budget.tryAcquire('s'));
  assert.equal(budget.tryAcquire('s'), false, 'max(3, 0.2 × 7) = 3 in flight');
  budget.release('s');
  assert.equal(budget.tryAcquire('s'), true, 'a released slot can be taken again');
  assert.equal(budget.tryAcquire('other'), true, 'budgets are per service');

  // The ratio rule: over a run, retries ≤ 0.2 × requests + the 10 banked at the start.
  const ratio = new RetryBudget();
  let retries = 0;
  for (let i = 0; i < 1000; i++) {
    ratio.requestStarted('s');
    if (ratio.tryAcquire('s')) {
      retries++;
      ratio.release('s');
    }
    ratio.requestFinished('s');
  }
  assert.ok(retries <= 0.2 * 1000 + 10, `${retries} retries for 1,000 requests`);
  assert.ok(retries >= 0.2 * 1000 - 1, 'and the budget is actually usable');
  const quiet = new RetryBudget({ maxBanked: 5, minConcurrent: 100 });
  for (let i = 0; i < 100; i++) quiet.requestStarted('q');
  let burst = 0;
  while (quiet.tryAcquire('q')) burst++;
  assert.equal(burst, 5, 'a quiet service banks at most maxBanked retries');
});

test('retry reasons and jittered backoff', () => {
  assert.equal(retryReasonForStatus(503), 'status_503');
  assert.equal(retryReasonForStatus(502), 'status_502');
  assert.equal(retryReasonForStatus(504), 'status_504');
  for (const s of [200, 400, 429, 500, 501]) assert.equal(retryReasonForStatus(s), undefined, `no retry on ${s}`);
  assert.equal(retryReasonForError('ECONNREFUSED'), 'connect');
  assert.equal(retryReasonForError('UND_ERR_SOCKET'), 'reset');
  assert.equal(retryReasonForError('TRY_TIMEOUT'), 'timeout');
  assert.equal(retryReasonForError('UND_ERR_HEADERS_TIMEOUT'), undefined, 'the pool timeout is final');
  assert.equal(retryReasonForError(undefined), undefined);
  const random = seededRandom(3);
  for (let retry = 1; retry <= 6; retry++) {
    const ceiling = Math.min(250, 10 * 2 ** (retry - 1));
    for (let i = 0; i < 50; i++) {
      const ms = backoffMs(retry, random);
      assert.ok(ms >= 0 && ms <= ceiling, `retry ${retry}: ${ms} within [0, ${ceiling}]`);
    }
  }
  assert.equal(backoffMs(1, () => 0), 0);
});

test('a session sticks to one revision and sessions split by weight', () => {
  const revisions = [revision('stable', 90, ['http://s']), revision('canary', 10, ['http://c'])];
  let canary = 0;
  for (let i = 0; i < 5000; i++) {
    const id = `user-${i}`;
    const first = pickRevision(revisions, sessionDraw(id))!.revision;
    for (let k = 0; k < 3; k++) assert.equal(pickRevision(revisions, sessionDraw(id))!.revision, first, 'same session, same revision');
    if (first === 'canary') canary++;
  }
  assert.ok(canary > 5000 * 0.08 && canary < 5000 * 0.12, `about 10% of sessions on the canary, got ${canary}`);
  // Moving the canary from 10% to 25% moves sessions only from stable to canary.
  const wider = [revision('stable', 75, ['http://s']), revision('canary', 25, ['http://c'])];
  for (let i = 0; i < 2000; i++) {
    const id = `user-${i}`;
    if (pickRevision(revisions, sessionDraw(id))!.revision === 'canary') {
      assert.equal(pickRevision(wider, sessionDraw(id))!.revision, 'canary', 'a canary session stays on the canary');
    }
  }
  const p = sessionPoint('x');
  assert.ok(p >= 0 && p < 1);
});

test('the load-aware picker skips ineligible endpoints and prefers the lighter of two', () => {
  const e = (url: string) => ({ replica: url, url });
  const eps = [e('a'), e('b'), e('c'), e('d')];
  const load: Record<string, number> = { a: 0, b: 5, c: 9, d: 1 };
  const random = seededRandom(1);
  const all = () => true;
  const cases: Array<[eligible: (x: { url: string }) => boolean, allowed: string[], why: string]> = [
    [(x) => x.url === 'c', ['c'], 'one eligible endpoint is picked whatever its load'],
    [(x) => x.url === 'b' || x.url === 'c', ['b'], 'of two, the lighter'],
    [(x) => x.url !== 'a', ['b', 'd'], 'never the heaviest of the eligible'],
    [all, ['a', 'b', 'd'], 'never the heaviest overall'],
  ];
  for (const [eligible, allowed, why] of cases) {
    for (let i = 0; i < 200; i++) {
      const got = pickEndpointByLoad(eps, (x) => load[x.url]!, eligible, random)!.url;
      assert.ok(allowed.includes(got), `${why}: got ${got}`);
    }
  }
  assert.equal(pickEndpointByLoad(eps, () => 0, () => false, random), undefined, 'none eligible');
  assert.equal(pickEndpointByLoad([], () => 0, all, random), undefined, 'no endpoints');
});

test('outlier ejection: streaks eject for growing times, never more than half', () => {
  const urls = ['a', 'b', 'c', 'd'];
  const od = new OutlierDetector({ consecutiveFailures: 3, baseEjectionMs: 30_000, maxEjectionMs: 60_000 });
  let now = 0;
  assert.deepEqual(od.recordFailure('a', urls, now), { ejected: false, reason: 'BelowThreshold' });
  od.recordFailure('a', urls, now);
  od.recordSuccess('a', now); // a success resets the streak
  od.recordFailure('a', urls, now);
  assert.equal(od.recordFailure('a', urls, now).ejected, false, 'two in a row after the reset');
  assert.deepEqual(od.recordFailure('a', urls, now), { ejected: true, reason: 'ConsecutiveFailures', forMs: 30_000 });
  assert.ok(od.isEjected('a', now));
  assert.equal(od.recordFailure('a', urls, now).reason, 'AlreadyEjected');
  now = 30_000;
  assert.ok(!od.isEjected('a', now), 'back after 30 s');
  for (let i = 0; i < 2; i++) od.recordFailure('a', urls, now);
  assert.deepEqual(od.recordFailure('a', urls, now), { ejected: true, reason: 'ConsecutiveFailures', forMs: 60_000 }, 'second ejection: 2 × 30 s');
  now = 90_000;
  for (let i = 0; i < 2; i++) od.recordFailure('a', urls, now);
  assert.equal((od.recordFailure('a', urls, now) as { forMs: number }).forMs, 60_000, 'capped at the maximum');
  // Half cap: with a ejected, one more of the four may go, not a third.
  for (let i = 0; i < 3; i++) od.recordFailure('b', urls, now);
  assert.ok(od.isEjected('b', now));
  for (let i = 0; i < 3; i++) od.recordFailure('c', urls, now);
  assert.equal(od.recordFailure('c', urls, now).reason, 'MaxEjectedShare');
  assert.ok(!od.isEjected('c', now));
  assert.equal(od.ejectedCount(urls, now), 2);
  // A single endpoint is never ejected.
  const solo = new OutlierDetector({ consecutiveFailures: 1 });
  assert.equal(solo.recordFailure('x', ['x'], 0).reason, 'MaxEjectedShare');
});

test('admission queues are FIFO per service and bounded', () => {
  const depths: Array<[string, number]> = [];
  const q = new AdmissionQueues<number>((s, d) => depths.push([s, d]));
  assert.ok(q.push('s', 1, 2) && q.push('s', 2, 2));
  assert.equal(q.push('s', 3, 2), false, 'full at the bound');
  assert.ok(q.push('t', 9, 2), 'other services have their own queue');
  assert.equal(q.shift('s'), 1);
  q.unshift('s', 1);
  assert.ok(q.remove('s', 2));
  assert.equal(q.shift('s'), 1);
  assert.equal(q.depth('s'), 0);
  assert.deepEqual(depths.at(-1), ['s', 0]);
  assert.equal(defaultQueueBound(8, 3), 48);
  assert.equal(admissionQueueFull('m', true).status, 429);
  assert.match(admissionQueueFull('m', true).message, /Prefer: respond-async/);
  assert.equal(admissionQueueFull('m', false).status, 503);
});
