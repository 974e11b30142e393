/**
 * Prometheus recording rules and burn-rate alerts for one service's `spec.slo`: pure data in
 * the shape of a Prometheus rule file (`{ groups }`), which is also a PrometheusRule's spec.
 * `karb render --prometheus` writes it as a file; `karb controller` applies it as a PrometheusRule.
 *
 * The series the rules read are the gateway's: `karb_gateway_requests_total{service,revision,code}`,
 * `karb_gateway_requests_within_latency_target_total{service,revision}` and
 * `karb_gateway_requests_outside_sli_total{service,revision}` (the caller's own rate limit's 429s,
 * subtracted from the total), which count as ../sli.ts defines the SLIs. One group per service,
 * recording rules first: Prometheus evaluates a group's rules in order, so each alert reads the
 * ratios recorded in the same evaluation.
 */
import { KarbError } from '../../errors.ts';
import { LATENCY_OBJECTIVE, sliBudget } from '../sli.ts';
import {
  BURN_ALERT_WINDOWS,
  DEFAULT_SCRAPE_INTERVAL_MS,
  RECORDED_WINDOWS,
  SCRAPES_PER_WINDOW,
  SLO_PERIOD_MS,
  minSloPeriodMs,
  promDuration,
  scaleWindow,
  type BurnAlertWindow,
} from './burn-windows.ts';

export const REQUESTS_METRIC = 'karb_gateway_requests_total';
export const WITHIN_LATENCY_TARGET_METRIC = 'karb_gateway_requests_within_latency_target_total';
export const OUTSIDE_SLI_METRIC = 'karb_gateway_requests_outside_sli_total';

/** Recorded series, `level:metric:operation` as Prometheus names recording rules; the window's nominal name is appended. */
export const AVAILABILITY_RATIO_RECORD = 'service:karb_slo_availability_errors:ratio_rate';
export const LATENCY_RATIO_RECORD = 'service:karb_slo_latency_slow:ratio_rate';
export const AVAILABILITY_ALERT = 'KarbAvailabilityBudgetBurn';
export const LATENCY_ALERT = 'KarbLatencyBudgetBurn';

export interface SloService {
  name: string;
  namespace: string;
  slo: { latencyP95Ms: number; errorRate: number };
}

export interface SloRuleOptions {
  /** The SLO period every window is scaled to; 30 days (the default) gives the workbook's windows. */
  periodMs?: number;
  /** How often Prometheus scrapes the gateways (default 15 s): the shortest window must span a few scrapes. */
  scrapeIntervalMs?: number;
}

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: Array<RecordingRule | AlertingRule>;
}

export interface RuleFile {
  groups: RuleGroup[];
}

/** An SLO period too short for its windows to hold a rate at the scrape interval (code `SLO_PERIOD_TOO_SHORT`). */
export class SloPeriodError extends KarbError {
  constructor(message: string) {
    super('SLO_PERIOD_TOO_SHORT', message, { status: 400 });
  }
}

/** The name of a service's rule group: unique across namespaces, as Prometheus wants group names in one file set. */
export function sloGroupName(s: Pick<SloService, 'name' | 'namespace'>): string {
  return `karb-slo-${s.namespace}-${s.name}`;
}

