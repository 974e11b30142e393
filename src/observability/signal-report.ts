/**
 * The wire format of a standalone gateway's report (`POST /api/v1/signals`,
 * built by `SignalReporter` in signal-reporter.ts): the zod schema is the one
 * source, the `SignalReport` type is inferred from it, and `parseSignalReport`
 * gives a body that is not one a 400 (`INVALID_SIGNAL_REPORT`) naming the
 * field, so nothing of it is counted. The bounds keep one report from growing
 * the control plane's memory without limit.
 */
import { z } from 'zod';
import { InvalidRequestError } from '../errors.ts';
import { LATENCY_BINS } from './latency-histogram.ts';

const count = z.int().min(0).max(1e9);

/** One revision's part of a report. Counts cover the time since the gateway's previous report; gauges are now. */
const RevisionReportSchema = z.strictObject({
  service: z.string().min(1).max(100),
  revision: z.string().min(1).max(100),
  /** Requests finished since the previous report. */
  requests: count,
  /** Of those, the ones `isErrorStatus` counts (error-status.ts). */
  errors: count,
  /** Sparse latency histogram of those requests: [bin, count] pairs (see latency-histogram.ts). */
  latency: z.array(z.tuple([z.int().min(0).max(LATENCY_BINS - 1), count])).max(LATENCY_BINS),
  /**
   * Sparse histogram of how long those requests waited before a replica began them (at this
   * gateway, held while cold, and in the replica's own queue where it says: `x-karb-queue-ms`), one
   * per attempt that answered; absent from a gateway older than it.
   */
  wait: z.array(z.tuple([z.int().min(0).max(LATENCY_BINS - 1), count])).max(LATENCY_BINS).optional(),
  /** Of those attempts, the ones sli.ts `isServerError` counts; sent only by gateways older than `sli`. */
  serverErrors: count.optional(),
  /** Sparse latency histogram of the answered attempts (sli.ts `isAnswered`); sent only by gateways older than `sli`. */
  answered: z.array(z.tuple([z.int().min(0).max(LATENCY_BINS - 1), count])).max(LATENCY_BINS).optional(),
  /** Requests at this revision's replicas now, through this gateway. */
  inFlight: count,
  /** What its replicas last said was waiting (x-karb-queue-depth), summed. */
  replicaQueue: count,
});

/**
 * One revision's requests as the SLIs count them (sli-sink.ts): once per request, however many
 * attempts it took, including those the gateway answered itself, since the previous report.
 */
const SliReportSchema = z.strictObject({
  service: z.string().min(1).max(100),
  revision: z.string().min(1).max(100),
  requests: count,
  /** Of those, the ones sli.ts `isServerError` counts. */
  serverErrors: count,
  /** Sparse latency histogram of the answered ones (sli.ts `isAnswered`). */
  answered: z.array(z.tuple([z.int().min(0).max(LATENCY_BINS - 1), count])).max(LATENCY_BINS),
});

/** One service's part of a report. */
const ServiceReportSchema = z.strictObject({
  service: z.string().min(1).max(100),
  /** Requests waiting at this gateway now: held while cold, or in its queue for a replica slot. */
  waiting: count,
  /**
   * Requests this gateway turned away before a replica began them since the previous report, for
   * want of capacity (`SignalSink.requestRefused`: its queue or hold full, or waited too long);
   * absent when none was, and from a gateway older than it.
   */
  refused: count.optional(),
});

export const SignalReportSchema = z.strictObject({
  /** Stable for the gateway process's life, so the control plane can tell reporters apart. */
  gateway: z.string().min(1).max(200),
  revisions: z.array(RevisionReportSchema).max(10_000),
  /** Each request's SLI outcome, summed per revision; absent from an older gateway (then read from `revisions`). */
  sli: z.array(SliReportSchema).max(10_000).optional(),
  /** Per service: requests waiting at this gateway now (held while cold, or for a replica slot), and refused since the previous report. */
  services: z.array(ServiceReportSchema).max(10_000),
});

/** One gateway's report, as sent to the control plane. */
export type SignalReport = z.output<typeof SignalReportSchema>;

/** The largest report body a control plane reads: a report names each revision routed in the last second, far below this. */
export const SIGNAL_REPORT_LIMIT_BYTES = 1024 * 1024;

/** The report in `text`, or a 400 naming the first field that is wrong. */
export function parseSignalReport(text: string): SignalReport {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InvalidRequestError('a gateway report must be JSON (see src/observability/signal-report.ts)', { code: 'INVALID_SIGNAL_REPORT' });
  }
  const parsed = SignalReportSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidRequestError(`gateway report: ${issue.path.join('.') || '(body)'}: ${issue.message}`, { code: 'INVALID_SIGNAL_REPORT' });
  }
  return parsed.data;
}

/** One revision's SLI counts in a report, as `sli` holds them. */
export type SliReport = NonNullable<SignalReport['sli']>[number];

/**
 * The report's SLI counts: its `sli`, or from a gateway older than that field
 * its per-attempt counts, the closest it sent. Those count a failed attempt that
 * a retry fixed, and miss what the gateway answered itself; a gateway older
 * still sent only what `isErrorStatus` counts and one histogram of every
 * attempt, so its 429s count as server errors and every attempt as answered.
 */
export function sliOfReport(report: SignalReport): SliReport[] {
  if (report.sli !== undefined) return report.sli;
  return report.revisions.map((r) => {
    const sli = r.serverErrors !== undefined && r.answered !== undefined;
    return { service: r.service, revision: r.revision, requests: r.requests, serverErrors: sli ? r.serverErrors! : r.errors, answered: sli ? r.answered! : r.latency };
  });
}
