/**
 * Validation of a standalone gateway's report (`POST /api/v1/signals`): a body
 * that is not one gets a 400 naming the field, and nothing of it is counted.
 */
import { z } from 'zod';
import { LATENCY_BINS } from './latency-histogram.ts';
import type { SignalReport } from './signal-report.ts';
import { InvalidRequestError } from '../errors.ts';

const count = z.int().min(0).max(1e9);

const SignalReportSchema = z.strictObject({
  gateway: z.string().min(1).max(200),
  revisions: z
    .array(
      z.strictObject({
        service: z.string().min(1).max(100),
        revision: z.string().min(1).max(100),
        requests: count,
        errors: count,
        latency: z.array(z.tuple([z.int().min(0).max(LATENCY_BINS - 1), count])).max(LATENCY_BINS),
        inFlight: count,
        replicaQueue: count,
      }),
    )
    .max(10_000),
  services: z.array(z.strictObject({ service: z.string().min(1).max(100), waiting: count })).max(10_000),
});

export function parseSignalReport(text: string): SignalReport {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InvalidRequestError('a gateway report must be JSON (see src/autoscaler/signal-report.ts)', { code: 'INVALID_SIGNAL_REPORT' });
  }
  const parsed = SignalReportSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidRequestError(`gateway report: ${issue.path.join('.') || '(body)'}: ${issue.message}`, { code: 'INVALID_SIGNAL_REPORT' });
  }
  return parsed.data;
}
