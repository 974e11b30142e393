/**
 * JSON-lines logger for the model server: one object per line,
 * `{"level":"info","msg":"listening",...fields,"time":"..."}`. The control plane
 * reads the `listening` line from stdout to learn the port.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function jsonLogger(write: (line: string) => void, minLevel: LogLevel = 'info', now: () => number = Date.now): Logger {
  const min = order[minLevel];
  return {
    log(level, msg, fields) {
      if (order[level] < min) return;
      write(JSON.stringify({ level, msg, ...fields, time: new Date(now()).toISOString() }) + '\n');
    },
  };
}

export const silentLogger: Logger = { log() {} };
