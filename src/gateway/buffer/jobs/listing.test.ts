import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCursor, encodeCursor, pageOf, parseListQuery } from './listing.ts';
import { JobListQueryError } from './errors.ts';
import type { JobSummary } from './types.ts';

test('a cursor names one position and only the spelling we hand out', () => {
  for (const position of [1, 42, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
    const cursor = encodeCursor(position);
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.equal(decodeCursor(cursor), position);
  }
  const bad = ['', 'bogus', 'am9iczow', encodeCursor(1) + '=', encodeCursor(1).slice(0, -1) + '!', Buffer.from('jobs:-1').toString('base64url'), Buffer.from('jobs:01').toString('base64url'), Buffer.from('page:1').toString('base64url'), Buffer.from('jobs:99999999999999999').toString('base64url')];
  for (const cursor of bad) assert.equal(decodeCursor(cursor), undefined, cursor);
});

test('the list query: defaults, each parameter checked, each named in its error', () => {
  assert.deepEqual(parseListQuery(''), { limit: 20 });
  assert.deepEqual(parseListQuery('status=cancelled&limit=100&x=ignored'), { limit: 100, state: 'cancelled' });
  assert.deepEqual(parseListQuery(`limit=1&after=${encodeCursor(7)}`), { limit: 1, after: 7 });
  const bad: Array<[string, string]> = [
    ['status=done', 'status'],
    ['status=', 'status'],
    ['status=QUEUED', 'status'],
    ['status=queued&status=failed', 'status'],
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=', 'limit'],
    ['limit=2.5', 'limit'],
    ['limit=-1', 'limit'],
    ['after=', 'after'],
    ['after=nope', 'after'],
  ];
  for (const [query, param] of bad) {
    assert.throws(() => parseListQuery(query), (err: unknown) => err instanceof JobListQueryError && err.param === param && err.status === 400 && err.code === 'INVALID_JOB_QUERY', query);
  }
});

test('a page shows `limit` jobs; the extra row read only says there is more', () => {
  const row = (position: number) => ({ job: { id: String(position) } as JobSummary, position });
  assert.deepEqual(pageOf([row(9), row(7), row(4)], 2), { jobs: [row(9).job, row(7).job], next: 7 });
  assert.deepEqual(pageOf([row(9), row(7)], 2), { jobs: [row(9).job, row(7).job], next: null });
  assert.deepEqual(pageOf([], 2), { jobs: [], next: null });
});
