import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideJob } from './worker.ts';
import type { Job } from './types.ts';

const job = (attempts: number): Job => ({
  id: 'j', owner: 'o', service: 's', path: '/p', contentType: 'application/json', body: Buffer.alloc(0), state: 'running',
  resultStatus: null, resultContentType: null, resultBody: null, createdAt: 0, updatedAt: 0, expiresAt: 60_000, attempts,
});
const answer = (status: number, retryAfterSeconds?: number) => ({ status, contentType: 'application/json', body: Buffer.alloc(0), retryAfterSeconds });

test('decideJob: what one dispatch means for a job', () => {
  const now = 1_000;
  const cases = [
    { answer: answer(200), attempts: 1, want: { action: 'complete', state: 'succeeded' } },
    { answer: answer(204), attempts: 1, want: { action: 'complete', state: 'succeeded' } },
    { answer: answer(400), attempts: 1, want: { action: 'complete', state: 'failed' } }, // the caller's mistake: final
    { answer: answer(500), attempts: 1, want: { action: 'complete', state: 'failed' } }, // the router already retried it
    { answer: answer(504), attempts: 1, want: { action: 'complete', state: 'failed' } },
    { answer: answer(503), attempts: 1, want: { action: 'retry-later', notBeforeMs: now + 500, reason: 'Overloaded' } }, // no capacity now
    { answer: answer(503, 2), attempts: 1, want: { action: 'retry-later', notBeforeMs: now + 2_000, reason: 'Overloaded' } }, // Retry-After wins
    { answer: answer(429), attempts: 3, want: { action: 'retry-later', notBeforeMs: now + 2_000, reason: 'Overloaded' } }, // backoff doubles
    { answer: answer(429), attempts: 20, want: { action: 'retry-later', notBeforeMs: now + 30_000, reason: 'Overloaded' } }, // capped
    { answer: undefined, attempts: 2, want: { action: 'retry-later', notBeforeMs: now + 1_000, reason: 'Unreachable' } },
  ] as const;
  for (const c of cases) assert.deepEqual(decideJob(c.answer, job(c.attempts), now), c.want, JSON.stringify(c));
});
