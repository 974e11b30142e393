/**
 * A service's SLO status from its history (history.ts), with the SLIs of
 * sli.ts: p95 against the target and the error rate over the last 5 minutes,
 * burn rates over 5 minutes and 1 hour, and the error budget left over the
 * whole history kept — this process's memory (an hour by default), not the
 * 30 days an SLO is usually judged over. The 5 minutes are read from points as
 * sampled; the hour's older part from per-minute rollups, so it is read to the
 * minute.
 *
 * | state     | when                                                             |
 * | --------- | ---------------------------------------------------------------- |
 * | NoData    | no request finished in the last 5 minutes                        |
 * | Breaching | either SLI's 5-minute burn rate is above 1 (spending too fast)  |
 * | Met       | otherwise                                                        |
 */
import type { SloSpec } from '../api/index.ts';
import { badCount, burnRate, sliBudget, type Sli, type SliCounts } from './sli.ts';
import { nestedWindowTotals, type ServicePoint, type WindowTotals } from './history.ts';

export const SHORT_WINDOW_MS = 5 * 60_000;
export const LONG_WINDOW_MS = 60 * 60_000;

export interface SliStatus {
  objective: number;
  budget: number;
  burn5m?: number;
  burn1h?: number;
  /** Share of the budget left over the history (1 = untouched, below 0 = overspent); absent without requests. */
  budgetLeft?: number;
}

export interface SloStatus {
  state: 'NoData' | 'Met' | 'Breaching';
  message: string;
  latency: SliStatus & { targetMs: number; p95Ms?: number };
  availability: SliStatus & { errorRate?: number };
  /** Requests per second over the last 5 minutes. */
  rps: number;
  /** Seconds of history the budget is judged over. */
  historySeconds: number;
}

export function sloStatus(points: readonly ServicePoint[], slo: Pick<SloSpec, 'latencyP95Ms' | 'errorRate'>, now: number): SloStatus {
  // One walk back from now: the 5 minutes, then on to the hour, then the rest of the history.
  const [short, long, all] = nestedWindowTotals(points, now, [now - SHORT_WINDOW_MS, now - LONG_WINDOW_MS, -Infinity]) as [WindowTotals, WindowTotals, WindowTotals];
  const sli = (name: Sli): SliStatus => {
    const budget = sliBudget(name, slo);
    const out: SliStatus = { objective: 1 - budget, budget };
    setIf(out, 'burn5m', burnRate(name, short, slo));
    setIf(out, 'burn1h', burnRate(name, long, slo));
    const spent = burnRate(name, all, slo);
    if (spent !== undefined) out.budgetLeft = 1 - spent;
    return out;
  };
  const latency: SloStatus['latency'] = { ...sli('latency'), targetMs: slo.latencyP95Ms };
  if (short.p95Ms !== undefined) latency.p95Ms = short.p95Ms;
  const availability: SloStatus['availability'] = sli('availability');
  if (short.requests > 0) availability.errorRate = short.serverErrors / short.requests;

  const historySeconds = all.seconds;
  const rps = short.seconds > 0 ? short.requests / short.seconds : 0;
  const base = { latency, availability, rps, historySeconds };
  if (short.requests === 0) return { state: 'NoData', message: 'no requests in the last 5 minutes', ...base };
  const breaches: string[] = [];
  if ((latency.burn5m ?? 0) > 1) breaches.push(`${pct(badShare('latency', short, slo))} slower than ${slo.latencyP95Ms} ms or not answered, p95 ${fmtMs(latency.p95Ms)} (latency burn ${latency.burn5m!.toFixed(1)}×)`);
  if ((availability.burn5m ?? 0) > 1) breaches.push(`error rate ${pct(availability.errorRate!)} against ${pct(slo.errorRate)} (error burn ${availability.burn5m!.toFixed(1)}×)`);
  if (breaches.length > 0) return { state: 'Breaching', message: breaches.join('; '), ...base };
  return { state: 'Met', message: `p95 ${fmtMs(latency.p95Ms)} against ${slo.latencyP95Ms} ms, error rate ${pct(availability.errorRate!)} against ${pct(slo.errorRate)}`, ...base };
}

function badShare(name: Sli, c: SliCounts, slo: Pick<SloSpec, 'latencyP95Ms'>): number {
  return c.requests > 0 ? badCount(name, c, slo) / c.requests : 0;
}

function setIf<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function fmtMs(ms: number | undefined): string {
  return ms === undefined ? '–' : `${Math.round(ms)} ms`;
}

function pct(share: number): string {
  return `${Number((share * 100).toPrecision(3))}%`;
}
