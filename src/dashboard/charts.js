// Charts as inline SVG, drawn by hand: time on x, one line per series, an
// optional threshold (the SLO line) and marks (autoscaler decisions, cold starts).
import { clock, s } from './format.js';

const M = { left: 56, right: 14, top: 14, bottom: 24 };

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * opts: { label, from, to, series: [{ label, color, points: [[t, v, seconds]], step, dash }],
 *         format(v), threshold: { value, label }, marks: [{ t, label, color }], minMax, width, height }
 * `seconds` is how long the point covers (1 when absent; a minute's rollup, 60). A point with v
 * undefined, or one more than three of its own intervals after the one before, breaks the line.
 */
export function lineChart(opts) {
  const width = opts.width ?? 720;
  const height = opts.height ?? 190;
  const plotW = width - M.left - M.right;
  const plotH = height - M.top - M.bottom;
  const span = Math.max(1, opts.to - opts.from);
  let max = opts.minMax ?? 0;
  for (const series of opts.series) for (const [, v] of series.points) if (v !== undefined && v > max) max = v;
  if (opts.threshold && opts.threshold.value > max) max = opts.threshold.value;
  max = niceMax(max * 1.05);
  const x = (t) => M.left + ((t - opts.from) / span) * plotW;
  const y = (v) => M.top + plotH - (v / max) * plotH;
  const fmt = opts.format ?? ((v) => String(Math.round(v * 10) / 10));

  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': opts.label, 'data-chart': opts.id ?? opts.label });
  const grid = s('g', { class: 'grid' });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    grid.append(s('line', { x1: M.left, x2: width - M.right, y1: y(v), y2: y(v) }));
    grid.append(s('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = opts.from + (span * i) / 4;
    grid.append(s('text', { x: x(t), y: height - 6, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, clock(t)));
  }
  svg.append(grid);

  if (opts.threshold) {
    const ty = y(opts.threshold.value);
    svg.append(s('line', { class: 'threshold', x1: M.left, x2: width - M.right, y1: ty, y2: ty }));
    svg.append(s('text', { class: 'threshold-label', x: width - M.right - 4, y: ty - 4, 'text-anchor': 'end' }, opts.threshold.label));
  }

  // Labels that would overlap the previous one step down a line, cycling over three rows.
  let lastLabelX = -Infinity;
  let row = 0;
  for (const mark of opts.marks ?? []) {
    if (mark.t < opts.from || mark.t > opts.to) continue;
    const g = s('g', { class: 'mark' });
    const mx = x(mark.t);
    g.append(s('line', { x1: mx, x2: mx, y1: M.top, y2: M.top + plotH, stroke: mark.color ?? '#64748b' }));
    if (mark.label) {
      row = mx - lastLabelX < mark.label.length * 6 ? (row + 1) % 3 : 0;
      lastLabelX = mx;
      g.append(s('text', { x: mx + 3, y: M.top + 10 + row * 11, fill: mark.color ?? '#334155' }, mark.label));
    }
    g.append(s('title', {}, mark.title ?? mark.label ?? ''));
    svg.append(g);
  }

  for (const series of opts.series) {
    let d = '';
    let prevT;
    for (const [t, v, seconds] of series.points) {
      if (t < opts.from || t > opts.to) continue;
      if (v === undefined || v === null) {
        prevT = undefined;
        continue;
      }
      const px = x(t).toFixed(1);
      const py = y(v).toFixed(1);
      if (prevT === undefined || t - prevT > 3000 * Math.max(1, seconds ?? 1)) d += `M${px},${py}`;
      else if (series.step) d += `H${px}V${py}`;
      else d += `L${px},${py}`;
      prevT = t;
    }
    if (d) svg.append(s('path', { d, fill: 'none', stroke: series.color, 'stroke-width': series.width ?? 1.8, 'stroke-dasharray': series.dash, 'data-series': series.label }));
  }

  const legend = s('g', { class: 'legend' });
  let lx = M.left + 4;
  for (const series of opts.series) {
    legend.append(s('rect', { x: lx, y: 2, width: 10, height: 3, fill: series.color }));
    const label = s('text', { x: lx + 14, y: 8 }, series.label);
    legend.append(label);
    lx += 22 + series.label.length * 6.2;
  }
  svg.append(legend);
  return svg;
}
