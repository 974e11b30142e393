/**
 * The open loop: every arrival is sent at its scheduled time whatever the
 * latency of earlier ones, so a slow target cannot slow the test down and hide
 * its own slowness (no coordinated omission). Latency is measured from the
 * scheduled time, and separately from the moment the request went onto the
 * wire. Past `maxOutstanding` requests in flight, arrivals are dropped and
 * counted rather than delayed.
 *
 * `runOpenLoop` owns timing and bookkeeping and takes any `Sender`;
 * `createHttpSender` is the HTTP one (undici Pool, keep-alive).
 */
import net from 'node:net';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import type { LatencySummary } from './histogram.ts';
import { LoadRecorder, type Outcome, type RunTotals, type SecondStats } from './recorder.ts';
import type { Arrival } from './schedule.ts';

/** How a request ended, and when it went onto the wire (clock time, ms) if it did. */
export interface SendResult extends Outcome {
  sentAt?: number;
}

/** Sends one request; never rejects (failures are an `errorCode`). */
export type Sender = (arrival: Arrival) => Promise<SendResult>;

/** The system clock with sub-millisecond resolution. */
export const preciseClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: systemClock.setTimeout,
  clearTimeout: systemClock.clearTimeout,
};

export const RUNNER_DEFAULTS = {
  maxOutstanding: 10_000,
  drainTimeoutMs: 30_000,
  abortGraceMs: 1_000,
};

export interface OpenLoopOptions {
  schedule: Iterable<Arrival> & { readonly durationMs?: number };
  send: Sender;
  clock?: Clock;
  /** Requests in flight beyond which arrivals are dropped (counted, never delayed). */
  maxOutstanding?: number;
  /** After the schedule ends, how long to wait for requests still in flight. */
  drainTimeoutMs?: number;
  /** After an abort, how long to wait for requests still in flight. */
  abortGraceMs?: number;
  /** Stops sending; the run then reports what it has. */
  signal?: AbortSignal;
  /** Called once a second with the run so far. */
  onProgress?: (progress: Progress) => void;
}

export interface Progress {
  elapsedMs: number;
  /** The last whole second, or undefined during the first one. */
  lastSecond: SecondStats | undefined;
  totals: Readonly<RunTotals>;
  outstanding: number;
}

export interface RunResult {
  /** Epoch milliseconds at the start. */
  startedAt: number;
  /** How long arrivals were scheduled (the schedule's duration unless aborted). */
  durationMs: number;
  /** Start to the end of the run, including waiting for the last answers. */
  elapsedMs: number;
  aborted: boolean;
  totals: RunTotals;
  rates: {
    /** Arrivals the schedule offered per second of the schedule. */
    offeredRps: number;
    sentRps: number;
    /** Successful responses per second, from the start to the last response. */
    achievedRps: number;
  };
  /** Successful responses, from each request's scheduled time to its last byte. */
  latencyMs: LatencySummary;
  /** Successful responses, from the moment the request went onto the wire to its last byte. */
  serviceLatencyMs: LatencySummary;
  /** Scheduled time → on the wire: the generator's own delay (timers, connection waits). */
  sendLagMs: LatencySummary;
  series: SecondStats[];
}