/** The rule file of one service's SLO: its ratios over every window, then the eight burn-rate alerts. */
export function sloRules(service: SloService, options: SloRuleOptions = {}): RuleFile {
  const periodMs = Math.round(options.periodMs ?? SLO_PERIOD_MS);
  const scrapeMs = options.scrapeIntervalMs ?? DEFAULT_SCRAPE_INTERVAL_MS;
  const minPeriodMs = minSloPeriodMs(scrapeMs);
  if (!(periodMs >= minPeriodMs)) {
    const shortest = scaleWindow(RECORDED_WINDOWS[0]!.ms, periodMs);
    throw new SloPeriodError(
      `an SLO period of ${periodMs} ms is too short for scrapes every ${scrapeMs} ms: its shortest window (5m over 30 days) would be ${shortest} ms, ` +
        `which must span ${SCRAPES_PER_WINDOW} scrapes; give a period of at least ${promDuration(minPeriodMs)} (30d in production), or scrape more often`,
    );
  }
  const sel = (extra = ''): string => `{service=${promString(service.name)}${extra}}`;
  const rules: Array<RecordingRule | AlertingRule> = [];
  for (const w of RECORDED_WINDOWS) {
    const range = `[${promDuration(scaleWindow(w.ms, periodMs))}]`;
    const all = `sum by (service) (rate(${REQUESTS_METRIC}${sel()}${range}))`;
    // The requests the SLIs count: all but the caller's own rate limit's 429s (none yet: no series, 0 left out).
    const total = `(${all} - (sum by (service) (rate(${OUTSIDE_SLI_METRIC}${sel()}${range})) or ${all} * 0))`;
    // With no 5xx yet there is no 5xx series: the ratio is then 0, not missing.
    const errors = `sum by (service) (rate(${REQUESTS_METRIC}${sel(',code=~"5.."')}${range}))`;
    const within = `sum by (service) (rate(${WITHIN_LATENCY_TARGET_METRIC}${sel()}${range}))`;
    rules.push({ record: `${AVAILABILITY_RATIO_RECORD}${w.name}`, expr: `(${errors} or ${total} * 0) / ${total}` });
    rules.push({ record: `${LATENCY_RATIO_RECORD}${w.name}`, expr: `1 - ${within} / ${total}` });
  }
  const periodNote = periodMs === SLO_PERIOD_MS ? '' : ` (windows scaled to an SLO period of ${promDuration(periodMs)})`;
  for (const w of BURN_ALERT_WINDOWS) {
    rules.push(
      burnAlert(service, w, {
        alert: AVAILABILITY_ALERT,
        record: AVAILABILITY_RATIO_RECORD,
        slo: 'availability',
        budget: sliBudget('availability', service.slo),
        what: `answered with 5xx (objective ${percent(1 - service.slo.errorRate)} without)`,
        periodNote,
        periodMs,
      }),
    );
  }
  for (const w of BURN_ALERT_WINDOWS) {
    rules.push(
      burnAlert(service, w, {
        alert: LATENCY_ALERT,
        record: LATENCY_RATIO_RECORD,
        slo: 'latency',
        budget: sliBudget('latency', service.slo),
        what: `not answered within ${service.slo.latencyP95Ms} ms (objective ${percent(LATENCY_OBJECTIVE)} within)`,
        periodNote,
        periodMs,
      }),
    );
  }
  return { groups: [{ name: sloGroupName(service), rules }] };
}

function burnAlert(
  s: SloService,
  w: BurnAlertWindow,
  o: { alert: string; record: string; slo: string; budget: number; what: string; periodNote: string; periodMs: number },
): AlertingRule {
  const threshold = round(w.burnRate * o.budget);
  const sel = `{service=${promString(s.name)}}`;
  return {
    alert: o.alert,
    expr: `${o.record}${w.long}${sel} > ${threshold} and ${o.record}${w.short}${sel} > ${threshold}`,
    labels: { severity: w.severity, service: s.name, namespace: s.namespace, slo: o.slo, long_window: w.long, short_window: w.short, burn_rate: String(w.burnRate) },
    annotations: {
      summary: `${s.namespace}/${s.name} is burning its ${o.slo} error budget ${w.burnRate}x as fast as its SLO allows`,
      description:
        `{{ $value | humanizePercentage }} of ${s.name}'s requests over the last ${w.long} were ${o.what}, ` +
        `and more than ${percent(threshold)} over the last ${w.short} too${o.periodNote}. ` +
        `At this rate the budget (${percent(o.budget)} of requests over ${promDuration(o.periodMs)}) lasts ${promDuration(Math.round(o.periodMs / w.burnRate / 60_000) * 60_000)}.`,
    },
  };
}

/** A PromQL string literal (a service name is a DNS label; quoting keeps any other text inert). */
function promString(value: string): string {
  return JSON.stringify(value);
}

/** 14.4 × 0.01 is 0.14400000000000002 in floating point; rules should read 0.144. */
function round(x: number): number {
  return Number(x.toPrecision(12));
}

function percent(x: number): string {
  return `${round(x * 100)}%`;
}
