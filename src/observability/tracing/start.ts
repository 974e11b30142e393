/**
 * What a karb process calls at start: reads the OTEL_* variables and, only when they turn
 * tracing on, loads the OpenTelemetry SDK (tracing.ts) — a process with tracing off never loads
 * it, which keeps `karb serve`'s cold start as it was.
 */
import { readTracingConfig, type Env } from './config.ts';
import type { Tracing } from './tracing.ts';

export type { Tracing };

export interface StartTracingOptions {
  /** `service.name` unless OTEL_SERVICE_NAME says otherwise: `karb-gateway`, `karb-serve`. */
  serviceName: string;
  /** Bad OTEL_* values, and failed exports (at most one line a minute). */
  warn: (message: string) => void;
  /** Told why tracing is off, when it is. */
  off?: (reason: string) => void;
  /** Default process.env. */
  env?: Env;
  /** How long ended spans wait to be sent in a batch. Default 1000 ms. */
  scheduledDelayMs?: number;
}

/** Tracing as the environment configures it, or undefined when it is off. */
export async function startTracing(options: StartTracingOptions): Promise<Tracing | undefined> {
  const setting = readTracingConfig(options.env ?? process.env, options.serviceName, options.warn);
  if (!setting.enabled) {
    options.off?.(setting.reason);
    return undefined;
  }
  const { enabled: _, ...config } = setting;
  const { createTracing } = await import('./tracing.ts');
  return createTracing(config, { warn: options.warn, ...(options.scheduledDelayMs === undefined ? {} : { scheduledDelayMs: options.scheduledDelayMs }) });
}
