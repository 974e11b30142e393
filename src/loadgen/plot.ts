/**
 * SVG plots of a load run, written by hand (no dependency): latency
 * percentiles, offered vs achieved rate, errors by code, and Ready replicas per
 * service when they were watched — stacked panels over one time axis.
 */
import type { SecondStats } from './recorder.ts';

export interface PlotInput {
  title: string;
  /** A second line under the title (target, schedule). */
  subtitle?: string;
  series: SecondStats[];
  /** Ready replicas per service, `t` in seconds from the start. */
  replicas?: Array<{ t: number; ready: Record<string, number> }>;
}

interface Line {
  name: string;
  color: string;
  /** [x, y]; a null y breaks the line. */
  points: Array<[number, number | null]>;
  dashed?: boolean;
  /** Hold each value until the next point (for counts such as replicas). */
  step?: boolean;
}

interface Bars {
  name: string;
  color: string;
  /** Per x: the height of this part of a stacked bar. */
  values: Array<[number, number]>;
}

interface Panel {
  title: string;
  yLabel: string;
  lines: Line[];
  bars?: Bars[];
  /** Shown in the middle of an empty panel. */
  emptyNote?: string;
  integerTicks?: boolean;
}

const WIDTH = 1000;
const LEFT = 72;
const RIGHT = 190; // room for the legends
const TOP = 92;
const PANEL_HEIGHT = 170;
const PANEL_GAP = 62;
const BOTTOM = 48;
const FONT = 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

