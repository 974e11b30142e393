/**
 * What the dashboard's history (src/observability/history.ts) holds in memory per service: an
 * hour of one-second samples, built as the sampler builds them (a RequestTally per second, its
 * answered latencies spread over about 14 histogram bins), recorded for `--services` services
 * with `--revisions` revisions each, then the heap (and array buffers) measured after a full GC
 * against the same process before recording. Also times one SLO status per service on the full
 * history, which is what each sample of the dashboard's stream and each GET of its services pays.
 *
 *   node --expose-gc bench/history-memory.ts [--services 20] [--revisions 1] [--seconds 3600]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { History, quantiles, type RevisionPoint, type ServicePoint } from '../src/observability/history.ts';
import { sparse } from '../src/observability/latency-histogram.ts';
import { RequestTally } from '../src/observability/request-tally.ts';
import { sloStatus } from '../src/observability/slo-status.ts';

const { values } = parseArgs({ options: { services: { type: 'string', default: '20' }, revisions: { type: 'string', default: '1' }, seconds: { type: 'string', default: '3600' } } });
const services = Number(values.services);
const revisions = Number(values.revisions);
const seconds = Number(values.seconds);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(2);
}

function used(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** One second of one service, as the sampler makes it: 50 requests over ~14 bins (12–40 ms), one 503. */
function point(t: number, tally: RequestTally): ServicePoint {
  for (let r = 0; r < revisions; r++) {
    for (let i = 0; i < 50; i++) tally.requestAnswered('svc', `svc-0000${r + 1}`, i === 0 ? 503 : 200, 12 + ((i + t / 1000) % 50) * 0.56);
  }
  const out: Record<string, RevisionPoint> = {};
  for (const x of tally.take()) {
    const answered = x.answered.reduce((a, b) => a + b, 0);
    out[x.revision] = { requests: x.requests, rps: x.requests, errors: x.serverErrors, ready: 2, traffic: 100 / revisions, answered: sparse(x.answered), minMs: x.minMs, maxMs: x.maxMs, ...quantiles(x.answered, answered, x.minMs, x.maxMs) };
  }
  return { t, ready: 2, desired: 2, queueDepth: 0, held: 0, coldStarts: [], revisions: out };
}

const tally = new RequestTally();
const start = 1_700_000_000_000;
const sample = point(start, tally);
const pairs = Object.values(sample.revisions)[0]!.answered.length;

const before = used();
const history = new History();
for (let s = 1; s <= seconds; s++) {
  const t = start + s * 1000;
  for (let k = 0; k < services; k++) history.record(`default/svc${k}`, point(t, tally));
}
const after = used();
const kept = history.points('default/svc0').length;
const perService = (after - before) / services;

const now = start + seconds * 1000;
const slo = { latencyP95Ms: 30, errorRate: 0.05 };
const rounds = 20;
const t0 = performance.now();
for (let i = 0; i < rounds; i++) for (let k = 0; k < services; k++) sloStatus(history.points(`default/svc${k}`), slo, now);
const statusMs = (performance.now() - t0) / rounds / services;

process.stdout.write(
  `${services} services × ${revisions} revision(s), ${seconds} s of one-second samples (${pairs} histogram pairs a revision a second)\n` +
    `points kept per service: ${kept}\n` +
    `memory per service: ${(perService / 1024).toFixed(0)} KiB (${((perService * 100) / 2 ** 20).toFixed(0)} MiB for 100 services)\n` +
    `one SLO status: ${statusMs.toFixed(3)} ms per service\n`,
);
