/**
 * Hand-written SVG plots of a scenario: per-minute p95 latency (log scale, with
 * the SLO line), replicas, and gateway queue depth over time, one line per
 * treatment and the oracle. No dependencies; the output is a standalone file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from './cluster.ts';
import type { ScenarioOutcome } from './evaluate.ts';

const WIDTH = 960;
const PANEL_HEIGHT = 190;
const MARGIN = { left: 64, right: 150, top: 56, bottom: 30 };
const GAP = 46;
const MAX_POINTS = 600;

const COLORS: Record<string, string> = {
  'hpa-cpu': '#d62728',
  'hpa-service': '#ff7f0e',
  'keda-queue': '#9467bd',
  gascl: '#1f77b4',
  oracle: '#2ca02c',
};

function color(policy: string): string {
  return COLORS[policy] ?? '#555555';
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

interface Panel {
  title: string;
  top: number;
  yLabel: (v: number) => string;
  yTicks: number[];
  y: (v: number) => number;
}

/** Max of each bin of a per-second series, as (minute, value) points. */
function downsample(series: ArrayLike<number>, seconds: number): Array<[number, number]> {
  const bin = Math.max(1, Math.ceil(seconds / MAX_POINTS));
  const out: Array<[number, number]> = [];
  for (let s = 0; s <= seconds; s += bin) {
    let max = 0;
    for (let k = s; k < Math.min(seconds + 1, s + bin); k++) max = Math.max(max, series[k] ?? 0);
    out.push([s / 60, max]);
  }
  return out;
}

