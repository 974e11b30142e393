/**
 * The evaluation report: per scenario, one row per treatment plus the oracle,
 * as JSON for machines (`karb simulate --json`) and a markdown table for people.
 * Numbers are rounded so the same seed always prints the same bytes.
 *
 * Definitions:
 * - p50Ms / p95Ms / p99Ms: over successful requests of the whole run.
 * - sloMinutesPct: % of minutes whose p95 is within the SLO, where rejected and
 *   timed-out requests rank slower than any latency; minutes without traffic count as within.
 * - errorRate: requests that timed out in the gateway queue; rejectRate: turned away at a full queue.
 * - gpuUtilization: busy slot time over the slot time of ready replicas.
 * - gpuNodeHours: GPU nodes from request (provisioning is billed) to removal.
 * - scaleEvents: changes of the replica target; oscillations: reversals within the scenario's oscillation window.
 *
 * Placement (a scenario with several services, or a placement policy other than in-order alone),
 * one row per run:
 * - onPremUtilizationPct: replica slots occupied on on-prem nodes (by starting, ready and
 *   draining replicas) over the on-prem nodes' slots, time-weighted over the run.
 * - cloudNodeHours: node-hours of the elastic pools, from request (provisioning is billed) to removal.
 * - costUsd: node-hours × each pool's price per hour, on-prem included (paid whether used or not).
 * - sloMinutes: service-minutes whose p95 is within the SLO (failures ranked slowest, minutes
 *   without traffic within), summed over the services, out of serviceMinutes.
 * - moves: elastic replicas moved on-prem; pendingReplicaMinutes: replica-minutes wanted but left
 *   without a pool by placement, by reason (on-prem-first only).
 *
 * targets: GASCL's three targets (targets.ts), where gascl ran with something to compare it with,
 * under the scenario's first placement policy: neverBehind (against A–C and the bounds),
 * nearOracle (scenarios that declare a seasonal period, from the second period on) and
 * beyondBoundsLine (where both bounds ran). Minutes are service-minutes for several services.
 */
import type { PendingReason } from '../placement/types.ts';
import type { RunResult } from './cluster.ts';
import type { InitialReplicas, ScenarioOutcome } from './evaluate.ts';
import type { PlacementPolicyName, Scenario } from './scenario-schema.ts';
import { NEAR_ORACLE_NODE_HOURS_RATIO, NEAR_ORACLE_SLO_MINUTES_PCT, NODE_HOURS_SLACK, pointOf, scenarioTargets, type RunPoint, type ScenarioTargets } from './targets.ts';

export interface TreatmentSummary {
  policy: string;
  /** Where the scenario shows placement (see the definitions above). */
  placement?: PlacementPolicyName;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  sloMinutesPct: number;
  minutesOverSlo: number;
  minutes: number;
  requests: number;
  errorRate: number;
  rejectRate: number;
  maxQueueDepth: number;
  gpuUtilization: number;
  coldStarts: number;
  gpuNodeHours: number;
  /** gpuNodeHours over the oracle's (absent without an oracle). */
  nodeHoursVsOracle?: number;
  costUsd: number;
  scaleEvents: number;
  oscillations: number;
  peakReplicas: number;
  peakNodes: number;
}

export interface ServicePlacementSummary {
  name: string;
  team: string;
  priority: number;
  sloMinutes: number;
  minutes: number;
  peakReplicas: number;
  moves: number;
  pendingReplicaMinutes: Record<PendingReason, number>;
}

export interface PlacementSummary {
  policy: string;
  placement: PlacementPolicyName;
  onPremUtilizationPct: number;
  cloudNodeHours: number;
  costUsd: number;
  sloMinutes: number;
  serviceMinutes: number;
  sloMinutesPct: number;
  moves: number;
  pendingReplicaMinutes: Record<PendingReason, number>;
  services: ServicePlacementSummary[];
}

