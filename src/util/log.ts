/**
 * Structured logs, one JSON object per line: `{"time":"…","level":"info","msg":"…",…fields}`.
 * One logger for every karb process (`karb up`, `karb gateway`, `karb serve`).
 *
 * Nothing is built for a level that is off: `log.log(level, msg, () => fields)`
 * calls the thunk only when the level is on, and a caller about to assemble a
 * whole record (the gateway's access log, once per request) asks `enabled(level)`
 * first. Code that only writes records takes the narrower `Log`, which plain
 * functions satisfy in tests.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
export type LogRecord = LogFields & { level?: string; msg?: string };

/** Writes whole records (level in the record, info when absent); `enabled`, where present, says whether a level is written. */
export type Log = ((record: LogRecord) => void) & { enabled?: (level: LogLevel) => boolean };

export interface Logger {
  /** Writes a whole record, as a `Log`. */
  (record: LogRecord): void;
  /** Whether records at `level` are written: ask before building an expensive one. */
  enabled(level: LogLevel): boolean;
  /** Writes `msg` at `level` with `fields` (a thunk is called only when the level is on). */
  log(level: LogLevel, msg: string, fields?: LogFields | (() => LogFields)): void;
}

const LEVELS: Record<string, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface JsonLoggerOptions {
  /** Where lines go (each ends in a newline); default stdout. */
  write?: (line: string) => void;
  /** Lowest level written; default $KARB_LOG_LEVEL, else info. An unknown name means info. */
  level?: string;
  /** Clock for `time`, in epoch milliseconds; default Date.now. A record's own `time` wins. */
  now?: () => number;
}

export function jsonLogger(options: JsonLoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const min = LEVELS[options.level ?? process.env.KARB_LOG_LEVEL ?? 'info'] ?? LEVELS.info!;
  const now = options.now ?? Date.now;
  const enabled = (level: string): boolean => (LEVELS[level] ?? LEVELS.info!) >= min;
  const logger = (record: LogRecord): void => {
    if (!enabled(record.level ?? 'info')) return;
    write(`${JSON.stringify({ time: new Date(now()).toISOString(), level: 'info', ...record })}\n`);
  };
  return Object.assign(logger, {
    enabled,
    log(level: LogLevel, msg: string, fields?: LogFields | (() => LogFields)): void {
      if (!enabled(level)) return;
      const extra = typeof fields === 'function' ? fields() : fields;
      write(`${JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...extra })}\n`);
    },
  });
}

/** Writes nothing and builds nothing: for servers started without a logger (tests, embedded use). */
export const silentLogger: Logger = Object.assign((_record: LogRecord): void => {}, {
  enabled: (_level: LogLevel): boolean => false,
  log(_level: LogLevel, _msg: string, _fields?: LogFields | (() => LogFields)): void {},
});
