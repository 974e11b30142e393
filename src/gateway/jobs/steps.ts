/**
 * The async-job steps of the gateway pipeline:
 *   serveJob      GET /v1/jobs/{id} (after authentication): the job's state and,
 *                 once done, the replica's status and body; 404 for unknown ids
 *                 and for jobs of other keys alike
 *   enqueueJob    `Prefer: respond-async` on an infer path (after the body is read,
 *                 scopes and rate limits applied): store the job, answer 202
 *   requireDispatchToken  the worker's own pipeline admits only the worker
 */
import { timingSafeEqual } from 'node:crypto';
import { UnauthenticatedError } from '../../edge/errors.ts';
import type { Exchange, GatewayStep } from '../exchange.ts';
import { JOBS_PREFIX, type OperationKind } from '../paths.ts';
import type { Route } from '../routing-table.ts';
import { AsyncNotEnabledError, AsyncStreamError, JobNotFoundError, JobQueueFullError, JobStoreUnavailableError } from './errors.ts';
import { isKarbError } from '../../errors.ts';
import { isJobId } from './job-id.ts';
import type { JobMetrics } from './metrics.ts';
import { prefersAsync } from './prefer.ts';
import { isTerminal, type Job, type JobStore } from './types.ts';

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

export function serveJob(deps: { store: JobStore }): GatewayStep {
  return {
    name: 'serve-job',
    run(exchange: Exchange): void {
      if (exchange.match!.kind !== 'async-job') {
        exchange.next();
        return;
      }
      const url = exchange.req.url!;
      const q = url.indexOf('?');
      const id = url.slice(JOBS_PREFIX.length, q === -1 ? undefined : q);
      if (!isJobId(id)) throw new JobNotFoundError();
      const owner = ownerOf(exchange);
      deps.store.get(id).then(
        (job) => {
          if (job === undefined || job.owner !== owner) exchange.fail(new JobNotFoundError());
          else exchange.respondJson(200, jobJson(job));
        },
        (err: unknown) => exchange.fail(isKarbError(err) ? err : new JobStoreUnavailableError(err)),
      );
    },
  };
}

/** GET /v1/jobs/{id} on a gateway without a job store (a standalone gateway without --redis). */
export function noJobStore(): GatewayStep {
  return {
    name: 'serve-job',
    run(exchange: Exchange): void {
      if (exchange.match!.kind !== 'async-job') exchange.next();
      else throw new JobNotFoundError();
    },
  };
}

/** The answer to GET /v1/jobs/{id}; the replica's JSON body is embedded as JSON, anything else as a string. */
export function jobJson(job: Job): string {
  const view: Record<string, unknown> = {
    id: job.id,
    status: job.state,
    service: job.service,
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
    expiresAt: new Date(job.expiresAt).toISOString(),
    attempts: job.attempts,
  };
  if (isTerminal(job.state) && job.resultStatus !== null) {
    const text = job.resultBody?.toString('utf8') ?? '';
    let body: unknown = text;
    if (job.resultContentType?.includes('json')) {
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON after all: keep the text
      }
    }
    view.result = { status: job.resultStatus, contentType: job.resultContentType, body };
  }
  return JSON.stringify(view);
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