export interface ScenarioReport {
  name: string;
  description: string;
  seed: number;
  sloP95Ms: number;
  durationMinutes: number;
  requests: number;
  /** One number per service when the scenario lists several. */
  initialReplicas: InitialReplicas;
  treatments: TreatmentSummary[];
  /** On-prem utilization, cloud node-hours, cost and SLO minutes per run, where the scenario shows placement. */
  placement?: PlacementSummary[];
  /**
   * The oracle's plan without foresight (each minute's need provisioned the moment
   * the minute starts): what reacting perfectly, with no spare capacity, achieves
   * given the scenario's provisioning and cold-start delays.
   */
  reactiveBound?: { sloMinutesPct: number; minutesOverSlo: number; gpuNodeHours: number };
  /**
   * The oracle's peak held ready from start to end: what meeting the SLO costs
   * a policy that cannot see ahead, since a step or burst may come at any time.
   */
  standingBound?: { replicas: number; sloMinutesPct: number; minutesOverSlo: number; gpuNodeHours: number; nodeHoursVsOracle: number };
  /** GASCL's targets (targets.ts), where gascl ran with something to compare it with. */
  targets?: ScenarioTargets;
}

export interface SimulationReport {
  scenarios: ScenarioReport[];
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function finiteOrNull(value: number | undefined, digits: number): number | null {
  return value === undefined || !Number.isFinite(value) ? null : round(value, digits);
}

export function summarizeRun(run: RunResult, sloMs: number): TreatmentSummary {
  let over = 0;
  for (const m of run.minutes) if (m.p95Ms > sloMs) over++;
  const minutes = run.minutes.length;
  const requests = run.arrivals;
  return {
    policy: run.policy,
    p50Ms: finiteOrNull(run.latency.percentile(50, false), 1),
    p95Ms: finiteOrNull(run.latency.percentile(95, false), 1),
    p99Ms: finiteOrNull(run.latency.percentile(99, false), 1),
    sloMinutesPct: minutes === 0 ? 100 : round((100 * (minutes - over)) / minutes, 2),
    minutesOverSlo: over,
    minutes,
    requests,
    errorRate: requests === 0 ? 0 : round(run.timedOut / requests, 6),
    rejectRate: requests === 0 ? 0 : round(run.rejected / requests, 6),
    maxQueueDepth: run.maxQueueDepth,
    gpuUtilization: round(run.utilization, 4),
    coldStarts: run.coldStarts,
    gpuNodeHours: round(run.gpuNodeHours, 3),
    costUsd: round(run.costUsd, 2),
    scaleEvents: run.scaleEvents,
    oscillations: run.oscillations,
    peakReplicas: run.peakReplicas,
    peakNodes: run.peakNodes,
  };
}

/** Whether a scenario's report shows placement: several services, or a placement policy other than in-order alone. */
export function showsPlacement(sc: Scenario): boolean {
  return sc.services !== undefined || sc.placements.some((p) => p !== 'in-order');
}

function minutesWithin(minutes: RunResult['minutes'], sloMs: number): number {
  let within = 0;
  // NaN (no traffic) is not over the SLO.
  for (const m of minutes) if (!(m.p95Ms > sloMs)) within++;
  return within;
}

function pendingMinutes(seconds: Record<PendingReason, number>): Record<PendingReason, number> {
  return { quota: round(seconds.quota / 60, 1), 'on-prem-full': round(seconds['on-prem-full'] / 60, 1), 'no-capacity': round(seconds['no-capacity'] / 60, 1) };
}

export function summarizePlacement(run: RunResult, sloMs: number): PlacementSummary {
  const services = run.services.map((s) => ({
    name: s.name,
    team: s.team,
    priority: s.priority,
    sloMinutes: minutesWithin(s.minutes, sloMs),
    minutes: s.minutes.length,
    peakReplicas: s.peakReplicas,
    moves: s.moves,
    pendingReplicaMinutes: pendingMinutes(s.pendingReplicaSeconds),
  }));
  const sloMinutes = services.reduce((n, s) => n + s.sloMinutes, 0);
  const serviceMinutes = services.reduce((n, s) => n + s.minutes, 0);
  const pending = { quota: 0, 'on-prem-full': 0, 'no-capacity': 0 };
  for (const s of run.services) for (const k of Object.keys(pending) as PendingReason[]) pending[k] += s.pendingReplicaSeconds[k];
  return {
    policy: run.policy,
    placement: run.placement,
    onPremUtilizationPct: round(100 * run.onPremUtilization, 1),
    cloudNodeHours: round(run.nodeHoursByClass.elastic, 2),
    costUsd: round(run.costUsd, 2),
    sloMinutes,
    serviceMinutes,
    sloMinutesPct: serviceMinutes === 0 ? 100 : round((100 * sloMinutes) / serviceMinutes, 2),
    moves: services.reduce((n, s) => n + s.moves, 0),
    pendingReplicaMinutes: pendingMinutes(pending),
    services,
  };
}

export function scenarioReport(outcome: ScenarioOutcome): ScenarioReport {
  const sc = outcome.scenario;
  const slo = sc.slo.latencyP95Ms;
  const placed = showsPlacement(sc);
  const rows = outcome.runs.map((r) => (placed ? { ...summarizeRun(r, slo), placement: r.placement } : summarizeRun(r, slo)));
  const oracle = outcome.oracle ? summarizeRun(outcome.oracle, slo) : undefined;
  if (oracle) {
    rows.push(oracle);
    for (const row of rows) row.nodeHoursVsOracle = oracle.gpuNodeHours > 0 ? round(row.gpuNodeHours / oracle.gpuNodeHours, 3) : 0;
  }
  const report: ScenarioReport = {
    name: sc.name,
    description: sc.description,
    seed: sc.seed,
    sloP95Ms: slo,
    durationMinutes: round(sc.durationMs / 60_000, 2),
    requests: outcome.runs[0]?.arrivals ?? outcome.oracle?.arrivals ?? 0,
    initialReplicas: outcome.initialReplicas,
    treatments: rows,
  };
  if (placed) report.placement = outcome.runs.map((r) => summarizePlacement(r, slo));
  if (outcome.reactiveBound) {
    const b = summarizeRun(outcome.reactiveBound, slo);
    report.reactiveBound = { sloMinutesPct: b.sloMinutesPct, minutesOverSlo: b.minutesOverSlo, gpuNodeHours: b.gpuNodeHours };
  }
  if (outcome.standingBound && oracle) {
    const b = summarizeRun(outcome.standingBound, slo);
    report.standingBound = {
      replicas: b.peakReplicas,
      sloMinutesPct: b.sloMinutesPct,
      minutesOverSlo: b.minutesOverSlo,
      gpuNodeHours: b.gpuNodeHours,
      nodeHoursVsOracle: oracle.gpuNodeHours > 0 ? round(b.gpuNodeHours / oracle.gpuNodeHours, 3) : 0,
    };
  }
  const targets = targetsOf(outcome);
  if (targets) report.targets = targets;
  return report;
}

const NATIVE_POLICIES = ['hpa-cpu', 'hpa-service', 'keda-queue'];

/** A run as the targets see it: minutes within the SLO (service-minutes, for several services) and GPU node-hours. */
function runPoint(name: string, run: RunResult, sloMs: number): RunPoint {
  if (run.services.length <= 1) return pointOf(name, run.minutes, sloMs);
  const within = run.services.reduce((n, s) => n + minutesWithin(s.minutes, sloMs), 0);
  return { name, sloMinutes: within, minutes: run.services.reduce((n, s) => n + s.minutes.length, 0), gpuNodeHours: run.gpuNodeHours };
}

/** GASCL's targets under the scenario's first placement policy; undefined without gascl or anything to compare it with. */
function targetsOf(outcome: ScenarioOutcome): ScenarioTargets | undefined {
  const sc = outcome.scenario;
  const slo = sc.slo.latencyP95Ms;
  const first = sc.placements[0];
  const runs = outcome.runs.filter((r) => r.placement === first);
  const gascl = runs.find((r) => r.policy === 'gascl');
  if (!gascl) return undefined;
  const natives = NATIVE_POLICIES.flatMap((p) => runs.filter((r) => r.policy === p).map((r) => runPoint(p, r, slo)));
  const period = sc.scaling.seasonalPeriodMs;
  const fromMinute = period === undefined ? undefined : Math.ceil(period / 60_000);
  const seasonal =
    fromMinute !== undefined && outcome.oracle && fromMinute < gascl.minutes.length
      ? { fromMinute, gascl: pointOf('gascl', gascl.minutes, slo, fromMinute), oracle: pointOf('oracle', outcome.oracle.minutes, slo, fromMinute) }
      : undefined;
  const reactive = outcome.reactiveBound ? runPoint('reactive bound', outcome.reactiveBound, slo) : undefined;
  const standing = outcome.standingBound ? runPoint('standing bound', outcome.standingBound, slo) : undefined;
  if (natives.length === 0 && !reactive && !standing && !seasonal) return undefined;
  return scenarioTargets({
    gascl: runPoint('gascl', gascl, slo),
    natives,
    ...(reactive ? { reactive } : {}),
    ...(standing ? { standing } : {}),
    ...(seasonal ? { seasonal } : {}),
  });
}

export function simulationReport(outcomes: ScenarioOutcome[]): SimulationReport {
  return { scenarios: outcomes.map(scenarioReport) };
}

const LETTERS: Record<string, string> = { 'hpa-cpu': 'A', 'hpa-service': 'B', 'keda-queue': 'C', gascl: 'D' };

function fmt(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined) return '-';
  return value.toFixed(digits);
}

