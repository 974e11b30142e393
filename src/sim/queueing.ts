/**
 * Queueing estimates for a fleet whose slots share one FIFO queue (an M/G/c
 * queue): the predicted p95 response time at a given arrival rate, and the
 * fewest slots that keep it under an SLO. Waiting times use Erlang C with the
 * Allen–Cunneen correction for the service time's variability; the response
 * time adds the lognormal service time point by point over its quantiles.
 * Used by the oracle's first plan and to state one replica's capacity.
 */
import { lognormalFromMeanP95, lognormalQuantile, type Lognormal } from './random.ts';

export interface ServiceShape {
  meanMs: number;
  p95Ms: number;
}

const QUANTILE_POINTS = 100;

interface Prepared {
  meanSec: number;
  /** Squared coefficient of variation of the service time. */
  cs2: number;
  /** Service-time quantiles in seconds, ascending. */
  points: Float64Array;
}

const cache = new Map<string, Prepared>();

function prepare(svc: ServiceShape): Prepared {
  const key = `${svc.meanMs}/${svc.p95Ms}`;
  let p = cache.get(key);
  if (!p) {
    const dist: Lognormal = lognormalFromMeanP95(svc.meanMs, svc.p95Ms);
    const points = new Float64Array(QUANTILE_POINTS);
    for (let k = 0; k < QUANTILE_POINTS; k++) points[k] = lognormalQuantile(dist, (k + 0.5) / QUANTILE_POINTS) / 1000;
    p = { meanSec: svc.meanMs / 1000, cs2: Math.exp(dist.sigma * dist.sigma) - 1, points };
    cache.set(key, p);
  }
  return p;
}

/** Erlang C: the probability that an arrival waits, with c servers and offered load a (< c). */
export function erlangC(c: number, a: number): number {
  if (a <= 0) return 0;
  if (a >= c) return 1;
  let b = 1;
  for (let k = 1; k <= c; k++) b = (a * b) / (k + a * b);
  const rho = a / c;
  return b / (1 - rho * (1 - b));
}

/** P(response > x seconds) for `slots` servers at `rate` requests/s. */
function tail(p: Prepared, slots: number, rate: number, waitProb: number, x: number): number {
  const theta = (slots / p.meanSec - rate) * (2 / (1 + p.cs2));
  let sum = 0;
  for (let k = 0; k < QUANTILE_POINTS; k++) {
    const s = p.points[k]!;
    sum += s >= x ? 1 : Math.min(1, waitProb * Math.exp(-theta * (x - s)));
  }
  return sum / QUANTILE_POINTS;
}

/** Predicted p95 response time in ms; Infinity when the slots cannot keep up. */
export function predictedP95Ms(slots: number, ratePerSec: number, svc: ServiceShape): number {
  const p = prepare(svc);
  if (ratePerSec <= 0) return svc.p95Ms;
  const a = ratePerSec * p.meanSec;
  if (a >= slots) return Infinity;
  const waitProb = erlangC(slots, a);
  let lo = 0;
  let hi = p.points[QUANTILE_POINTS - 1]! + 1;
  while (tail(p, slots, ratePerSec, waitProb, hi) > 0.05) hi *= 2;
  for (let i = 0; i < 50; i++) {
    const mid = (lo + hi) / 2;
    if (tail(p, slots, ratePerSec, waitProb, mid) > 0.05) lo = mid;
    else hi = mid;
  }
  return hi * 1000;
}

/**
 * The fewest slots whose predicted p95 stays within `sloMs` at `ratePerSec`;
 * Infinity when even an idle slot is too slow (service p95 above the SLO).
 */
export function slotsNeeded(ratePerSec: number, svc: ServiceShape, sloMs: number): number {
  if (svc.p95Ms > sloMs) return Infinity;
  if (ratePerSec <= 0) return 0;
  const a = (ratePerSec * svc.meanMs) / 1000;
  let c = Math.max(1, Math.floor(a) + 1);
  // Exponential search then bisection: p95 falls as slots are added.
  let step = 1;
  while (predictedP95Ms(c, ratePerSec, svc) > sloMs) {
    c += step;
    step *= 2;
  }
  let lo = Math.max(Math.floor(a), c - step);
  let hi = c;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (predictedP95Ms(mid, ratePerSec, svc) > sloMs) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The highest rate (req/s) that `slots` serve within `sloMs` (0 when none). */
export function capacityRps(slots: number, svc: ServiceShape, sloMs: number): number {
  if (svc.p95Ms > sloMs) return 0;
  let lo = 0;
  let hi = (slots * 1000) / svc.meanMs;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (predictedP95Ms(slots, mid, svc) > sloMs) hi = mid;
    else lo = mid;
  }
  return lo;
}
