/**
 * The async-job steps of the gateway pipeline:
 *   serveJob      (after authentication) the caller's own jobs, owner = key id or
 *                 `anonymous` with auth off:
 *                   GET /v1/jobs/{id}     the job's state and, once done, the
 *                                         replica's status and body
 *                   DELETE /v1/jobs/{id}  cancel a queued or running job; 409
 *                                         once it is finished
 *                   GET /v1/jobs          newest first, ?status= ?limit= ?after=
 *                 404 for unknown ids and for jobs of other keys alike
 *   enqueueJob    `Prefer: respond-async` on an infer path (after the body is read,
 *                 scopes and rate limits applied): store the job, answer 202
 *   requireDispatchToken  the worker's own pipeline admits only the worker
 */
import { timingSafeEqual } from 'node:crypto';
import { UnauthenticatedError } from '../../edge/errors.ts';
import type { Exchange, GatewayStep } from '../../server/exchange.ts';
import { JOBS_PREFIX, type OperationKind } from '../../server/paths.ts';
import type { Route } from '../../discovery/routing-table.ts';
import { AsyncNotEnabledError, AsyncStreamError, JobAlreadyFinishedError, JobNotFoundError, JobQueueFullError, JobStoreUnavailableError } from './errors.ts';
import { isKarbError } from '../../../errors.ts';
import { isJobId } from './job-id.ts';
import { parseListQuery } from './listing.ts';
import type { JobMetrics } from './metrics.ts';
import { prefersAsync } from './prefer.ts';
import type { JobListQuery, JobStore } from './types.ts';
import { jobJson, jobListJson } from './view.ts';

export const ANONYMOUS_OWNER = 'anonymous';
export const DEFAULT_ASYNC_MAX_QUEUED = 10_000;
export const DEFAULT_ASYNC_TTL_MS = 10 * 60_000;
/** Header carrying the worker's per-process secret to its dispatch pipeline. */
export const DISPATCH_TOKEN_HEADER = 'x-karb-job-token';

function ownerOf(exchange: Exchange): string {
  return exchange.apiKey?.id ?? ANONYMOUS_OWNER;
}

function isAsyncCapable(kind: OperationKind): boolean {
  return kind === 'model-infer' || kind === 'openai-chat' || kind === 'openai-completions' || kind === 'openai-embeddings';
}

export function serveJob(deps: { store: JobStore; metrics: JobMetrics }): GatewayStep {
  return {
    name: 'serve-job',
    run(exchange: Exchange): void {
      const kind = exchange.match!.kind;
      if (kind !== 'async-job' && kind !== 'async-job-list') {
        exchange.next();
        return;
      }
      const owner = ownerOf(exchange);
      const url = exchange.req.url!;
      // Validation throws here, before any I/O; match-request admitted only GET and DELETE.
      const answer =
        kind === 'async-job-list'
          ? listJobs(deps.store, owner, parseListQuery(queryOf(url)))
          : exchange.req.method === 'DELETE'
            ? cancelJob(deps, owner, jobIdOf(url))
            : readJob(deps.store, owner, jobIdOf(url));
      answer.then(
        (json) => exchange.respondJson(200, json),
        (err: unknown) => exchange.fail(isKarbError(err) ? err : new JobStoreUnavailableError(err)),
      );
    },
  };
}

/** GET /v1/jobs/{id}. */
async function readJob(store: JobStore, owner: string, id: string): Promise<string> {
  const job = await store.get(id);
  if (job === undefined || job.owner !== owner) throw new JobNotFoundError();
  return jobJson(job);
}

/** GET /v1/jobs: only ever the owner's jobs (the store is asked for them by owner). */
async function listJobs(store: JobStore, owner: string, query: JobListQuery): Promise<string> {
  return jobListJson(await store.list(owner, query));
}

/**
 * DELETE /v1/jobs/{id}. The store decides atomically against the worker, so
 * the answer is the job as cancelled, 409 naming the state it had already
 * reached, or the same 404 as a read.
 */
