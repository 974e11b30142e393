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
 *
 * A terminal state (succeeded, failed, expired) is written once and never changed.
 */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'expired';
export type TerminalJobState = 'succeeded' | 'failed' | 'expired';

export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'expired'];

export function isTerminal(state: JobState): state is TerminalJobState {
  return state === 'succeeded' || state === 'failed' || state === 'expired';
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
  /** Writes the terminal state of a running job; false when the job was not running (nothing changed). */
  complete(id: string, outcome: JobOutcome): Promise<boolean>;
  /** Puts a running job back in the queue, not to be claimed before `notBeforeMs`. */
  release(id: string, notBeforeMs: number): Promise<boolean>;
  /** At start: running jobs (their worker died) back to queued; jobs past their TTL expired. */
  recover(): Promise<RecoverResult>;
  /** Expires queued jobs past their TTL and deletes terminal jobs kept longer than their TTL. */
  sweep(): Promise<{ expired: number; deleted: number }>;
  /** Jobs per state. */
  counts(): Promise<Record<JobState, number>>;
  /** Jobs of a service waiting to run (queued): the async part of its queue depth, a scaling signal. */
  queuedCount(service: string): number;
  close(): Promise<void>;
}
