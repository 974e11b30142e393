/**
 * Is this pid still the process karb started? A pid alone can be reused by an
 * unrelated process after ours exits, so a match needs the same kernel start
 * time (`/proc/<pid>/stat`, field 22) and the same argv (`/proc/<pid>/cmdline`).
 * Where `/proc` is missing (not Linux), only liveness can be checked.
 */
import { readFileSync } from 'node:fs';
import { readProcStat } from './proc-stat.ts';

/** True while the process exists and has not exited (a zombie awaiting its reaper counts as gone). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return readProcStat(pid)?.state !== 'Z';
}

export function processStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime;
}

export function processArgv(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.endsWith('\0') ? raw.slice(0, -1).split('\0') : raw.split('\0');
  } catch {
    return undefined;
  }
}

export type ProcessMatch = { same: true; reason: 'Alive' } | { same: false; reason: 'Exited' | 'PidReused' | 'CommandDiffers' };

/** Compares a live pid with what was recorded when karb started it. */
export function matchProcess(recorded: { pid: number; argv: string[]; processStartTime?: string }): ProcessMatch {
  if (!isProcessAlive(recorded.pid)) return { same: false, reason: 'Exited' };
  const startTime = processStartTime(recorded.pid);
  if (recorded.processStartTime !== undefined && startTime !== undefined && startTime !== recorded.processStartTime) {
    return { same: false, reason: 'PidReused' };
  }
  const argv = processArgv(recorded.pid);
  if (argv !== undefined && (argv.length !== recorded.argv.length || argv.some((a, i) => a !== recorded.argv[i]))) {
    return { same: false, reason: 'CommandDiffers' };
  }
  return { same: true, reason: 'Alive' };
}

/**
 * Signals the replica's whole process group (replicas lead their own group),
 * falling back to the pid alone. Returns false when nothing was there to signal.
 */
export function signalReplica(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}
