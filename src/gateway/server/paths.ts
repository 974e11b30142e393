/**
 * The gateway's URL space: which operation a request path names and which
 * methods it takes. Pure, so the table of paths is tested without a server.
 * Model names are matched exactly as sent (no percent-decoding); service names
 * are DNS labels, so an encoded name simply does not match any model.
 */

export type OperationKind =
  | 'health-live'
  | 'health-ready'
  | 'model-metadata'
  | 'model-ready'
  | 'model-infer'
  | 'openai-models'
  | 'openai-chat'
  | 'openai-completions'
  | 'openai-embeddings'
  /** `/v1/jobs/{id}`: GET reads the job, DELETE cancels it (jobs/steps.ts tells them apart by method). */
  | 'async-job'
  /** `/v1/jobs`: GET lists the caller's jobs. */
  | 'async-job-list';

export interface PathMatch {
  kind: OperationKind;
  /** The model (service) name; '' for operations that are not about a model. */
  model: string;
  /** The `versions/{v}` segment of a versioned infer path; '' when absent. */
  version: string;
}

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

/** The methods each operation accepts; anything else is a 405 listing them in `Allow`. */
export const ALLOWED_METHODS: Readonly<Record<OperationKind, readonly HttpMethod[]>> = {
  'health-live': ['GET'],
  'health-ready': ['GET'],
  'model-metadata': ['GET'],
  'model-ready': ['GET'],
  'model-infer': ['POST'],
  'openai-models': ['GET'],
  'openai-chat': ['POST'],
  'openai-completions': ['POST'],
  'openai-embeddings': ['POST'],
  'async-job': ['GET', 'DELETE'],
  'async-job-list': ['GET'],
};

export function isAllowedMethod(kind: OperationKind, method: string): boolean {
  return (ALLOWED_METHODS[kind] as readonly string[]).includes(method);
}

/** The `Allow` header value of a 405 (RFC 9110: a comma-separated list). */
export function allowHeader(kind: OperationKind): string {
  return ALLOWED_METHODS[kind].join(', ');
}

/** The OpenAI-compatible operations (openai.ts): the POST ones name their model in the body. */
export function isOpenAIOperation(kind: OperationKind): boolean {
  return kind === 'openai-models' || kind === 'openai-chat' || kind === 'openai-completions' || kind === 'openai-embeddings';
}

/** Operations answered by the gateway itself, without looking up a model. */
export function isLocalOperation(kind: OperationKind): boolean {
  return kind === 'health-live' || kind === 'health-ready';
}

const MODELS_PREFIX = '/v2/models/';
const JOBS_PATH = '/v1/jobs';
export const JOBS_PREFIX = '/v1/jobs/';

/**
 * What a `versions/{v}` segment may be: a plain name or number (`2`, `v1.3`,
 * `2024-06-01`). Nothing percent-encoded, no `.` or `..` on its own: the segment
 * is forwarded to the replica, which must never see a path that climbs out of
 * the model's own URL space.
 */
const VERSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isVersionName(version: string): boolean {
  return VERSION_NAME.test(version);
}

/**
 * The path sent to a replica: the matched path without the query. Every part of
 * it was checked by `matchPath` (a model name from the routing table, a version
 * `isVersionName` accepts, fixed words), so the replica only sees paths the
 * gateway understood; OIP and the OpenAI API take no query parameters.
 */
export function upstreamPath(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** `url` is the request target as received: a path with an optional query. */
export function matchPath(url: string): PathMatch | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);

  if (path === '/v2/health/live') return { kind: 'health-live', model: '', version: '' };
  if (path === '/v2/health/ready') return { kind: 'health-ready', model: '', version: '' };
  if (path === '/v1/models') return { kind: 'openai-models', model: '', version: '' };
  if (path === '/v1/chat/completions') return { kind: 'openai-chat', model: '', version: '' };
  if (path === '/v1/completions') return { kind: 'openai-completions', model: '', version: '' };
  if (path === '/v1/embeddings') return { kind: 'openai-embeddings', model: '', version: '' };
  if (path === JOBS_PATH) return { kind: 'async-job-list', model: '', version: '' };
  // The job id is read from the path by the jobs step (jobs/steps.ts).
  if (path.startsWith(JOBS_PREFIX) && path.length > JOBS_PREFIX.length && !path.includes('/', JOBS_PREFIX.length)) {
    return { kind: 'async-job', model: '', version: '' };
  }
  if (!path.startsWith(MODELS_PREFIX)) return undefined;

  const s = path.slice(MODELS_PREFIX.length).split('/');
  const model = s[0];
  if (model === undefined || model === '') return undefined;
  switch (s.length) {
    case 1:
      return { kind: 'model-metadata', model, version: '' };
    case 2:
      if (s[1] === 'ready') return { kind: 'model-ready', model, version: '' };
      if (s[1] === 'infer') return { kind: 'model-infer', model, version: '' };
      return undefined;
    case 4:
      if (s[1] === 'versions' && s[2] !== '' && s[3] === 'infer') {
        return { kind: 'model-infer', model, version: s[2]! };
      }
      return undefined;
    default:
      return undefined;
  }
}
