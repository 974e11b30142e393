/**
 * `karb simulate --html FILE`: the evaluation report as one self-contained
 * HTML page for a person — per scenario the plan's table, its bounds and the
 * GASCL verdict, and the plots (plots.ts) inline as SVG. Inline CSS, no
 * script, nothing fetched: it opens from disk, in a mail or behind a strict
 * Content-Security-Policy alike.
 */
import { renderScenarioSvg } from './plots.ts';
import { PLACEMENT_COLUMNS, REPORT_COLUMNS, formatInitialReplicas, placementCells, placementServiceLine, scenarioNotes, treatmentCells, type SimulationReport } from './report.ts';
import type { ScenarioOutcome } from './evaluate.ts';

const CSS = `
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #0f172a; margin: 24px auto; max-width: 1200px; padding: 0 20px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 36px; border-top: 1px solid #e2e8f0; padding-top: 18px; }
div.table { overflow-x: auto; margin: 10px 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: 4px 7px; border-bottom: 1px solid #e2e8f0; text-align: right; white-space: nowrap; }
th { background: #f1f5f9; font-size: 12px; color: #475569; } th:first-child, td:first-child { text-align: left; }
tr.gascl td { font-weight: 600; } tr.oracle td { color: #475569; font-style: italic; }
.meta, .note { color: #475569; } .met { color: #047857; font-weight: 600; } .missed { color: #b91c1c; font-weight: 600; }
figure { margin: 16px 0; overflow-x: auto; } svg { max-width: 100%; height: auto; }
`;

function escapeHtml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The page: `outcomes` in the same order as `report.scenarios` (both from one run of the plan). */
export function renderHtmlReport(report: SimulationReport, outcomes: readonly ScenarioOutcome[], generatedAt: Date): string {
  const plots = new Map(outcomes.map((o) => [o.scenario.name, o]));
  const sections = report.scenarios.map((s) => {
    const rows = s.treatments
      .map((t) => `<tr class="${escapeHtml(t.policy)}">${treatmentCells(t).map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
      .join('\n');
    const notes = scenarioNotes(s)
      .map((n) => `<p class="note">${escapeHtml(n).replace(/— (met|missed)\.$/, (_, v: string) => `— <span class="${v}">${v}</span>.`)}</p>`)
      .join('\n');
    const placement = s.placement
      ? `<p>Placement: on-prem utilization, cloud node-hours, cost and SLO minutes per run, same seed.</p>
<div class="table"><table>
<thead><tr>${PLACEMENT_COLUMNS.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>
<tbody>
${s.placement.map((p) => `<tr class="${escapeHtml(p.policy)}">${placementCells(p).map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n')}
</tbody>
</table></div>
<ul class="note">${s.placement.map((p) => `<li>${escapeHtml(placementServiceLine(p))}</li>`).join('')}</ul>`
      : '';
    const outcome = plots.get(s.name);
    const svg = outcome === undefined ? '' : `<figure>${renderScenarioSvg(outcome)}</figure>`;
    return `<section id="${escapeHtml(s.name)}">
<h2>${escapeHtml(s.name)}</h2>
<p class="meta">SLO p95 ${s.sloP95Ms} ms · ${s.durationMinutes} min · ${s.requests.toLocaleString('en-US')} requests · seed ${s.seed} · ${formatInitialReplicas(s)} replicas at start</p>
${s.description ? `<p>${escapeHtml(s.description)}</p>` : ''}
<div class="table"><table>
<thead><tr>${REPORT_COLUMNS.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>
<tbody>
${rows}
</tbody>
</table></div>
${notes}
${placement}
${svg}
</section>`;
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>karb simulate — KARB evaluation plan</title>
<style>${CSS}</style>
</head>
<body>
<h1>karb simulate — the KARB evaluation plan</h1>
<p class="meta">Treatments A–D (hpa-cpu, hpa-service, keda-queue, gascl) and the clairvoyant oracle through the same seeded traffic on a simulated cluster. Generated ${escapeHtml(generatedAt.toISOString())}.</p>
<p class="meta">Scenarios: ${report.scenarios.map((s) => `<a href="#${escapeHtml(s.name)}">${escapeHtml(s.name)}</a>`).join(' · ')}</p>
${sections.join('\n')}
</body>
</html>
`;
}