function pct(rate: number): string {
  if (rate === 0) return '0';
  const p = rate * 100;
  return p < 0.01 ? '<0.01' : p.toFixed(2);
}

/** The columns of a scenario's table, for markdown and HTML alike. */
export const REPORT_COLUMNS = ['policy', 'p50 ms', 'p95 ms', 'minutes in SLO %', 'errors %', 'rejects %', 'max queue', 'GPU util %', 'cold starts', 'GPU node-h', '× oracle', 'cost $', 'scale events', 'oscillations', 'peak replicas'];

/** One treatment's row, formatted, in the order of REPORT_COLUMNS. */
export function treatmentCells(t: TreatmentSummary): string[] {
  const policy = LETTERS[t.policy] ? `${LETTERS[t.policy]} ${t.policy}` : t.policy;
  const name = t.placement === undefined ? policy : `${policy} (${t.placement})`;
  return [
    name,
    fmt(t.p50Ms),
    fmt(t.p95Ms),
    `${t.sloMinutesPct.toFixed(1)} (${t.minutesOverSlo} over)`,
    pct(t.errorRate),
    pct(t.rejectRate),
    String(t.maxQueueDepth),
    (t.gpuUtilization * 100).toFixed(1),
    String(t.coldStarts),
    t.gpuNodeHours.toFixed(2),
    t.nodeHoursVsOracle === undefined ? '-' : t.nodeHoursVsOracle.toFixed(2),
    t.costUsd.toFixed(0),
    String(t.scaleEvents),
    String(t.oscillations),
    String(t.peakReplicas),
  ];
}

