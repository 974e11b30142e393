/**
 * The one parser of `/proc/<pid>/stat` (Linux): what karb reads of a process —
 * its state, parent, CPU time and start time. Every reader (process identity,
 * CPU sampling, the benchmarks) goes through it, so the awkward field 2 (the
 * command name, in parentheses, which may itself hold spaces and ')') is
 * handled in one place. Where `/proc` is missing, reads return undefined.
 */
import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second (USER_HZ); 100 on every mainstream Linux build. */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcStat {
  /** One letter: R running, S sleeping, Z zombie, … (field 3). */
  state: string;
  /** Parent pid (field 4). */
  ppid: number;
  /** User and system CPU time in clock ticks (fields 14 and 15). */
  utimeTicks: number;
  stimeTicks: number;
  /** Clock ticks after boot at which the process started (field 22), as written: unique per pid together with the pid. */
  startTime: string;
}

/** Parses the text of a stat file; undefined when it is not one. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // The fields after the last ')' are fixed: field 3 is at index 0.
  const fields = text.slice(close + 2).trim().split(' ');
  const state = fields[0];
  const ppid = Number(fields[1]);
  const utimeTicks = Number(fields[11]);
  const stimeTicks = Number(fields[12]);
  const startTime = fields[19];
  if (!state || !startTime || !Number.isFinite(ppid) || !Number.isFinite(utimeTicks) || !Number.isFinite(stimeTicks)) return undefined;
  return { state, ppid, utimeTicks, stimeTicks, startTime };
}

/** The stat of a live process, or undefined when it is gone or `/proc` is missing. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}

/** CPU seconds (user + system) a process has used, or undefined if it cannot be read. */
export function readProcessCpuSeconds(pid: number): number | undefined {
  const stat = readProcStat(pid);
  return stat === undefined ? undefined : (stat.utimeTicks + stat.stimeTicks) / CLOCK_TICKS_PER_SECOND;
}
