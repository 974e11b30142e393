/**
 * GASCL's targets, decided from a scenario's runs. Pure: each target takes
 * points (minutes within the SLO, GPU node-hours) and says whether it holds and,
 * when it does not, why, in numbers. Decisions use exact values; only the
 * numbers they report are rounded.
 *
 * 1. neverBehind: GASCL keeps at least as many minutes within the SLO as the
 *    best of A–C; it spends at most 1.05× the node-hours of the cheapest of A–C
 *    that keeps at least as many minutes as it does (none such: this part
 *    holds); and no treatment A–C nor bound (reactive, standing) keeps strictly
 *    more minutes for strictly fewer node-hours.
 * 2. nearOracle (scenarios that declare a seasonal period): from the second
 *    period on, ≥ 99% of minutes within the SLO at ≤ 1.15× the oracle's node-hours.
 * 3. beyondBoundsLine (where both bounds ran): GASCL's point (node-hours, % of
 *    minutes within the SLO) lies on or above/left of the straight line through
 *    the reactive bound's point and the standing bound's.
 */
import type { MinuteResult } from './metrics.ts';

/** A run as the targets see it: its minutes within the SLO out of its minutes, and what it cost. */
export interface RunPoint {
  /** "hpa-cpu", "reactive bound", ... */
  name: string;
  sloMinutes: number;
  minutes: number;
  gpuNodeHours: number;
}

/** GASCL may spend this much more than the cheapest native treatment that keeps as many minutes. */
export const NODE_HOURS_SLACK = 1.05;
/** nearOracle: % of minutes within the SLO, and node-hours over the oracle's. */
export const NEAR_ORACLE_SLO_MINUTES_PCT = 99;
export const NEAR_ORACLE_NODE_HOURS_RATIO = 1.15;

/** Node-hours closer than this are the same (float sums of the same node-seconds). */
const EPS = 1e-9;

/** A run's minutes within the SLO and GPU node-hours over minutes [fromMinute, toMinute). A minute without traffic counts as within. */
export function pointOf(name: string, minutes: readonly MinuteResult[], sloMs: number, fromMinute = 0, toMinute = minutes.length): RunPoint {
  let within = 0;
  let hours = 0;
  const from = Math.max(0, fromMinute);
  const to = Math.min(minutes.length, toMinute);
  for (let m = from; m < to; m++) {
    const minute = minutes[m]!;
    if (!(minute.p95Ms > sloMs)) within++;
    hours += minute.gpuNodeHours;
  }
  return { name, sloMinutes: within, minutes: Math.max(0, to - from), gpuNodeHours: hours };
}