/** The sentences under a scenario's table: its bounds and one line per GASCL target with its verdict. */
export function scenarioNotes(s: ScenarioReport): string[] {
  const out: string[] = [];
  if (s.reactiveBound) {
    const b = s.reactiveBound;
    out.push(`Reacting perfectly (the oracle's plan without foresight: each minute's need provisioned the moment the minute starts) keeps ${b.sloMinutesPct.toFixed(1)}% of minutes within the SLO (${b.minutesOverSlo} over) at ${b.gpuNodeHours.toFixed(2)} GPU node-hours; beyond that, the SLO takes foresight or spare capacity paid in node-hours.`);
  }
  if (s.standingBound) {
    const b = s.standingBound;
    out.push(`Standing capacity (the oracle's peak, ${b.replicas} replicas, ready from start to end: the way to keep the SLO when a step or burst may come at any time) keeps ${b.sloMinutesPct.toFixed(1)}% of minutes within the SLO (${b.minutesOverSlo} over) at ${b.gpuNodeHours.toFixed(2)} GPU node-hours, ${b.nodeHoursVsOracle.toFixed(2)}× the oracle's.`);
  }
  if (s.targets) out.push(...targetLines(s.targets));
  return out;
}

function verdict(holds: boolean, reasons: string[]): string {
  return holds ? 'holds' : `does not hold: ${reasons.join('; ')}`;
}

