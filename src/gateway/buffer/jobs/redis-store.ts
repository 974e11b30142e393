/**
 * The distributed job store (`karb gateway --redis`): jobs shared by every
 * gateway replica through Redis Streams.
 *
 *   <prefix>job:<id>   hash: the job (request, state, result, times, attempts, its stream entry)
 *   <prefix>stream     stream of runnable job ids, read by the consumer group `workers`
 *                      (XADD on enqueue, XREADGROUP to claim, XACK + XDEL once the job leaves running)
 *   <prefix>delayed    zset id → not-before ms: released jobs wait here, then go back on the stream
 *   <prefix>expiry     zset id → expiresAt of unfinished jobs; <prefix>finished: id → delete-after
 *   <prefix>counts     hash state → jobs; <prefix>pending, <prefix>queued: hash service → jobs
 *   <prefix>owner-seq  hash owner → the last list position handed out (listing.ts; never reset)
 *   <prefix>by-owner:<owner>                 zset id → list position: the owner's jobs, for GET /v1/jobs
 *   <prefix>by-owner-state:<state>:<owner>   zset id → list position: the same, one per state (?status=)
 *
 * Every transition is one Lua script, so each job is in exactly one state and
 * the counts and the owner indexes agree with it (a cancel cannot interleave
 * with a claim or completion). A claimed job's entry stays in its consumer's
 * pending list until the job is done: `recover()` re-queues this consumer's
 * entries (a restarted gateway keeps its consumer name) and, with XAUTOCLAIM,
 * entries other consumers left idle longer than `claimIdleMs` (dead replicas).
 * Scripts build key names from the prefix, so the keys must live on one Redis
 * node (not a cluster).
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Clock } from '../../../util/clock.ts';
import { newJobId } from './job-id.ts';
import { FIRST_POSITION, pageOf } from './listing.ts';
import {
  JOB_STATES,
  type CancelResult,
  type EnqueueResult,
  type Job,
  type JobListQuery,
  type JobOutcome,
  type JobPage,
  type JobState,
  type JobStore,
  type JobSummary,
  type NewJob,
  type RecoverResult,
  type TerminalJobState,
} from './types.ts';

const GROUP = 'workers';

/** The hash fields a listing reads (no bodies), in the order `jobList` returns them. */
const SUMMARY_FIELDS = ['id', 'owner', 'service', 'path', 'contentType', 'state', 'resultStatus', 'resultContentType', 'createdAt', 'updatedAt', 'expiresAt', 'attempts'] as const;

const PRELUDE = `
local P = ARGV[1]
local TERMINAL = { succeeded = true, failed = true, expired = true, cancelled = true }
local function ownerIndex(owner) return P..'by-owner:'..owner end
local function stateIndex(owner, state) return P..'by-owner-state:'..state..':'..owner end
-- Jobs stored before listing existed have no ownerSeq: they stay out of the indexes (and lists) until swept.
local function move(job, id, from, to)
  local f = redis.call('HMGET', job, 'service', 'owner', 'ownerSeq')
  local service, owner, pos = f[1], f[2], f[3]
  redis.call('HINCRBY', P..'counts', from, -1)
  redis.call('HINCRBY', P..'counts', to, 1)
  if from == 'queued' then redis.call('HINCRBY', P..'queued', service, -1) end
  if to == 'queued' then redis.call('HINCRBY', P..'queued', service, 1) end
  if TERMINAL[to] then redis.call('HINCRBY', P..'pending', service, -1) end
  if pos then
    redis.call('ZREM', stateIndex(owner, from), id)
    redis.call('ZADD', stateIndex(owner, to), pos, id)
  end
end
local function dropEntry(entry)
  if entry and entry ~= '' then
    redis.call('XACK', P..'stream', '${GROUP}', entry)
    redis.call('XDEL', P..'stream', entry)
  end
end
local function finish(job, id, to, now)
  local from = redis.call('HGET', job, 'state')
  dropEntry(redis.call('HGET', job, 'entry'))
  redis.call('HSET', job, 'state', to, 'updatedAt', now, 'entry', '')
  move(job, id, from, to)
  redis.call('ZREM', P..'expiry', id)
  redis.call('ZADD', P..'finished', tonumber(now) + tonumber(redis.call('HGET', job, 'ttlMs')), id)
end
`;

