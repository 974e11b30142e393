/**
 * Exemplars join a histogram bucket to a trace that fell in it: `…_bucket{le="0.01"} 7 # {trace_id="…"} 0.0042 1765100000.123`.
 * Only the OpenMetrics exposition carries them, so a scraper that asks for it
 * (`Accept: application/openmetrics-text`) gets the Prometheus text rewritten to OpenMetrics;
 * every other scraper keeps the plain text, byte for byte. Prometheus asks for OpenMetrics on
 * every scrape by default (whether or not it stores exemplars), so this rewrite is what every
 * Prometheus scraping `karb gateway --metrics-port` reads: test/prometheus/prometheus.e2e.test.ts
 * has a real one ingest it. Pure.
 */

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** One observation a bucket keeps as its example: the trace it belongs to, its value, when (epoch seconds). */
export interface Exemplar {
  readonly traceId: string;
  readonly value: number;
  readonly timestamp: number;
}

/** Whether an `Accept` header asks for OpenMetrics (any version, any q above 0). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (type !== 'application/openmetrics-text') continue;
    const q = params.find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

/** The suffix an OpenMetrics sample line carries for `exemplar`. */
export function exemplarSuffix(exemplar: Exemplar): string {
  return ` # {trace_id="${exemplar.traceId}"} ${exemplar.value} ${exemplar.timestamp}`;
}

/**
 * Prometheus text (0.0.4) → OpenMetrics 1.0: a counter's family is named without `_total` (its
 * samples keep it; a counter whose name lacks it is declared `unknown`), empty lines go, and
 * `# EOF` closes the text. Sample lines, exemplars included, pass unchanged.
 */
export function toOpenMetrics(text: string): string {
  const lines = text.split('\n').filter((line) => line !== '');
  const counters = new Set<string>();
  for (const line of lines) {
    const m = /^# TYPE (\S+) counter$/.exec(line);
    if (m) counters.add(m[1]!);
  }
  const out: string[] = [];
  for (const line of lines) {
    const m = /^# (HELP|TYPE) (\S+)( .*)?$/.exec(line);
    if (m === null || !counters.has(m[2]!)) {
      out.push(line);
      continue;
    }
    const name = m[2]!;
    const family = name.endsWith('_total') ? name.slice(0, -'_total'.length) : name;
    if (m[1] === 'HELP') out.push(`# HELP ${family}${m[3] ?? ''}`);
    else out.push(`# TYPE ${family} ${family === name ? 'unknown' : 'counter'}`);
  }
  out.push('# EOF');
  return `${out.join('\n')}\n`;
}
