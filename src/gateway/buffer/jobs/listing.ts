/**
 * Listing an owner's jobs (`GET /v1/jobs`): the query (pure, validated before
 * any I/O), the opaque cursor, and the one paging rule both stores share.
 *
 * A cursor names a position in the owner's own creation sequence (1, 2, …, per
 * owner, never reused), not a store-wide counter: it reveals nothing about
 * other owners' jobs, and it stays valid while jobs are created or deleted.
 */
import { JobListQueryError } from './errors.ts';
import { isJobState, JOB_STATES, type JobListQuery, type JobPage, type JobSummary } from './types.ts';

export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;

/** Before the first page: older than every position. */
export const FIRST_POSITION = Number.MAX_SAFE_INTEGER;

const CURSOR_TAG = 'jobs:';

/** The `next` of a page as the caller sees it: opaque, URL-safe. */
export function encodeCursor(position: number): string {
  return Buffer.from(CURSOR_TAG + String(position)).toString('base64url');
}

/** The position a cursor names; undefined for anything `encodeCursor` did not make. */
export function decodeCursor(cursor: string): number | undefined {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('latin1');
  const m = /^jobs:([1-9][0-9]{0,15})$/.exec(text);
  if (m === null) return undefined;
  const position = Number(m[1]);
  // Base64url decoding forgives stray bits: accept only the one spelling we hand out.
  return Number.isSafeInteger(position) && encodeCursor(position) === cursor ? position : undefined;
}

/**
 * `?status=&limit=&after=` → a store query. Each parameter at most once; other
 * parameters are ignored (as on every other path). Throws JobListQueryError
 * naming the parameter and what it accepts.
 */
export function parseListQuery(search: string): JobListQuery {
  const params = new URLSearchParams(search);
  const status = single(params, 'status');
  const limit = single(params, 'limit');
  const after = single(params, 'after');
  const query: JobListQuery = { limit: DEFAULT_LIST_LIMIT };
  if (status !== undefined) {
    if (!isJobState(status)) throw new JobListQueryError('status', `status must be one of ${JOB_STATES.join(', ')}`);
    query.state = status;
  }
  if (limit !== undefined) {
    const n = /^[0-9]{1,3}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= MAX_LIST_LIMIT)) throw new JobListQueryError('limit', `limit must be a whole number from 1 to ${MAX_LIST_LIMIT} (default ${DEFAULT_LIST_LIMIT})`);
    query.limit = n;
  }
  if (after !== undefined) {
    const position = decodeCursor(after);
    if (position === undefined) throw new JobListQueryError('after', `after must be the 'next' value of a previous page of GET /v1/jobs, as given`);
    query.after = position;
  }
  return query;
}

function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw new JobListQueryError(name, `give ${name} at most once`);
  return values[0];
}

/**
 * The page from what a store read: newest first, at most `limit + 1` rows, each
 * with its position. The extra row only says that there is more.
 */
export function pageOf(rows: ReadonlyArray<{ job: JobSummary; position: number }>, limit: number): JobPage {
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  const next = rows.length > limit && last !== undefined ? last.position : null;
  return { jobs: shown.map((r) => r.job), next };
}
