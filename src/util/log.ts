/**
 * Structured logs: one JSON object per line. Callers pass records, so nothing
 * is formatted unless the level is on.
 */
export type LogRecord = Record<string, unknown> & { level?: string; msg?: string };
export type Log = (record: LogRecord) => void;

const LEVELS: Record<string, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function jsonLogger(stream: NodeJS.WritableStream = process.stdout, minLevel = process.env.KARB_LOG_LEVEL ?? 'info'): Log {
  const min = LEVELS[minLevel] ?? 20;
  return (record) => {
    if ((LEVELS[record.level ?? 'info'] ?? 20) < min) return;
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', ...record })}\n`);
  };
}
