/**
 * The service-level indicators every part of karb reads the same way (the
 * guard after promotion, the Prometheus rules, the dashboard), and their burn
 * rates. Pure: counts and the spec's SLO in, shares out.
 *
 * | SLI          | a request is bad when                                        | objective          | budget      |
 * |--------------|--------------------------------------------------------------|--------------------|-------------|
 * | latency      | not answered (5xx, 429, no answer) or slower than latencyP95Ms | 95% good           | 5%          |
 * | availability | the gateway answered 5xx (no answer from a replica becomes one) | 1 − slo.errorRate  | errorRate   |
 *
 * Other 4xx are the caller's mistakes: answered, and not errors. A 429 that sheds load (the
 * admission queue, the service's own rate limit) is bad for latency; the 429 of the caller's own
 * API-key rate limit is in neither SLI (the gateway never reports it: sli-sink.ts, and
 * `karb_gateway_requests_outside_sli_total` for the rules). Each request counts once, however
 * many attempts it took, and so does a 503 the gateway answered itself. Burn rate over
 * a window = bad share in the window / budget (1 spends the budget exactly).
 * "Within latencyP95Ms" is read from the log-scale histogram: a request is slow
 * when its bin's middle lies above the bound (bins are 9% wide), as analysis reads it.
 */
import type { SloSpec } from '../api/index.ts';
import { LATENCY_BINS, binMiddle } from './latency-histogram.ts';

export type Sli = 'latency' | 'availability';

/** The latency SLI's objective: 95% of requests answered within `slo.latencyP95Ms`. */
export const LATENCY_OBJECTIVE = 0.95;

/** A 5xx answer by the gateway; status 0 (no answer from a replica) is answered 502/504 by it. */
export function isServerError(status: number): boolean {
  return status === 0 || status >= 500;
}

/**
 * Answered, whatever the answer (2xx–4xx), except 429: a shed request was not served (the caller's
 * own rate limit's 429 never gets here: the gateway reports it to no SLI).
 */
export function isAnswered(status: number): boolean {
  return status !== 0 && status < 500 && status !== 429;
}

/** A revision's cumulative SLI counts (a window is the difference of two, see `sliBetween`). */
export interface SliCounts {
  requests: number;
  /** Requests `isServerError` counts. */
  serverErrors: number;
  /** Latency histogram of the answered requests only (see latency-histogram.ts). */
  answered: Uint32Array;
}

export function emptySliCounts(): SliCounts {
  return { requests: 0, serverErrors: 0, answered: new Uint32Array(LATENCY_BINS) };
}

/** `later − earlier`, bin by bin. */
export function sliBetween(earlier: SliCounts, later: SliCounts): SliCounts {
  const answered = new Uint32Array(LATENCY_BINS);
  for (let i = 0; i < LATENCY_BINS; i++) answered[i] = later.answered[i]! - earlier.answered[i]!;
  return { requests: later.requests - earlier.requests, serverErrors: later.serverErrors - earlier.serverErrors, answered };
}

/** The SLI's error budget: the bad share its objective allows. */
export function sliBudget(sli: Sli, slo: Pick<SloSpec, 'errorRate'>): number {
  return sli === 'latency' ? 1 - LATENCY_OBJECTIVE : slo.errorRate;
}

/** Bad requests of the SLI in `c`. */
export function badCount(sli: Sli, c: SliCounts, slo: Pick<SloSpec, 'latencyP95Ms'>): number {
  if (sli === 'availability') return c.serverErrors;
  let within = 0;
  for (let i = 0; i < c.answered.length; i++) if (binMiddle(i) <= slo.latencyP95Ms) within += c.answered[i]!;
  return Math.max(0, c.requests - within);
}

/**
 * Bad share / budget over the counts; undefined with no request. A zero budget
 * (errorRate 0) burns infinitely fast on the first bad request.
 */
export function burnRate(sli: Sli, c: SliCounts, slo: Pick<SloSpec, 'latencyP95Ms' | 'errorRate'>): number | undefined {
  if (c.requests <= 0) return undefined;
  const bad = badCount(sli, c, slo) / c.requests;
  const budget = sliBudget(sli, slo);
  if (budget <= 0) return bad > 0 ? Infinity : 0;
  return bad / budget;
}
