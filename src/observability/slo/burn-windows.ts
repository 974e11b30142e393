/**
 * The multi-window, multi-burn-rate alerts of the Google SRE workbook ("Alerting on SLOs",
 * its sixth and recommended scheme), for a 30-day SLO period:
 *
 * | severity | long window | short window | burn rate | budget spent when it fires |
 * | -------- | ----------- | ------------ | --------- | -------------------------- |
 * | page     | 1h          | 5m           | 14.4      | 2% in 1 hour               |
 * | page     | 6h          | 30m          | 6         | 5% in 6 hours              |
 * | ticket   | 1d          | 2h           | 3         | 10% in 1 day               |
 * | ticket   | 3d          | 6h           | 1         | 10% in 3 days              |
 *
 * Both windows must burn faster than the rate: the long one proves the spend is significant, the
 * short one that it is still going on, so an alert resolves soon after the errors stop.
 *
 * A shorter SLO period scales every window by period / 30 days (`scaleWindow`): the alerts then
 * fire and resolve just as they would over 30 days, in proportionally less time. That is how a
 * test (or a demo) sees a 1-hour window's alert within minutes; production keeps 30 days. The
 * shortest window must still span a few scrapes, so the shortest period depends on how often
 * Prometheus scrapes (`minSloPeriodMs`).
 */

const MINUTE = 60_000;
/** The SLO period the budgets are spent over, and the workbook's windows are written for. */
export const SLO_PERIOD_MS = 30 * 24 * 60 * MINUTE;
const HOUR = 60 * MINUTE;

export interface BurnAlertWindow {
  severity: 'page' | 'ticket';
  /** Nominal names (30-day period), used in series and label names whatever the period. */
  long: string;
  short: string;
  longMs: number;
  shortMs: number;
  burnRate: number;
}

export const BURN_ALERT_WINDOWS: readonly BurnAlertWindow[] = Object.freeze([
  { severity: 'page', long: '1h', short: '5m', longMs: HOUR, shortMs: 5 * MINUTE, burnRate: 14.4 },
  { severity: 'page', long: '6h', short: '30m', longMs: 6 * HOUR, shortMs: 30 * MINUTE, burnRate: 6 },
  { severity: 'ticket', long: '1d', short: '2h', longMs: 24 * HOUR, shortMs: 2 * HOUR, burnRate: 3 },
  { severity: 'ticket', long: '3d', short: '6h', longMs: 72 * HOUR, shortMs: 6 * HOUR, burnRate: 1 },
]);

/** Every window a rule records a ratio over, nominal name → milliseconds over 30 days, shortest first. */
export const RECORDED_WINDOWS: ReadonlyArray<{ name: string; ms: number }> = Object.freeze(
  [...new Map(BURN_ALERT_WINDOWS.flatMap((w) => [[w.short, w.shortMs] as const, [w.long, w.longMs] as const])).entries()]
    .map(([name, ms]) => ({ name, ms }))
    .sort((a, b) => a.ms - b.ms),
);

/**
 * Scrapes a window must span: `rate()` needs two samples in its range, and four leave room for a
 * missed scrape or one that lands just outside.
 */
export const SCRAPES_PER_WINDOW = 4;
/** The scrape interval rules are written for unless told another: karb's ServiceMonitor's (monitoring.ts). */
export const DEFAULT_SCRAPE_INTERVAL_MS = 15_000;

/** The shortest window a rule may be given when Prometheus scrapes every `scrapeIntervalMs`. */
export function minWindowMs(scrapeIntervalMs: number = DEFAULT_SCRAPE_INTERVAL_MS): number {
  return SCRAPES_PER_WINDOW * scrapeIntervalMs;
}

/**
 * The shortest SLO period whose windows all span `SCRAPES_PER_WINDOW` scrapes at that interval:
 * 6d at 15 s, 576m at 1 s (a period of 1d then needs scrapes every 2.5 s or less).
 */
export function minSloPeriodMs(scrapeIntervalMs: number = DEFAULT_SCRAPE_INTERVAL_MS): number {
  return Math.ceil((minWindowMs(scrapeIntervalMs) * SLO_PERIOD_MS) / RECORDED_WINDOWS[0]!.ms);
}

/** A window scaled to the SLO period, in whole milliseconds. */
export function scaleWindow(ms: number, periodMs: number): number {
  return Math.round((ms * periodMs) / SLO_PERIOD_MS);
}

/** Milliseconds as a Prometheus duration in the largest unit that writes it exactly: `5m`, `48m`, `2h`, `1500ms`. */
export function promDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms <= 0) throw new RangeError(`a Prometheus duration needs a positive whole number of milliseconds, not ${ms}`);
  for (const [unit, size] of [['d', 24 * HOUR], ['h', HOUR], ['m', MINUTE], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