const SCRIPTS = {
  // ARGV: P, id, service, maxQueued, owner, path, contentType, body, now, expiresAt, ttlMs
  jobEnqueue: `
local n = tonumber(redis.call('HGET', P..'pending', ARGV[3]) or '0')
if n >= tonumber(ARGV[4]) then return {0, n} end
local entry = redis.call('XADD', P..'stream', '*', 'id', ARGV[2])
redis.call('HSET', P..'job:'..ARGV[2], 'id', ARGV[2], 'owner', ARGV[5], 'service', ARGV[3], 'path', ARGV[6], 'contentType', ARGV[7],
  'body', ARGV[8], 'state', 'queued', 'createdAt', ARGV[9], 'updatedAt', ARGV[9], 'expiresAt', ARGV[10], 'ttlMs', ARGV[11],
  'attempts', 0, 'entry', entry)
local pos = redis.call('HINCRBY', P..'owner-seq', ARGV[5], 1)
redis.call('HSET', P..'job:'..ARGV[2], 'ownerSeq', pos)
redis.call('ZADD', ownerIndex(ARGV[5]), pos, ARGV[2])
redis.call('ZADD', stateIndex(ARGV[5], 'queued'), pos, ARGV[2])
redis.call('HINCRBY', P..'counts', 'queued', 1)
redis.call('HINCRBY', P..'pending', ARGV[3], 1)
redis.call('HINCRBY', P..'queued', ARGV[3], 1)
redis.call('ZADD', P..'expiry', ARGV[10], ARGV[2])
return {1, n}`,
  // ARGV: P, now — due delayed jobs back on the stream
  jobPromote: `
local ids = redis.call('ZRANGEBYSCORE', P..'delayed', '-inf', ARGV[2], 'LIMIT', 0, 1000)
for _, id in ipairs(ids) do
  redis.call('ZREM', P..'delayed', id)
  local job = P..'job:'..id
  if redis.call('HGET', job, 'state') == 'queued' then
    redis.call('HSET', job, 'entry', redis.call('XADD', P..'stream', '*', 'id', id))
  end
end
return #ids`,
  // ARGV: P, id, entry read, now → 1 claimed, 0 skipped (stale entry or expired)
  jobClaim: `
local job = P..'job:'..ARGV[2]
if redis.call('HGET', job, 'state') ~= 'queued' or redis.call('HGET', job, 'entry') ~= ARGV[3] then
  dropEntry(ARGV[3])
  return 0
end
if tonumber(redis.call('HGET', job, 'expiresAt')) <= tonumber(ARGV[4]) then
  finish(job, ARGV[2], 'expired', ARGV[4])
  return 0
end
redis.call('HSET', job, 'state', 'running', 'updatedAt', ARGV[4])
redis.call('HINCRBY', job, 'attempts', 1)
move(job, ARGV[2], 'queued', 'running')
return 1`,
  // ARGV: P, id, state, status, contentType, body, now
  jobComplete: `
local job = P..'job:'..ARGV[2]
if redis.call('HGET', job, 'state') ~= 'running' then return 0 end
redis.call('HSET', job, 'resultStatus', ARGV[4], 'resultContentType', ARGV[5], 'resultBody', ARGV[6])
finish(job, ARGV[2], ARGV[3], ARGV[7])
return 1`,
  // ARGV: P, id, notBefore, now
  jobRelease: `
local job = P..'job:'..ARGV[2]
if redis.call('HGET', job, 'state') ~= 'running' then return 0 end
dropEntry(redis.call('HGET', job, 'entry'))
redis.call('HSET', job, 'state', 'queued', 'updatedAt', ARGV[4], 'entry', '')
move(job, ARGV[2], 'running', 'queued')
redis.call('ZADD', P..'delayed', ARGV[3], ARGV[2])
return 1`,
  // ARGV: P, id, entry, now → 'requeued' | 'expired' | 'none'
  jobRecover: `
local job = P..'job:'..ARGV[2]
local state = redis.call('HGET', job, 'state')
if redis.call('HGET', job, 'entry') ~= ARGV[3] then
  dropEntry(ARGV[3])
  return 'none'
end
if state == 'queued' then
  -- read from the stream but never claimed (the process died in between): put it back on the stream
  dropEntry(ARGV[3])
  redis.call('HSET', job, 'entry', redis.call('XADD', P..'stream', '*', 'id', ARGV[2]))
  return 'none'
end
if state ~= 'running' then
  dropEntry(ARGV[3])
  return 'none'
end
if tonumber(redis.call('HGET', job, 'expiresAt')) <= tonumber(ARGV[4]) then
  finish(job, ARGV[2], 'expired', ARGV[4])
  return 'expired'
end
dropEntry(ARGV[3])
redis.call('HSET', job, 'state', 'queued', 'updatedAt', ARGV[4], 'entry', redis.call('XADD', P..'stream', '*', 'id', ARGV[2]))
move(job, ARGV[2], 'running', 'queued')
return 'requeued'`,
  // ARGV: P, now → {expired, deleted}
  jobSweep: `
local expired = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P..'expiry', '-inf', ARGV[2], 'LIMIT', 0, 1000)) do
  local job = P..'job:'..id
  local state = redis.call('HGET', job, 'state')
  if state == 'queued' then
    finish(job, id, 'expired', ARGV[2])
    expired = expired + 1
  elseif not state then
    redis.call('ZREM', P..'expiry', id)
  end
end
local deleted = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P..'finished', '-inf', ARGV[2], 'LIMIT', 0, 1000)) do
  local job = P..'job:'..id
  local state = redis.call('HGET', job, 'state')
  if state then
    redis.call('HINCRBY', P..'counts', state, -1)
    local f = redis.call('HMGET', job, 'owner', 'ownerSeq')
    if f[2] then
      redis.call('ZREM', ownerIndex(f[1]), id)
      redis.call('ZREM', stateIndex(f[1], state), id)
    end
    redis.call('DEL', job)
    deleted = deleted + 1
  end
  redis.call('ZREM', P..'finished', id)
end
return {expired, deleted}`,
  // ARGV: P, id, owner, now → {'cancelled'} | {'finished', state} | {'not-found'}
  jobCancel: `
local job = P..'job:'..ARGV[2]
local f = redis.call('HMGET', job, 'state', 'owner')
local state = f[1]
if not state or f[2] ~= ARGV[3] then return {'not-found'} end
if TERMINAL[state] then return {'finished', state} end
-- queued: off the stream (finish drops its entry) or out of the delayed set; running: its entry leaves the
-- worker's pending list, so neither claim nor recover sees it again, and complete/release find it not running.
redis.call('ZREM', P..'delayed', ARGV[2])
finish(job, ARGV[2], 'cancelled', ARGV[4])
return {'cancelled'}`,
  // ARGV: P, owner, state ('' = every state), after (exclusive), count → one field list per job, its position last
  jobList: `
local key = ARGV[3] == '' and ownerIndex(ARGV[2]) or stateIndex(ARGV[2], ARGV[3])
local hits = redis.call('ZREVRANGEBYSCORE', key, '('..ARGV[4], '-inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for i = 1, #hits, 2 do
  local fields = redis.call('HMGET', P..'job:'..hits[i], ${JSON.stringify(SUMMARY_FIELDS).slice(1, -1)})
  if fields[1] then
    fields[#fields + 1] = hits[i + 1]
    out[#out + 1] = fields
  end
end
return out`,
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptArg = string | number | Buffer;
type ScriptedRedis = Redis & { [K in ScriptName]: (...args: ScriptArg[]) => Promise<unknown> };

type StreamReply = Array<[string, Array<[string, string[]]>]> | null;

export interface RedisJobStoreOptions {
  url: string;
  clock: Clock;
  /** Key prefix; gateways sharing jobs use the same one. Default `karb:jobs:`. */
  prefix?: string;
  /** This gateway's consumer name; keep it stable across restarts (the pod name). Default: the host name. */
  consumer?: string;
  /** Entries another consumer has held this long are taken over by `recover()` (its gateway died). Default 15 min. */
  claimIdleMs?: number;
}

export class RedisJobStore implements JobStore {
  readonly #redis: ScriptedRedis;
  readonly #clock: Clock;
  readonly #p: string;
  readonly #consumer: string;
  readonly #claimIdleMs: number;
  #group: Promise<void> | undefined;
  #queued = new Map<string, number>();

  constructor(options: RedisJobStoreOptions) {
    this.#clock = options.clock;
    this.#p = options.prefix ?? 'karb:jobs:';
    this.#consumer = options.consumer ?? hostname();
    this.#claimIdleMs = options.claimIdleMs ?? 15 * 60_000;
    const redis = new Redis(options.url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
    // Connection errors surface through the commands that fail (the worker logs them, callers get 503).
    redis.on('error', () => {});
    for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: 0, lua: PRELUDE + lua });
    this.#redis = redis as ScriptedRedis;
  }

  async enqueue(job: NewJob, maxQueued: number): Promise<EnqueueResult> {
    await this.#ensureGroup();
    const now = this.#clock.now();
    const id = newJobId();
    const [accepted, n] = (await this.#redis.jobEnqueue(this.#p, id, job.service, maxQueued, job.owner, job.path, job.contentType, job.body, now, now + job.ttlMs, job.ttlMs)) as [number, number];
    if (accepted !== 1) return { accepted: false, reason: 'QueueFull', queued: Number(n) };
    this.#queued.set(job.service, (this.#queued.get(job.service) ?? 0) + 1);
    return { accepted: true, job: (await this.get(id))! };
  }

  async get(id: string): Promise<Job | undefined> {
    const h = await this.#redis.hgetallBuffer(this.#p + 'job:' + id);
    if (h.id === undefined) return undefined;
    return toJob(h);
  }

  async claim(limit: number): Promise<Job[]> {
    if (limit <= 0) return [];
    await this.#ensureGroup();
    const now = this.#clock.now();
    await this.#redis.jobPromote(this.#p, now);
    const claimed: Job[] = [];
    // Entries may be stale (expired, already finished): read again until `limit` are claimed or the stream is drained.
    for (let round = 0; round < 10 && claimed.length < limit; round++) {
      const reply = (await this.#redis.xreadgroup('GROUP', GROUP, this.#consumer, 'COUNT', limit - claimed.length, 'STREAMS', this.#p + 'stream', '>')) as StreamReply;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) break;
      for (const [entry, fields] of entries) {
        const id = fields[1]!;
        if ((await this.#redis.jobClaim(this.#p, id, entry, now)) === 1) claimed.push((await this.get(id))!);
      }
    }
    await this.#refreshQueued();
    return claimed;
  }

  async complete(id: string, outcome: JobOutcome): Promise<boolean> {
    return (await this.#redis.jobComplete(this.#p, id, outcome.state, outcome.status, outcome.contentType, outcome.body, this.#clock.now())) === 1;
  }

  async release(id: string, notBeforeMs: number): Promise<boolean> {
    return (await this.#redis.jobRelease(this.#p, id, notBeforeMs, this.#clock.now())) === 1;
  }

  async list(owner: string, query: JobListQuery): Promise<JobPage> {
    const rows = (await this.#redis.jobList(this.#p, owner, query.state ?? '', query.after ?? FIRST_POSITION, query.limit + 1)) as Array<Array<string | null>>;
    return pageOf(rows.map(summaryRow), query.limit);
  }

  async cancel(id: string, owner: string): Promise<CancelResult> {
    const [outcome, state] = (await this.#redis.jobCancel(this.#p, id, owner, this.#clock.now())) as [string, string?];
    if (outcome === 'finished') return { outcome: 'finished', state: state as TerminalJobState };
    if (outcome !== 'cancelled') return { outcome: 'not-found' };
    // Read after the script (bodies stay out of Lua replies); only a TTL near zero lets a sweep delete it first.
    const job = await this.get(id);
    return job === undefined ? { outcome: 'not-found' } : { outcome: 'cancelled', job };
  }

  async recover(): Promise<RecoverResult> {
    await this.#ensureGroup();
    const now = this.#clock.now();
    const result = { requeued: 0, expired: 0 };
    const settle = async (entries: Array<[string, string[] | null]>) => {
      for (const [entry, fields] of entries) {
        const id = fields?.[1];
        if (id === undefined) continue; // deleted entry
        const r = (await this.#redis.jobRecover(this.#p, id, entry, now)) as string;
        if (r === 'requeued') result.requeued++;
        else if (r === 'expired') result.expired++;
      }
    };
    // This consumer's own pending entries: it was restarted.
    for (;;) {
      const reply = (await this.#redis.xreadgroup('GROUP', GROUP, this.#consumer, 'COUNT', 1000, 'STREAMS', this.#p + 'stream', '0')) as StreamReply;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) break;
      await settle(entries);
    }
    // Entries other consumers held too long: their gateway is gone.
    let cursor = '0-0';
    do {
      const [next, entries] = (await this.#redis.xautoclaim(this.#p + 'stream', GROUP, this.#consumer, this.#claimIdleMs, cursor, 'COUNT', 1000)) as [string, Array<[string, string[] | null]>];
      await settle(entries);
      cursor = next;
    } while (cursor !== '0-0');
    await this.#refreshQueued();
    return result;
  }

  async sweep(): Promise<{ expired: number; deleted: number }> {
    const [expired, deleted] = (await this.#redis.jobSweep(this.#p, this.#clock.now())) as [number, number];
    await this.#refreshQueued();
    return { expired: Number(expired), deleted: Number(deleted) };
  }

  async counts(): Promise<Record<JobState, number>> {
    const h = await this.#redis.hgetall(this.#p + 'counts');
    return Object.fromEntries(JOB_STATES.map((s) => [s, Number(h[s] ?? 0)])) as Record<JobState, number>;
  }

  /** From a cache refreshed on every claim and sweep (the worker polls), so it may lag by one poll. */
  queuedCount(service: string): number {
    return this.#queued.get(service) ?? 0;
  }

  async close(): Promise<void> {
    if (this.#redis.status === 'end') return;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  async #refreshQueued(): Promise<void> {
    const h = await this.#redis.hgetall(this.#p + 'queued');
    const next = new Map<string, number>();
    for (const [service, n] of Object.entries(h)) if (Number(n) > 0) next.set(service, Number(n));
    this.#queued = next;
  }

  #ensureGroup(): Promise<void> {
    this.#group ??= this.#redis.xgroup('CREATE', this.#p + 'stream', GROUP, '0', 'MKSTREAM').then(
      () => undefined,
      (err: Error) => {
        if (!err.message.includes('BUSYGROUP')) {
          this.#group = undefined;
          throw err;
        }
      },
    );
    return this.#group;
  }
}

/** One `jobList` row: the SUMMARY_FIELDS values, then the list position. */
function summaryRow(values: Array<string | null>): { job: JobSummary; position: number } {
  const h: Record<string, string | null> = {};
  SUMMARY_FIELDS.forEach((name, i) => (h[name] = values[i] ?? null));
  const n = (k: string) => Number(h[k] ?? '');
  const hasResult = h.resultStatus !== null;
  const job: JobSummary = {
    id: h.id ?? '',
    owner: h.owner ?? '',
    service: h.service ?? '',
    path: h.path ?? '',
    contentType: h.contentType ?? '',
    state: (h.state ?? '') as JobState,
    resultStatus: hasResult ? n('resultStatus') : null,
    resultContentType: hasResult ? (h.resultContentType ?? '') : null,
    createdAt: n('createdAt'),
    updatedAt: n('updatedAt'),
    expiresAt: n('expiresAt'),
    attempts: n('attempts'),
  };
  return { job, position: Number(values[SUMMARY_FIELDS.length]) };
}

function toJob(h: Record<string, Buffer>): Job {
  const s = (k: string) => h[k]?.toString('utf8') ?? '';
  const n = (k: string) => Number(s(k));
  const hasResult = h.resultStatus !== undefined;
  return {
    id: s('id'),
    owner: s('owner'),
    service: s('service'),
    path: s('path'),
    contentType: s('contentType'),
    body: h.body ?? Buffer.alloc(0),
    state: s('state') as JobState,
    resultStatus: hasResult ? n('resultStatus') : null,
    resultContentType: hasResult ? s('resultContentType') : null,
    resultBody: hasResult ? (h.resultBody ?? Buffer.alloc(0)) : null,
    createdAt: n('createdAt'),
    updatedAt: n('updatedAt'),
    expiresAt: n('expiresAt'),
    attempts: n('attempts'),
  };
}
