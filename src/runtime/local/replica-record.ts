/**
 * The small JSON file per live replica under `<stateDir>/replicas/` that lets a
 * restarted karb (even after SIGKILL) find and adopt the replicas it left behind.
 * Written atomically (temp file + rename), so a reader sees the old or the new
 * record, never half of one.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalProcessSpec } from './process-spec.ts';
import type { ReplicaLimits } from './resource-limits.ts';
import type { ResourceRequests } from './quota.ts';

export interface ReplicaRecord {
  version: 1;
  name: string;
  namespace: string;
  service: string;
  revision: string;
  templateHash: string;
  /** The process spec (named `template` in records since the first karb), kept so an adopted replica can be restarted before the control plane asks again. */
  template: LocalProcessSpec;
  pid: number;
  port: number;
  url: string;
  /** Exactly what was executed; compared with `/proc/<pid>/cmdline` on adoption. */
  argv: string[];
  /** Kernel start time of the process, guarding against pid reuse. */
  processStartTime?: string;
  /** When the replica (not this process of it) was created; orders scale-down. */
  createdAt: number;
  /** When this process of the replica was started. */
  startedAt: number;
  restarts: number;
  /** The GPUs (`GPU-…`/`MIG-…` UUIDs) karb gave the replica, so a later karb knows they are taken; missing: none. */
  devices?: string[];
  /** CPU and memory limits (kept apart from `template`, whose hash older karbs recorded); missing: none. */
  limits?: ReplicaLimits;
  /** What it requests, counted against its namespace's quota by a karb that adopts it; missing in records of karbs before quotas. */
  requests?: ResourceRequests;
}

export class ReplicaRecordStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  write(record: ReplicaRecord): void {
    mkdirSync(this.dir, { recursive: true });
    const file = this.#file(record.name);
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(record)}\n`);
    renameSync(temp, file);
  }

  remove(name: string): void {
    rmSync(this.#file(name), { force: true });
  }

  /** Reads every record; unreadable ones and leftover temp files are deleted and reported. */
  readAll(): { records: ReplicaRecord[]; discarded: Array<{ file: string; reason: string }> } {
    const records: ReplicaRecord[] = [];
    const discarded: Array<{ file: string; reason: string }> = [];
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch {
      return { records, discarded };
    }
    for (const file of files) {
      const path = join(this.dir, file);
      if (file.endsWith('.tmp')) {
        rmSync(path, { force: true });
        continue;
      }
      if (!file.endsWith('.json')) continue;
      try {
        const record = parseRecord(JSON.parse(readFileSync(path, 'utf8')));
        if (`${record.name}.json` !== file) throw new Error(`names replica '${record.name}'`);
        records.push(record);
      } catch (err) {
        rmSync(path, { force: true });
        discarded.push({ file: path, reason: err instanceof Error ? err.message : String(err) });
      }
    }
    return { records, discarded };
  }

  #file(name: string): string {
    return join(this.dir, `${name}.json`);
  }
}

function parseRecord(value: unknown): ReplicaRecord {
  const r = value as Partial<ReplicaRecord> | null;
  const strings = ['name', 'namespace', 'service', 'revision', 'templateHash', 'url'] as const;
  const numbers = ['pid', 'port', 'createdAt', 'startedAt', 'restarts'] as const;
  if (r === null || typeof r !== 'object' || r.version !== 1) throw new Error('not a version 1 replica record');
  for (const k of strings) if (typeof r[k] !== 'string') throw new Error(`field '${k}' is not a string`);
  for (const k of numbers) if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new Error(`field '${k}' is not a number`);
  if (!Array.isArray(r.argv) || !r.argv.every((a) => typeof a === 'string')) throw new Error(`field 'argv' is not a list of strings`);
  if (typeof r.template !== 'object' || r.template === null || r.template.revision !== r.revision) throw new Error(`field 'template' does not describe revision '${r.revision}'`);
  if (r.processStartTime !== undefined && typeof r.processStartTime !== 'string') throw new Error(`field 'processStartTime' is not a string`);
  if (r.devices !== undefined && (!Array.isArray(r.devices) || !r.devices.every((d) => typeof d === 'string'))) throw new Error(`field 'devices' is not a list of strings`);
  if (r.limits !== undefined && (typeof r.limits !== 'object' || r.limits === null || Object.values(r.limits).some((v) => typeof v !== 'number' && typeof v !== 'string'))) {
    throw new Error(`field 'limits' is not an object of limits`);
  }
  if (r.requests !== undefined && !isRequests(r.requests)) throw new Error(`field 'requests' is not CPU millicores, memory bytes and GPUs`);
  return r as ReplicaRecord;
}

function isRequests(value: unknown): value is ResourceRequests {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (['cpuMillicores', 'memoryBytes', 'gpus'] as const).every((k) => typeof r[k] === 'number' && Number.isFinite(r[k]) && r[k] >= 0);
}
