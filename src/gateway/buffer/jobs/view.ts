/**
 * How jobs look to their owner: `GET /v1/jobs/{id}` and `DELETE /v1/jobs/{id}`
 * show one job, `GET /v1/jobs` a page of them (without result bodies, which may
 * be large: read one job for its body). Never the owner or the request itself.
 */
import { encodeCursor } from './listing.ts';
import { isTerminal, type Job, type JobPage, type JobSummary } from './types.ts';

/** One job; with `resultBody` (a finished job's answer) the replica's body too, JSON embedded as JSON, anything else as a string. */
export function jobView(job: JobSummary, resultBody?: Buffer | null): Record<string, unknown> {
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
    const result: Record<string, unknown> = { status: job.resultStatus, contentType: job.resultContentType };
    if (resultBody !== undefined) result.body = bodyView(resultBody, job.resultContentType);
    view.result = result;
  }
  return view;
}

/** The answer to GET /v1/jobs/{id} (and to a cancel). */
export function jobJson(job: Job): string {
  return JSON.stringify(jobView(job, job.resultBody));
}

/** The answer to GET /v1/jobs, in the shape of OpenAI's list objects, with an opaque cursor for the next page. */
export function jobListJson(page: JobPage): string {
  return JSON.stringify({
    object: 'list',
    data: page.jobs.map((job) => jobView(job)),
    has_more: page.next !== null,
    next: page.next === null ? null : encodeCursor(page.next),
  });
}

function bodyView(body: Buffer | null, contentType: string | null): unknown {
  const text = body?.toString('utf8') ?? '';
  if (contentType?.includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // not JSON after all: keep the text
    }
  }
  return text;
}
