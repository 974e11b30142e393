/**
 * CPU time and memory of a process together with everything it started, from
 * /proc (Linux). The peers are Python servers that may fork workers (uvicorn's
 * --num_workers, a model server's worker pool); charging only the pid we
 * started would make a forking peer look cheaper than it is. A process that
 * exits between the listing and the read is skipped (its time is lost, which
 * only ever flatters the peer).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readProcessCpuSeconds, readProcStat } from '../../src/runtime/local/proc-stat.ts';

/** `pid` and all its descendants alive now. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat === undefined) continue;
    const list = children.get(stat.ppid);
    if (list === undefined) children.set(stat.ppid, [Number(entry)]);
    else list.push(Number(entry));
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

/** User + system CPU seconds of `pid` and its live descendants. */
export function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + (readProcessCpuSeconds(p) ?? 0), 0);
}

/** A `<field>: N kB` line of `/proc/<pid>/<file>`, in KiB; undefined when it cannot be read (gone, another user's). */
function procKiB(pid: number, file: string, field: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Resident memory (VmRSS) of `pid` and its live descendants, in MiB; shared pages are counted once per process. */
export function treeRssMiB(pid: number): number {
  let kib = 0;
  for (const p of processTree(pid)) kib += procKiB(p, 'status', 'VmRSS') ?? 0;
  return kib / 1024;
}

/**
 * Memory of a process tree counted fairly across many processes: proportional
 * set size (Pss, /proc/<pid>/smaps_rollup), which splits each shared page among
 * the processes that map it. Summing RSS instead would count the Python
 * runtime and ONNX Runtime's libraries once per Ray worker and overstate a
 * server that runs as many processes. Returns the MiB with how many processes
 * could be read.
 */
export function treePssMiB(pid: number): { mib: number; processes: number } {
  let kib = 0;
  let processes = 0;
  for (const p of processTree(pid)) {
    const v = procKiB(p, 'smaps_rollup', 'Pss');
    if (v === undefined) continue;
    kib += v;
    processes++;
  }
  return { mib: kib / 1024, processes };
}
