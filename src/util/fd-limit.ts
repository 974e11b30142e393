/**
 * The process's limit on open file descriptors (the soft RLIMIT_NOFILE, which
 * Node raises to the hard limit at start), read from /proc. Servers size their
 * connection caps from it so that client connections can never take the
 * descriptors that upstream connections, probes and the databases need.
 */
import { readFileSync } from 'node:fs';

/** The soft limit on open files of this process, or undefined where /proc does not say (not Linux). */
export function openFileLimit(): number | undefined {
  const text = readProcLimits();
  return text === undefined ? undefined : parseOpenFileLimit(text);
}

/** The soft limit on open files in the text of a /proc/<pid>/limits file. */
export function parseOpenFileLimit(limitsText: string): number | undefined {
  const line = limitsText.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined) return undefined;
  if (soft === 'unlimited') return Number.POSITIVE_INFINITY;
  const n = Number(soft);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function readProcLimits(): string | undefined {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
}