export function runOpenLoop(options: OpenLoopOptions): Promise<RunResult> {
  const clock = options.clock ?? preciseClock;
  const maxOutstanding = options.maxOutstanding ?? RUNNER_DEFAULTS.maxOutstanding;
  const drainTimeoutMs = options.drainTimeoutMs ?? RUNNER_DEFAULTS.drainTimeoutMs;
  const abortGraceMs = options.abortGraceMs ?? RUNNER_DEFAULTS.abortGraceMs;
  const { send, signal, onProgress } = options;
  const recorder = new LoadRecorder();
  const startedAt = clock.now();
  const elapsed = (): number => clock.now() - startedAt;
  const iterator = options.schedule[Symbol.iterator]();
  let next = iterator.next();

  return new Promise((resolve) => {
    let arrivalTimer: TimerHandle | undefined;
    let secondTimer: TimerHandle | undefined;
    let drainTimer: TimerHandle | undefined;
    let scheduling = true;
    let finished = false;
    let aborted = false;
    const plannedMs = options.schedule.durationMs;
    let durationMs = 0;

    const fire = (arrival: Arrival, firedMs: number): void => {
      if (recorder.outstanding >= maxOutstanding) {
        recorder.dropped(arrival.atMs);
        return;
      }
      recorder.sent(arrival.atMs);
      const completed = (result: SendResult): void => {
        if (finished) return;
        const sentMs = result.sentAt !== undefined ? result.sentAt - startedAt : firedMs;
        recorder.completed(arrival.atMs, sentMs, elapsed(), result);
        if (!scheduling && recorder.outstanding === 0) finish();
      };
      send(arrival).then(completed, (err: unknown) => completed({ errorCode: transportErrorCode(err) }));
    };

    const tick = (): void => {
      arrivalTimer = undefined;
      if (!scheduling) return;
      const now = elapsed();
      while (!next.done && next.value.atMs <= now) {
        fire(next.value, now);
        next = iterator.next();
      }
      if (next.done) {
        // Keep the clock running to the schedule's end, so quiet last seconds still count.
        if (plannedMs !== undefined && now < plannedMs) arrivalTimer = clock.setTimeout(stopScheduling, plannedMs - now);
        else stopScheduling();
        return;
      }
      arrivalTimer = clock.setTimeout(tick, Math.max(0, next.value.atMs - elapsed()));
    };

    const stopScheduling = (): void => {
      arrivalTimer = undefined;
      if (!scheduling) return;
      scheduling = false;
      durationMs = aborted ? elapsed() : (plannedMs ?? elapsed());
      if (recorder.outstanding === 0) return finish();
      drainTimer = clock.setTimeout(finish, aborted ? abortGraceMs : drainTimeoutMs);
    };

    const secondTick = (): void => {
      const now = elapsed();
      recorder.advanceTo(now);
      onProgress?.({ elapsedMs: now, lastSecond: recorder.lastClosedSecond(), totals: recorder.totals, outstanding: recorder.outstanding });
      secondTimer = clock.setTimeout(secondTick, (Math.floor(now / 1000) + 1) * 1000 - now);
    };

    const onAbort = (): void => {
      if (!scheduling) return;
      aborted = true;
      if (arrivalTimer !== undefined) clock.clearTimeout(arrivalTimer);
      stopScheduling();
    };

    function finish(): void {
      if (finished) return;
      finished = true;
      for (const t of [arrivalTimer, secondTimer, drainTimer]) if (t !== undefined) clock.clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
      const end = elapsed();
      recorder.finish(end);
      const seconds = Math.max(durationMs, 1) / 1000;
      const totals = recorder.totals;
      const activeSeconds = Math.max(durationMs, recorder.lastCompletionMs, 1) / 1000;
      resolve({
        startedAt,
        durationMs,
        elapsedMs: end,
        aborted,
        totals: { ...totals, errorsByCode: { ...totals.errorsByCode } },
        rates: { offeredRps: totals.offered / seconds, sentRps: totals.sent / seconds, achievedRps: totals.ok / activeSeconds },
        ...recorder.summaries(),
        series: recorder.series,
      });
    }

    if (signal?.aborted) {
      aborted = true;
      durationMs = 0;
      scheduling = false;
      finish();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    secondTimer = clock.setTimeout(secondTick, 1000);
    tick();
  });
}

export interface HttpTarget {
  url: string;
  method: string;
  headers: Record<string, string>;
  /** Sent as is; a string may hold `{{field}}` placeholders filled from each arrival's fields. */
  body?: string | Buffer;
}

export interface HttpSenderOptions {
  /** Keep-alive connections to open at most; requests beyond them wait in the client (counted as send lag). */
  connections: number;
  /** Longest wait for the response headers, and then between body chunks. */
  timeoutMs: number;
  clock?: Clock;
}

export interface HttpSender {
  send: Sender;
  /** Closes every connection at once; requests still in flight end with an error. */
  close(): Promise<void>;
}

export function createHttpSender(target: HttpTarget, options: HttpSenderOptions): HttpSender {
  const clock = options.clock ?? preciseClock;
  const url = new URL(target.url);
  const pool = new Pool(url.origin, {
    connections: options.connections,
    pipelining: 1,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connectTimeout: Math.min(options.timeoutMs, 10_000),
  });
  const path = `${url.pathname}${url.search}`;
  const render = bodyRenderer(target.body);
  const base = { path, method: target.method as Dispatcher.HttpMethod, headers: target.headers };

  const send: Sender = (arrival) =>
    new Promise<SendResult>((resolve) => {
      let sentAt: number | undefined;
      let status: number | undefined;
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart() {
          sentAt ??= clock.now();
        },
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData() {
          // The body is read to its end (latency counts the last byte) and discarded.
        },
        onResponseEnd() {
          resolve(sentAt === undefined ? { status } : { status, sentAt });
        },
        onResponseError(_controller, err) {
          const errorCode = transportErrorCode(err);
          resolve(sentAt === undefined ? { errorCode } : { errorCode, sentAt });
        },
      };
      try {
        const body = render(arrival);
        pool.dispatch(body === undefined ? base : { ...base, body }, handler);
      } catch (err) {
        resolve({ errorCode: transportErrorCode(err) });
      }
    });

  return { send, close: () => pool.destroy() };
}

/** A short, stable name for a failure that produced no HTTP answer. */
export function transportErrorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (code === 'UND_ERR_SOCKET') return 'socket closed';
  if (code === 'UND_ERR_DESTROYED' || code === 'UND_ERR_CLOSED' || code === 'UND_ERR_ABORTED') return 'aborted';
  return typeof code === 'string' && code !== '' ? code : 'error';
}

/** Compiles `{{name}}` placeholders once; bodies without them are shared as is. */
function bodyRenderer(body: string | Buffer | undefined): (arrival: Arrival) => string | Buffer | undefined {
  if (typeof body !== 'string' || !body.includes('{{')) return () => body;
  const parts = body.split(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/);
  return (arrival) => {
    const fields = arrival.fields;
    if (!fields) return body;
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      if (i % 2 === 0) out += parts[i];
      else {
        const value = fields[parts[i]!];
        out += value === undefined ? `{{${parts[i]}}}` : String(value);
      }
    }
    return out;
  };
}

/**
 * Opens (and closes) one TCP connection to the target's host and port, trying
 * `attempts` times; returns undefined when it connects, else the last error's code.
 */
export async function probeTarget(target: string, attempts = 3, pauseMs = 300, timeoutMs = 3000): Promise<string | undefined> {
  const url = new URL(target);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let last = 'error';
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, pauseMs));
    const error = await new Promise<string | undefined>((resolve) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve('timeout');
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.end();
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(err.code ?? err.message);
      });
    });
    if (error === undefined) return undefined;
    last = error;
  }
  return last;
}
