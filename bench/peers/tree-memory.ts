/**
 * Memory of a process tree counted fairly across many processes: proportional
 * set size (Pss, /proc/<pid>/smaps_rollup), which splits each shared page among
 * the processes that map it. Summing RSS instead would count the Python
 * runtime and ONNX Runtime's libraries once per Ray worker and overstate a
 * server that runs as many processes. Linux only; 0 for a process that cannot
 * be read (gone, or another user's).
 */
import { readFileSync } from 'node:fs';
import { processTree } from './proc-tree.ts';

/** Pss of one process in KiB, or undefined when it cannot be read. */
export function pssKiB(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^Pss:\s+(\d+) kB$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Pss of `pid` and its live descendants, in MiB, with how many processes that is. */
export function treePssMiB(pid: number): { mib: number; processes: number } {
  let kib = 0;
  let processes = 0;
  for (const p of processTree(pid)) {
    const v = pssKiB(p);
    if (v === undefined) continue;
    kib += v;
    processes++;
  }
  return { mib: kib / 1024, processes };
}