/** Renders the whole report as one SVG document. */
export function renderLoadSvg(input: PlotInput): string {
  const s = input.series;
  const mid = (p: SecondStats): number => p.t + 0.5;
  const panels: Panel[] = [
    {
      title: 'Latency of successful requests (from scheduled time)',
      yLabel: 'ms',
      lines: [
        { name: 'p50', color: '#1f77b4', points: s.map((p) => [mid(p), p.p50Ms]) },
        { name: 'p95', color: '#ff7f0e', points: s.map((p) => [mid(p), p.p95Ms]) },
        { name: 'p99', color: '#d62728', points: s.map((p) => [mid(p), p.p99Ms]), dashed: true },
      ],
      emptyNote: 'no successful responses',
    },
    {
      title: 'Request rate',
      yLabel: 'req/s',
      lines: [
        // Offered is drawn last, dashed, so it stays visible where achieved matches it.
        { name: 'achieved (ok)', color: '#2ca02c', points: s.map((p) => [mid(p), p.achievedRps]) },
        { name: 'offered', color: '#555555', points: s.map((p) => [mid(p), p.offered]), dashed: true },
        ...(s.some((p) => p.dropped > 0) ? [{ name: 'dropped', color: '#9467bd', points: s.map((p): [number, number] => [mid(p), p.dropped]) }] : []),
      ],
    },
    errorsPanel(s),
  ];
  if (input.replicas && input.replicas.length > 0) panels.push(replicasPanel(input.replicas));

  const lastT = Math.max(1, s.length, ...(input.replicas ?? []).map((r) => Math.ceil(r.t)));
  const xTicks = niceTicks(0, lastT, 10);
  const xMax = xTicks[xTicks.length - 1]!;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (v: number): number => LEFT + (v / xMax) * plotWidth;
  const height = TOP + panels.length * (PANEL_HEIGHT + PANEL_GAP) - PANEL_GAP + BOTTOM;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="${FONT}" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="26" font-size="17" font-weight="600" fill="#111">${esc(input.title)}</text>`,
  );
  if (input.subtitle) out.push(`<text x="${LEFT}" y="46" fill="#555">${esc(input.subtitle)}</text>`);

  panels.forEach((panel, i) => {
    const top = TOP + i * (PANEL_HEIGHT + PANEL_GAP);
    out.push(renderPanel(panel, top, x, xTicks));
  });
  out.push(`<text x="${LEFT + plotWidth / 2}" y="${height - 12}" text-anchor="middle" fill="#333">time since start (s)</text>`);
  out.push('</svg>\n');
  return out.join('\n');
}

function errorsPanel(s: SecondStats[]): Panel {
  const codes = [...new Set(s.flatMap((p) => Object.keys(p.errorsByCode)))].sort();
  return {
    title: 'Errors by code',
    yLabel: 'errors/s',
    lines: [],
    bars: codes.map((code, i) => ({
      name: code,
      color: code.startsWith('5') ? ['#d62728', '#ff9896', '#8c564b', '#e377c2'][i % 4]! : PALETTE[(i + 4) % PALETTE.length]!,
      values: s.map((p): [number, number] => [p.t, p.errorsByCode[code] ?? 0]),
    })),
    emptyNote: 'no errors',
    integerTicks: true,
  };
}

function replicasPanel(samples: NonNullable<PlotInput['replicas']>): Panel {
  const services = [...new Set(samples.flatMap((r) => Object.keys(r.ready)))].sort();
  return {
    title: 'Ready replicas',
    yLabel: 'replicas',
    lines: services.map((name, i) => ({
      name,
      color: PALETTE[i % PALETTE.length]!,
      step: true,
      points: samples.map((r): [number, number | null] => [r.t, r.ready[name] ?? null]),
    })),
    integerTicks: true,
  };
}

function renderPanel(panel: Panel, top: number, x: (v: number) => number, xTicks: number[]): string {
  const out: string[] = [];
  const bottom = top + PANEL_HEIGHT;
  const left = LEFT;
  const right = WIDTH - RIGHT;

  let yMaxData = 0;
  for (const line of panel.lines) for (const [, v] of line.points) if (v !== null && v > yMaxData) yMaxData = v;
  if (panel.bars) {
    const stacks = new Map<number, number>();
    for (const bar of panel.bars) for (const [t, v] of bar.values) stacks.set(t, (stacks.get(t) ?? 0) + v);
    for (const v of stacks.values()) if (v > yMaxData) yMaxData = v;
  }
  const yTicks = niceTicks(0, yMaxData > 0 ? yMaxData : 1, 5, panel.integerTicks);
  const yMax = yTicks[yTicks.length - 1]!;
  const y = (v: number): number => bottom - (v / yMax) * PANEL_HEIGHT;

  out.push(`<g>`);
  out.push(`<text x="${left}" y="${top - 10}" font-size="13" font-weight="600" fill="#222">${esc(panel.title)}</text>`);
  // Grid and y ticks.
  for (const tick of yTicks) {
    const ty = fmt(y(tick));
    out.push(`<line x1="${left}" x2="${right}" y1="${ty}" y2="${ty}" stroke="${tick === 0 ? '#888' : '#e5e5e5'}" stroke-width="1"/>`);
    out.push(`<text x="${left - 8}" y="${ty}" dy="0.32em" text-anchor="end" fill="#444">${esc(formatTick(tick))}</text>`);
  }
  for (const tick of xTicks) {
    const tx = fmt(x(tick));
    out.push(`<line x1="${tx}" x2="${tx}" y1="${top}" y2="${bottom}" stroke="#f0f0f0" stroke-width="1"/>`);
    out.push(`<line x1="${tx}" x2="${tx}" y1="${bottom}" y2="${bottom + 5}" stroke="#888"/>`);
    out.push(`<text x="${tx}" y="${bottom + 18}" text-anchor="middle" fill="#444">${esc(formatTick(tick))}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${PANEL_HEIGHT}" fill="none" stroke="#888"/>`);
  out.push(
    `<text transform="translate(${left - 52} ${top + PANEL_HEIGHT / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(panel.yLabel)}</text>`,
  );

  // Stacked bars, one per second.
  const barWidth = Math.max(1, x(1) - x(0) - (x(1) - x(0) > 4 ? 1 : 0));
  if (panel.bars && panel.bars.length > 0) {
    const base = new Map<number, number>();
    for (const bar of panel.bars) {
      const rects: string[] = [];
      for (const [t, v] of bar.values) {
        if (v <= 0) continue;
        const below = base.get(t) ?? 0;
        base.set(t, below + v);
        rects.push(`<rect x="${fmt(x(t))}" y="${fmt(y(below + v))}" width="${fmt(barWidth)}" height="${fmt(y(below) - y(below + v))}"/>`);
      }
      out.push(`<g fill="${bar.color}">${rects.join('')}</g>`);
    }
  }

  // Lines.
  for (const line of panel.lines) {
    const d: string[] = [];
    let pen = false;
    let prev: [number, number] | undefined;
    for (const [t, v] of line.points) {
      if (v === null) {
        pen = false;
        prev = undefined;
        continue;
      }
      if (line.step && prev && pen) d.push(`L${fmt(x(t))},${fmt(y(prev[1]))}`);
      d.push(`${pen ? 'L' : 'M'}${fmt(x(t))},${fmt(y(v))}`);
      pen = true;
      prev = [t, v];
    }
    if (line.step && prev) d.push(`L${fmt(Math.min(x(prev[0] + 1), right))},${fmt(y(prev[1]))}`);
    if (d.length === 0) continue;
    const lonely = line.points.filter(([, v]) => v !== null).length === 1;
    out.push(
      `<path d="${d.join('')}" fill="none" stroke="${line.color}" stroke-width="${lonely ? 4 : 1.8}" stroke-linejoin="round" stroke-linecap="round"${line.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
  }

  const hasData = panel.lines.some((l) => l.points.some(([, v]) => v !== null && v > 0)) || (panel.bars ?? []).some((b) => b.values.some(([, v]) => v > 0));
  if (!hasData && panel.emptyNote) {
    out.push(`<text x="${(left + right) / 2}" y="${top + PANEL_HEIGHT / 2}" text-anchor="middle" fill="#888" font-style="italic">${esc(panel.emptyNote)}</text>`);
  }

  // Legend, right of the plot.
  const entries = [...(panel.bars ?? []).map((b) => ({ name: b.name, color: b.color, bar: true, dashed: false })), ...panel.lines.map((l) => ({ name: l.name, color: l.color, bar: false, dashed: l.dashed ?? false }))];
  entries.forEach((entry, i) => {
    const ly = top + 10 + i * 18;
    const lx = right + 16;
    if (entry.bar) out.push(`<rect x="${lx}" y="${ly - 5}" width="18" height="10" fill="${entry.color}"/>`);
    else out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${entry.color}" stroke-width="2.5"${entry.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(`<text x="${lx + 24}" y="${ly}" dy="0.32em" fill="#333">${esc(truncate(entry.name, 22))}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

/** Round tick values (1, 2, 5 × 10^k apart) from 0 or `min` up to at least `max`. */
export function niceTicks(min: number, max: number, target: number, integers = false): number[] {
  const span = Math.max(max - min, Number.EPSILON);
  const raw = span / Math.max(1, target);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  if (integers) step = Math.max(1, Math.ceil(step));
  const first = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let v = first; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks.length < 2) ticks.push(Number((first + step).toPrecision(12)));
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(4));
}

function fmt(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function truncate(text: string, n: number): string {
  return text.length <= n ? text : `${text.slice(0, n - 1)}…`;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