function niceMax(v: number): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function renderScenarioSvg(outcome: ScenarioOutcome): string {
  const sc = outcome.scenario;
  const runs: RunResult[] = [...outcome.runs, ...(outcome.oracle ? [outcome.oracle] : [])];
  const seconds = Math.round(sc.durationMs / 1000);
  const minutes = sc.durationMs / 60_000;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const x = (minute: number): number => MARGIN.left + (minute / minutes) * plotW;
  const height = MARGIN.top + 3 * PANEL_HEIGHT + 2 * GAP + MARGIN.bottom;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="${MARGIN.left}" y="22" font-size="14" font-weight="bold">${escapeXml(sc.description || sc.name)}</text>`);

  // Latency: log scale from 10 ms to the gateway timeout.
  const lo = Math.log10(10);
  const hi = Math.log10(Math.max(sc.gateway.timeoutMs, sc.slo.latencyP95Ms * 10));
  const latencyPanel: Panel = {
    title: 'p95 latency per minute (ms, log; failures count as slowest)',
    top: MARGIN.top,
    yTicks: [10, 100, 1000, 10_000].filter((v) => Math.log10(v) <= hi),
    yLabel: (v) => (v >= 1000 ? `${v / 1000}s` : `${v}`),
    y: (v) => {
      const l = Math.min(hi, Math.max(lo, Math.log10(Math.max(v, 1))));
      return MARGIN.top + PANEL_HEIGHT - ((l - lo) / (hi - lo)) * PANEL_HEIGHT;
    },
  };
  const maxReplicas = niceMax(Math.max(1, ...runs.map((r) => r.peakReplicas)));
  const replicasTop = MARGIN.top + PANEL_HEIGHT + GAP;
  const replicaPanel: Panel = {
    title: 'ready replicas',
    top: replicasTop,
    yTicks: [0, maxReplicas / 2, maxReplicas],
    yLabel: (v) => `${v}`,
    y: (v) => replicasTop + PANEL_HEIGHT - (v / maxReplicas) * PANEL_HEIGHT,
  };
  const maxQueue = niceMax(Math.max(1, ...runs.map((r) => r.maxQueueDepth)));
  const queueTop = replicasTop + PANEL_HEIGHT + GAP;
  const queuePanel: Panel = {
    title: 'gateway queue depth',
    top: queueTop,
    yTicks: [0, maxQueue / 2, maxQueue],
    yLabel: (v) => `${v}`,
    y: (v) => queueTop + PANEL_HEIGHT - (v / maxQueue) * PANEL_HEIGHT,
  };

  const xTickStep = niceMax(minutes / 8);
  for (const panel of [latencyPanel, replicaPanel, queuePanel]) {
    parts.push(`<text x="${MARGIN.left}" y="${panel.top - 8}" font-weight="bold">${escapeXml(panel.title)}</text>`);
    parts.push(`<rect x="${MARGIN.left}" y="${panel.top}" width="${plotW}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`);
    for (const t of panel.yTicks) {
      const y = panel.y(t).toFixed(1);
      parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" stroke="#eee"/>`);
      parts.push(`<text x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${panel.yLabel(t)}</text>`);
    }
    for (let m = 0; m <= minutes + 1e-9; m += xTickStep) {
      const xx = x(m).toFixed(1);
      parts.push(`<line x1="${xx}" x2="${xx}" y1="${panel.top + PANEL_HEIGHT}" y2="${panel.top + PANEL_HEIGHT + 4}" stroke="#999"/>`);
      parts.push(`<text x="${xx}" y="${panel.top + PANEL_HEIGHT + 16}" text-anchor="middle">${m}m</text>`);
    }
  }
  const sloY = latencyPanel.y(sc.slo.latencyP95Ms).toFixed(1);
  parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${sloY}" y2="${sloY}" stroke="#000" stroke-dasharray="6 4"/>`);
  parts.push(`<text x="${MARGIN.left + plotW + 4}" y="${sloY}" dominant-baseline="middle">SLO ${sc.slo.latencyP95Ms} ms</text>`);

  // The oracle dashed; runs under a later placement policy than the scenario's first dotted.
  const dashOf = (run: RunResult): string => (run.policy === 'oracle' ? ' stroke-dasharray="5 3"' : run.placement !== sc.placements[0] ? ' stroke-dasharray="2 2"' : '');
  const labelOf = (run: RunResult): string => (sc.placements.length > 1 && run.policy !== 'oracle' ? `${run.policy} (${run.placement})` : run.policy);
  const polyline = (points: Array<[number, number]>, panel: Panel, run: RunResult): string => {
    const d = points.map(([m, v]) => `${x(m).toFixed(1)},${panel.y(v).toFixed(1)}`).join(' ');
    return `<polyline fill="none" stroke="${color(run.policy)}" stroke-width="1.4"${dashOf(run)} points="${d}"/>`;
  };
  for (const run of runs) {
    const latency: Array<[number, number]> = [];
    run.minutes.forEach((m, i) => {
      if (!Number.isNaN(m.p95Ms)) latency.push([i + 0.5, Number.isFinite(m.p95Ms) ? m.p95Ms : 1e12]);
    });
    parts.push(polyline(latency, latencyPanel, run));
    parts.push(polyline(downsample(run.series.readyReplicas, seconds), replicaPanel, run));
    parts.push(polyline(downsample(run.series.queueDepth, seconds), queuePanel, run));
  }

  runs.forEach((run, i) => {
    const y = MARGIN.top + 10 + i * 18;
    const lx = MARGIN.left + plotW + 14;
    parts.push(`<line x1="${lx}" x2="${lx + 22}" y1="${y}" y2="${y}" stroke="${color(run.policy)}" stroke-width="2"${dashOf(run)}/>`);
    parts.push(`<text x="${lx + 28}" y="${y}" dominant-baseline="middle">${escapeXml(labelOf(run))}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Writes `<dir>/<scenario>.svg` for each outcome; returns the paths. */
export function writePlots(outcomes: ScenarioOutcome[], dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return outcomes.map((o) => {
    const path = join(dir, `${o.scenario.name}.svg`);
    writeFileSync(path, renderScenarioSvg(o));
    return path;
  });
}