async function cancelJob(deps: { store: JobStore; metrics: JobMetrics }, owner: string, id: string): Promise<string> {
  const result = await deps.store.cancel(id, owner);
  if (result.outcome === 'not-found') throw new JobNotFoundError();
  if (result.outcome === 'finished') throw new JobAlreadyFinishedError(result.state);
  deps.metrics.count(result.job.service, 'cancelled');
  return jobJson(result.job);
}

/** The `{id}` of /v1/jobs/{id}; ids this gateway could not have made are not looked up (404 at once). */
function jobIdOf(url: string): string {
  const q = url.indexOf('?');
  const id = url.slice(JOBS_PREFIX.length, q === -1 ? undefined : q);
  if (!isJobId(id)) throw new JobNotFoundError();
  return id;
}

function queryOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q + 1);
}

/**
 * /v1/jobs on a gateway without a job store (a standalone gateway without
 * --redis): it never made a job, so every id is unknown and every list empty
 * (after the same query checks, so a bad query is a 400 here too).
 */
export function noJobStore(): GatewayStep {
  return {
    name: 'serve-job',
    run(exchange: Exchange): void {
      const kind = exchange.match!.kind;
      if (kind === 'async-job') throw new JobNotFoundError();
      if (kind !== 'async-job-list') {
        exchange.next();
        return;
      }
      parseListQuery(queryOf(exchange.req.url!));
      exchange.respondJson(200, jobListJson({ jobs: [], next: null }));
    },
  };
}

/** The request will become an async job (enqueue-job takes it): nothing to hold it for. */
export function becomesJob(exchange: Exchange): boolean {
  return isAsyncCapable(exchange.match!.kind) && prefersAsync(exchange.req.headers.prefer) && exchange.route?.asyncEnabled === true;
}

export function enqueueJob(deps: { store: JobStore; metrics: JobMetrics; onEnqueued: () => void }): GatewayStep {
  return {
    name: 'enqueue-job',
    run(exchange: Exchange): void {
      const match = exchange.match!;
      // RFC 7240: a preference the server cannot apply (metadata, readiness) is ignored.
      if (!isAsyncCapable(match.kind) || !prefersAsync(exchange.req.headers.prefer)) {
        exchange.next();
        return;
      }
      const route: Route = exchange.route!;
      if (route.asyncEnabled !== true) throw new AsyncNotEnabledError(route.service);
      const body = exchange.body ?? Buffer.alloc(0);
      if (match.kind !== 'model-infer' && asksForStream(body)) throw new AsyncStreamError();
      const maxQueued = route.asyncMaxQueued ?? DEFAULT_ASYNC_MAX_QUEUED;
      const contentType = exchange.req.headers['content-type'] ?? 'application/json';
      deps.store
        .enqueue({ owner: ownerOf(exchange), service: route.service, path: exchange.req.url!, contentType, body, ttlMs: route.asyncTtlMs ?? DEFAULT_ASYNC_TTL_MS }, maxQueued)
        .then(
          (result) => {
            if (!result.accepted) {
              deps.metrics.count(route.service, 'rejected');
              exchange.fail(new JobQueueFullError(route.service, maxQueued));
              return;
            }
            deps.metrics.count(route.service, 'accepted');
            exchange.respondJson(202, JSON.stringify({ id: result.job.id, status: 'queued' }), {
              location: JOBS_PREFIX + result.job.id,
              'preference-applied': 'respond-async',
            });
            deps.onEnqueued();
          },
          (err: unknown) => exchange.fail(isKarbError(err) ? err : new JobStoreUnavailableError(err)),
        );
    },
  };
}

/** Only for async requests of the OpenAI API, never the hot path. */
function asksForStream(body: Buffer): boolean {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { stream?: unknown };
    return parsed !== null && typeof parsed === 'object' && parsed.stream === true;
  } catch {
    return false; // the replica will say what is wrong with it
  }
}

export function requireDispatchToken(token: string): GatewayStep {
  const expected = Buffer.from(token);
  return {
    name: 'require-dispatch-token',
    run(exchange: Exchange): void {
      const given = exchange.req.headers[DISPATCH_TOKEN_HEADER];
      const buf = Buffer.from(typeof given === 'string' ? given : '');
      if (buf.length !== expected.length || !timingSafeEqual(buf, expected)) throw new UnauthenticatedError();
      exchange.next();
    },
  };
}
