/**
 * Async jobs (L3): a request accepted with `Prefer: respond-async`, stored
 * durably, run later by the gateway's worker through the normal router path.
 *
 * State machine (the only transitions a store makes):
 *
 *   | From    | Event                              | To        |
 *   |---------|------------------------------------|-----------|
 *   | —       | enqueue (under maxQueued)          | queued    |
 *   | queued  | claim by a worker                  | running   |
 *   | queued  | TTL passed before it was claimed   | expired   |
 *   | running | replica answered 2xx               | succeeded |
 *   | running | replica answered 4xx/5xx for good  | failed    |
 *   | running | release (overloaded, try later)    | queued    |
 *   | running | the process died (recover)         | queued    |
 *   | running | recover after its TTL passed       | expired   |
 *   | queued  | its owner cancels it               | cancelled |
 *   | running | its owner cancels it               | cancelled |
 *
 * A terminal state (succeeded, failed, expired, cancelled) is written once and
 * never changed, so every job ends in exactly one of them. Cancelling a running
 * job does not stop the replica: the worker's later complete/release finds the
 * job no longer running and changes nothing, so the answer is discarded (the
 * work may still have been done: at-least-once). Terminal jobs are kept for
 * their TTL after they finished, then deleted.
 */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'expired' | 'cancelled';
export type TerminalJobState = 'succeeded' | 'failed' | 'expired' | 'cancelled';

export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'expired', 'cancelled'];

export function isTerminal(state: JobState): state is TerminalJobState {
  return state === 'succeeded' || state === 'failed' || state === 'expired' || state === 'cancelled';
}

export function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value);
}

export interface Job {
  /** Random and unguessable (128 bits, base64url). */
  id: string;
  /** The API key id that created it, or "anonymous" when auth is off. */
  owner: string;
  service: string;
  /** The request as the caller sent it: path, content type, body. */
  path: string;
  contentType: string;
  body: Buffer;
  state: JobState;
  /** The replica's answer, once terminal (succeeded or failed); null before or when expired. */
  resultStatus: number | null;
  resultContentType: string | null;
  resultBody: Buffer | null;
  /** Clock ms. */
  createdAt: number;
  updatedAt: number;
  /** A job not finished by then expires. */
  expiresAt: number;
  /** How many times a worker claimed it. */
  attempts: number;
}

/** A job without its request and result bodies: what a listing carries (bodies may be large). */
export type JobSummary = Omit<Job, 'body' | 'resultBody'>;

export interface NewJob {
  owner: string;
  service: string;
  path: string;
  contentType: string;
  body: Buffer;
  ttlMs: number;
}

export interface JobOutcome {
  state: 'succeeded' | 'failed';
  status: number;
  contentType: string;
  body: Buffer;
}

export type EnqueueResult = { accepted: true; job: Job } | { accepted: false; reason: 'QueueFull'; queued: number };

export interface JobListQuery {
  /** Only jobs in this state; all states when absent. */
  state?: JobState | undefined;
  /** At most this many jobs (the caller bounds it). */
  limit: number;
  /** Only jobs older than this position: the `next` of the previous page. */
  after?: number | undefined;
}

/**
 * One page of an owner's jobs, newest first. Positions count the owner's jobs
 * in creation order (1, 2, …, never reused), so a page boundary stays put while
 * new jobs arrive or old ones are deleted: following `next` shows every job
 * that existed at the first page at most once, and none created since.
 */
export interface JobPage {
  jobs: JobSummary[];
  /** Pass as `after` for the next page; null on the last page. */
  next: number | null;
}

export type CancelResult =
  | { outcome: 'cancelled'; job: Job }
  /** Already in a terminal state: nothing changed. */
  | { outcome: 'finished'; state: TerminalJobState }
  /** No such job, or another owner's: the caller cannot tell which. */
  | { outcome: 'not-found' };

export interface RecoverResult {
  /** Jobs left running by a process that died, put back in the queue. */
  requeued: number;
  /** Jobs whose TTL passed, now expired. */
  expired: number;
}

/**
 * Where jobs live. Implementations: SQLite (embedded, `sqlite-store.ts`) and
 * Redis Streams (`redis-store.ts`); `store-conformance.ts` is the contract both pass.
 */
export interface JobStore {
  /** Adds a queued job unless the service already has `maxQueued` unfinished jobs. */
  enqueue(job: NewJob, maxQueued: number): Promise<EnqueueResult>;
  get(id: string): Promise<Job | undefined>;
  /** Moves up to `limit` queued jobs (oldest first, ready to run) to running; expired ones become expired instead. */
  claim(limit: number): Promise<Job[]>;
  /** Writes the terminal state of a running job; false when the job was not running (cancelled meanwhile, say): nothing changed. */
  complete(id: string, outcome: JobOutcome): Promise<boolean>;
  /** Puts a running job back in the queue, not to be claimed before `notBeforeMs`; false (nothing changed) when it was not running. */
  release(id: string, notBeforeMs: number): Promise<boolean>;
  /** The owner's jobs, newest first (see JobPage). */
  list(owner: string, query: JobListQuery): Promise<JobPage>;
  /**
   * Moves the owner's queued or running job to cancelled, atomically against a
   * worker claiming or completing it at the same time. A queued job is then
   * never claimed; a running job's later complete/release returns false.
   */
  cancel(id: string, owner: string): Promise<CancelResult>;
  /** At start: running jobs (their worker died) back to queued; jobs past their TTL expired. */
  recover(): Promise<RecoverResult>;
  /** Expires queued jobs past their TTL and deletes terminal jobs (cancelled ones too) kept longer than their TTL. */
  sweep(): Promise<{ expired: number; deleted: number }>;
  /** Jobs per state. */
  counts(): Promise<Record<JobState, number>>;
  /** Jobs of a service waiting to run (queued): the async part of its queue depth, a scaling signal. */
  queuedCount(service: string): number;
  close(): Promise<void>;
}
