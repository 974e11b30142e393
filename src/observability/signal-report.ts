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
  /** Of those, the ones the availability SLI counts (sli.ts `isServerError`); absent from an older gateway. */
  serverErrors: count.optional(),
  /** Sparse latency histogram of the answered ones (sli.ts `isAnswered`); absent from an older gateway. */
  answered: z.array(z.tuple([z.int().min(0).max(LATENCY_BINS - 1), count])).max(LATENCY_BINS).optional(),
  /** Requests at this revision's replicas now, through this gateway. */
  inFlight: count,
  /** What its replicas last said was waiting (x-karb-queue-depth), summed. */
  replicaQueue: count,
});

export const SignalReportSchema = z.strictObject({
  /** Stable for the gateway process's life, so the control plane can tell reporters apart. */
  gateway: z.string().min(1).max(200),
  revisions: z.array(RevisionReportSchema).max(10_000),
  /** Requests waiting at this gateway (held while cold, or for a replica slot), per service. */
  services: z.array(z.strictObject({ service: z.string().min(1).max(100), waiting: count })).max(10_000),
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