/** One sentence per target: what it asks, GASCL's numbers, and whether it holds. */
export function targetLines(t: ScenarioTargets): string[] {
  const out: string[] = [];
  const n = t.neverBehind;
  const against = n.compared.length > 0 ? n.compared.join(', ') : 'nothing';
  out.push(
    `GASCL target 1, never behind (at least the minutes within the SLO of the best of A–C; at most ${NODE_HOURS_SLACK}× the GPU node-hours of the cheapest of A–C that keeps as many; no treatment or bound keeping more minutes for fewer node-hours; compared with ${against}): ${n.sloMinutes} of ${n.minutes} minutes at ${n.gpuNodeHours.toFixed(2)} GPU node-hours — ${verdict(n.holds, n.reasons)}.`,
  );
  if (t.nearOracle) {
    const o = t.nearOracle;
    out.push(
      `GASCL target 2, near the oracle with a learnable pattern (from the second period on, minute ${o.fromMinute}: ≥ ${NEAR_ORACLE_SLO_MINUTES_PCT}% of minutes within the SLO at ≤ ${NEAR_ORACLE_NODE_HOURS_RATIO}× the oracle's GPU node-hours): ${o.sloMinutesPct.toFixed(1)}% of ${o.minutes} minutes, ${o.nodeHoursVsOracle.toFixed(2)}× — ${verdict(o.holds, o.reasons)}.`,
    );
  }
  if (t.beyondBoundsLine) {
    const b = t.beyondBoundsLine;
    const at = (p: { sloMinutesPct: number; gpuNodeHours: number }) => `${p.sloMinutesPct.toFixed(1)}% at ${p.gpuNodeHours.toFixed(2)}`;
    const margin = b.marginPct === undefined ? '' : `, ${Math.abs(b.marginPct).toFixed(1)} points ${b.marginPct >= 0 ? 'above' : 'below'} the line (${b.lineSloMinutesPct!.toFixed(1)}% there)`;
    out.push(
      `GASCL target 3, on or beyond the line between the bounds (% of minutes within the SLO against GPU node-hours; reactive ${at(b.reactive)}, standing ${at(b.standing)}): GASCL ${at(b.gascl)}${margin} — ${b.marginPct === undefined ? verdict(b.holds, b.reasons) : b.holds ? 'holds' : 'does not hold'}.`,
    );
  }
  return out;
}

/** The columns of a scenario's placement table. */
export const PLACEMENT_COLUMNS = ['policy', 'placement', 'on-prem util %', 'cloud node-h', 'cost $', 'SLO minutes', 'moves', 'waiting replica-min (quota / on-prem full / no room)'];

export function placementCells(p: PlacementSummary): string[] {
  const policy = LETTERS[p.policy] ? `${LETTERS[p.policy]} ${p.policy}` : p.policy;
  const w = p.pendingReplicaMinutes;
  return [
    policy,
    p.placement,
    p.onPremUtilizationPct.toFixed(1),
    p.cloudNodeHours.toFixed(2),
    p.costUsd.toFixed(0),
    `${p.sloMinutes} of ${p.serviceMinutes} (${p.sloMinutesPct.toFixed(1)}%)`,
    String(p.moves),
    p.placement === 'in-order' ? '-' : `${w.quota.toFixed(0)} / ${w['on-prem-full'].toFixed(0)} / ${w['no-capacity'].toFixed(0)}`,
  ];
}

/** One line per service of a run: its team, priority and SLO minutes. */
export function placementServiceLine(p: PlacementSummary): string {
  const parts = p.services.map((s) => `${s.name} (team ${s.team}, priority ${s.priority}) ${s.sloMinutes}/${s.minutes}`);
  return `${p.policy}, ${p.placement}: ${parts.join('; ')}`;
}

/** "3", or "chat 4, search 2" for several services. */
export function formatInitialReplicas(s: Pick<ScenarioReport, 'initialReplicas'>): string {
  return typeof s.initialReplicas === 'number' ? String(s.initialReplicas) : s.initialReplicas.join(' + ');
}

/** Markdown: one table per scenario, then the bounds and one line per GASCL target (and the placement table where the scenario shows placement). */
export function renderMarkdown(report: SimulationReport): string {
  const out: string[] = [];
  for (const s of report.scenarios) {
    out.push(`### ${s.name} — SLO p95 ${s.sloP95Ms} ms, ${s.durationMinutes} min, ${s.requests.toLocaleString('en-US')} requests (seed ${s.seed})`);
    if (s.description) out.push('', s.description);
    out.push('');
    out.push(`| ${REPORT_COLUMNS.join(' | ')} |`);
    out.push(`|${REPORT_COLUMNS.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
    for (const t of s.treatments) out.push(`| ${treatmentCells(t).join(' | ')} |`);
    for (const note of scenarioNotes(s)) out.push('', note);
    if (s.placement) {
      out.push('', 'Placement: on-prem utilization, cloud node-hours, cost and SLO minutes (service-minutes within the SLO) per run, same seed:', '');
      out.push(`| ${PLACEMENT_COLUMNS.join(' | ')} |`);
      out.push(`|${PLACEMENT_COLUMNS.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`);
      for (const p of s.placement) out.push(`| ${placementCells(p).join(' | ')} |`);
      out.push('', 'SLO minutes per service:', '');
      for (const p of s.placement) out.push(`- ${placementServiceLine(p)}`);
    }
    out.push('');
  }
  return out.join('\n');
}