function minutesWord(n: number): string {
  return n === 1 ? '1 minute' : `${n} minutes`;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function pctOf(p: RunPoint): number {
  return p.minutes === 0 ? 100 : (100 * p.sloMinutes) / p.minutes;
}

function ratio(a: number, b: number): number {
  return b > 0 ? a / b : a > 0 ? Infinity : 1;
}

export interface Domination {
  /** The run that keeps more minutes for fewer node-hours. */
  by: string;
  sloMinutesMore: number;
  gpuNodeHoursFewer: number;
}

export interface NeverBehind {
  holds: boolean;
  /** The runs GASCL was compared with: the treatments A–C that ran, then the bounds. */
  compared: string[];
  sloMinutes: number;
  minutes: number;
  gpuNodeHours: number;
  /** The treatment A–C with the most minutes within the SLO (the first listed on a tie). */
  bestNative?: { name: string; sloMinutes: number };
  /** The cheapest treatment A–C keeping at least GASCL's minutes, and GASCL's node-hours over its (target ≤ 1.05). */
  cheapestAsGood?: { name: string; sloMinutes: number; gpuNodeHours: number; gasclOverIt: number };
  dominatedBy: Domination[];
  /** Why it does not hold, one sentence per failed part; empty when it holds. */
  reasons: string[];
}

/** Target 1 (see the top of the file). `natives` are the treatments A–C that ran; `bounds` the reactive and standing bounds that ran. */
export function neverBehind(gascl: RunPoint, natives: readonly RunPoint[], bounds: readonly RunPoint[] = []): NeverBehind {
  const reasons: string[] = [];
  let best: RunPoint | undefined;
  for (const p of natives) if (!best || p.sloMinutes > best.sloMinutes) best = p;
  if (best && gascl.sloMinutes < best.sloMinutes) {
    reasons.push(`keeps ${gascl.sloMinutes} of ${gascl.minutes} minutes within the SLO, ${minutesWord(best.sloMinutes - gascl.sloMinutes)} fewer than ${best.name} (${best.sloMinutes})`);
  }
  let cheapest: RunPoint | undefined;
  for (const p of natives) if (p.sloMinutes >= gascl.sloMinutes && (!cheapest || p.gpuNodeHours < cheapest.gpuNodeHours)) cheapest = p;
  const over = cheapest ? ratio(gascl.gpuNodeHours, cheapest.gpuNodeHours) : undefined;
  if (cheapest && gascl.gpuNodeHours > NODE_HOURS_SLACK * cheapest.gpuNodeHours + EPS) {
    reasons.push(`spends ${gascl.gpuNodeHours.toFixed(2)} GPU node-hours, ${over!.toFixed(2)}× those of ${cheapest.name} (${cheapest.gpuNodeHours.toFixed(2)}), which keeps ${cheapest.sloMinutes} minutes within the SLO to its ${gascl.sloMinutes}; at most ${NODE_HOURS_SLACK}× allowed`);
  }
  const dominatedBy: Domination[] = [];
  for (const p of [...natives, ...bounds]) {
    if (p.sloMinutes > gascl.sloMinutes && p.gpuNodeHours < gascl.gpuNodeHours - EPS) {
      dominatedBy.push({ by: p.name, sloMinutesMore: p.sloMinutes - gascl.sloMinutes, gpuNodeHoursFewer: round(gascl.gpuNodeHours - p.gpuNodeHours, 3) });
      reasons.push(`dominated by ${p.name}: ${minutesWord(p.sloMinutes - gascl.sloMinutes).replace(' ', ' more ')} within the SLO for ${(gascl.gpuNodeHours - p.gpuNodeHours).toFixed(2)} fewer GPU node-hours`);
    }
  }
  return {
    holds: reasons.length === 0,
    compared: [...natives, ...bounds].map((p) => p.name),
    sloMinutes: gascl.sloMinutes,
    minutes: gascl.minutes,
    gpuNodeHours: round(gascl.gpuNodeHours, 3),
    ...(best ? { bestNative: { name: best.name, sloMinutes: best.sloMinutes } } : {}),
    ...(cheapest ? { cheapestAsGood: { name: cheapest.name, sloMinutes: cheapest.sloMinutes, gpuNodeHours: round(cheapest.gpuNodeHours, 3), gasclOverIt: round(over!, 3) } } : {}),
    dominatedBy,
    reasons,
  };
}

export interface NearOracle {
  holds: boolean;
  /** Counted from this minute (the second period's first) to the end. */
  fromMinute: number;
  minutes: number;
  sloMinutesPct: number;
  nodeHoursVsOracle: number;
  target: { sloMinutesPct: number; nodeHoursVsOracle: number };
  reasons: string[];
}

/** Target 2: `gascl` and `oracle` already counted from the second period on (pointOf with fromMinute). */
export function nearOracle(gascl: RunPoint, oracle: RunPoint, fromMinute: number): NearOracle {
  const pct = pctOf(gascl);
  const vs = ratio(gascl.gpuNodeHours, oracle.gpuNodeHours);
  const reasons: string[] = [];
  if (pct < NEAR_ORACLE_SLO_MINUTES_PCT) reasons.push(`${pct.toFixed(1)}% of minutes within the SLO from minute ${fromMinute} on, below ${NEAR_ORACLE_SLO_MINUTES_PCT}%`);
  if (vs > NEAR_ORACLE_NODE_HOURS_RATIO) reasons.push(`${vs.toFixed(2)}× the oracle's GPU node-hours from minute ${fromMinute} on, above ${NEAR_ORACLE_NODE_HOURS_RATIO}×`);
  return {
    holds: reasons.length === 0,
    fromMinute,
    minutes: gascl.minutes,
    sloMinutesPct: round(pct, 2),
    nodeHoursVsOracle: round(vs, 3),
    target: { sloMinutesPct: NEAR_ORACLE_SLO_MINUTES_PCT, nodeHoursVsOracle: NEAR_ORACLE_NODE_HOURS_RATIO },
    reasons,
  };
}

/** A point of the plane target 3 draws: cost across, % of minutes within the SLO up. */
export interface PlanePoint {
  gpuNodeHours: number;
  sloMinutesPct: number;
}

export interface BeyondBoundsLine {
  holds: boolean;
  gascl: PlanePoint;
  reactive: PlanePoint;
  standing: PlanePoint;
  /** The line's % of minutes at GASCL's node-hours (absent when the line is vertical or a point). */
  lineSloMinutesPct?: number;
  /** GASCL's % of minutes minus the line's there: ≥ 0 holds. */
  marginPct?: number;
  reasons: string[];
}

/**
 * Target 3. The line runs through the two bounds' points, extended both ways;
 * "beyond" is the side of more minutes at the same cost. A vertical line (same
 * node-hours) is passed on its left; two equal points, in the quadrant above
 * and left of them.
 */
export function beyondBoundsLine(gascl: RunPoint, reactive: RunPoint, standing: RunPoint): BeyondBoundsLine {
  const plane = (p: RunPoint): PlanePoint => ({ gpuNodeHours: p.gpuNodeHours, sloMinutesPct: pctOf(p) });
  const g = plane(gascl);
  const [a, b] = [plane(reactive), plane(standing)].sort((x, y) => x.gpuNodeHours - y.gpuNodeHours) as [PlanePoint, PlanePoint];
  const shown = (p: PlanePoint): PlanePoint => ({ gpuNodeHours: round(p.gpuNodeHours, 3), sloMinutesPct: round(p.sloMinutesPct, 2) });
  const out: BeyondBoundsLine = { holds: true, gascl: shown(g), reactive: shown(plane(reactive)), standing: shown(plane(standing)), reasons: [] };
  const dx = b.gpuNodeHours - a.gpuNodeHours;
  if (dx > EPS) {
    const line = a.sloMinutesPct + ((b.sloMinutesPct - a.sloMinutesPct) * (g.gpuNodeHours - a.gpuNodeHours)) / dx;
    out.lineSloMinutesPct = round(line, 2);
    out.marginPct = round(g.sloMinutesPct - line, 2);
    if (g.sloMinutesPct < line - EPS) {
      out.reasons.push(`${g.sloMinutesPct.toFixed(1)}% of minutes within the SLO at ${g.gpuNodeHours.toFixed(2)} GPU node-hours, ${(line - g.sloMinutesPct).toFixed(1)} points below the line between the bounds (${line.toFixed(1)}% there)`);
    }
  } else if (Math.abs(b.sloMinutesPct - a.sloMinutesPct) > EPS) {
    if (g.gpuNodeHours > a.gpuNodeHours + EPS) out.reasons.push(`the bounds cost the same ${a.gpuNodeHours.toFixed(2)} GPU node-hours and GASCL spends more (${g.gpuNodeHours.toFixed(2)})`);
  } else if (g.gpuNodeHours > a.gpuNodeHours + EPS || g.sloMinutesPct < a.sloMinutesPct - EPS) {
    out.reasons.push(`the bounds are one point (${a.sloMinutesPct.toFixed(1)}% at ${a.gpuNodeHours.toFixed(2)} GPU node-hours) and GASCL (${g.sloMinutesPct.toFixed(1)}% at ${g.gpuNodeHours.toFixed(2)}) is not above and left of it`);
  }
  out.holds = out.reasons.length === 0;
  return out;
}

export interface ScenarioTargets {
  neverBehind: NeverBehind;
  nearOracle?: NearOracle;
  beyondBoundsLine?: BeyondBoundsLine;
}

/** The runs of one scenario the targets read (under one placement policy); absent ones did not run. */
export interface TargetRuns {
  gascl: RunPoint;
  natives: RunPoint[];
  reactive?: RunPoint;
  standing?: RunPoint;
  /** Target 2's inputs: GASCL and the oracle counted from the second period on. */
  seasonal?: { fromMinute: number; gascl: RunPoint; oracle: RunPoint };
}

export function scenarioTargets(runs: TargetRuns): ScenarioTargets {
  const bounds = [runs.reactive, runs.standing].filter((b): b is RunPoint => b !== undefined);
  const out: ScenarioTargets = { neverBehind: neverBehind(runs.gascl, runs.natives, bounds) };
  if (runs.seasonal) out.nearOracle = nearOracle(runs.seasonal.gascl, runs.seasonal.oracle, runs.seasonal.fromMinute);
  if (runs.reactive && runs.standing) out.beyondBoundsLine = beyondBoundsLine(runs.gascl, runs.reactive, runs.standing);
  return out;
}
