/**
 * This machine's GPUs, as `nvidia-smi` reports them: each GPU's index, UUID, name and memory,
 * whether MIG is on, and the MIG instances carved out of it. `karb up` asks once at start (and
 * again on demand, `LocalRuntime.refreshGpus`); the allocator (`gpu-allocator.ts`) hands out
 * what this finds. No nvidia-smi, or one that fails (no driver, no device), means no GPUs and
 * a `problem` saying why — never a crash.
 *
 * Two reads, both in NVIDIA's documented formats:
 *
 *   nvidia-smi --query-gpu=index,uuid,name,memory.total,mig.mode.current --format=csv,noheader,nounits
 *     0, GPU-9d2b7d5a-…, NVIDIA A100-SXM4-80GB, 81920, Enabled
 *
 *   nvidia-smi -L
 *     GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-9d2b7d5a-…)
 *       MIG 3g.40gb     Device  0: (UUID: MIG-4c1f…)
 */
import { execFile } from 'node:child_process';

export interface MigInstance {
  /** The GPU it is carved from (nvidia-smi's index). */
  gpuIndex: number;
  /** Its number on that GPU (`Device  N`). */
  device: number;
  /** The GPU-instance profile, e.g. `1g.10gb` (what `sharing: mig-1g.10gb` asks for). */
  profile: string;
  /** `MIG-…`: what CUDA_VISIBLE_DEVICES names it by. */
  uuid: string;
}

export interface Gpu {
  index: number;
  /** `GPU-…`; CUDA_VISIBLE_DEVICES names whole GPUs by it (stable, unlike an index under CUDA_DEVICE_ORDER). */
  uuid: string;
  name: string;
  /** memory.total in MiB; missing where nvidia-smi reports none. */
  memoryMiB?: number;
  /** MIG mode is on: the GPU is only usable through its MIG instances, never whole. */
  mig: boolean;
  instances: MigInstance[];
}

export interface GpuInventory {
  gpus: Gpu[];
  /** Why there are no GPUs (nvidia-smi missing or failing), or what went wrong reading the MIG instances. */
  problem?: string;
}

export const GPU_QUERY_ARGS = ['--query-gpu=index,uuid,name,memory.total,mig.mode.current', '--format=csv,noheader,nounits'];
export const GPU_LIST_ARGS = ['-L'];

/**
 * Parses the `--query-gpu` CSV. Fields are split on commas; the name is whatever lies between
 * the UUID and the last two fields, so a name with a comma still parses. A line that is not a GPU
 * (nvidia-smi's own error text: "NVIDIA-SMI has failed because …", "No devices were found") is
 * not one; when no line is, the first such line is the problem.
 */
export function parseGpuQuery(text: string): { gpus: Gpu[]; problem?: string } {
  const gpus: Gpu[] = [];
  let other: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const cells = line.split(',').map((c) => c.trim());
    const index = cells.length >= 5 && /^\d+$/.test(cells[0]!) ? Number(cells[0]) : NaN;
    const uuid = cells[1] ?? '';
    if (!Number.isInteger(index) || !/^GPU-[0-9a-fA-F-]+$/.test(uuid)) {
      other ??= line;
      continue;
    }
    const migMode = cells[cells.length - 1]!;
    const memory = Number(cells[cells.length - 2]);
    gpus.push({
      index,
      uuid,
      name: cells.slice(2, -2).join(', '),
      ...(Number.isFinite(memory) && cells[cells.length - 2] !== '' ? { memoryMiB: memory } : {}),
      mig: migMode === 'Enabled',
      instances: [],
    });
  }
  return gpus.length === 0 ? { gpus, problem: other === undefined ? 'nvidia-smi listed no GPU' : `nvidia-smi listed no GPU: ${other}` } : { gpus };
}

/**
 * Parses `nvidia-smi -L`: the MIG instances listed under each GPU line. Both UUID forms are
 * read — `MIG-<uuid>` (drivers from R470) and `MIG-GPU-<uuid>/<gi>/<ci>` (R450–R465) — since
 * CUDA_VISIBLE_DEVICES takes either.
 */
export function parseGpuList(text: string): MigInstance[] {
  const out: MigInstance[] = [];
  let gpuIndex: number | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const gpu = /^GPU (\d+): .*\(UUID: (GPU-[^)\s]+)\)$/.exec(line);
    if (gpu) {
      gpuIndex = Number(gpu[1]);
      continue;
    }
    const mig = /^MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[^)\s]+)\)$/.exec(line);
    if (mig && gpuIndex !== undefined) out.push({ gpuIndex, device: Number(mig[2]), profile: mig[1]!, uuid: mig[3]! });
  }
  return out;
}

/** The GPUs of the query with the MIG instances of the list attached to their GPU. */
export function mergeInventory(query: { gpus: Gpu[]; problem?: string }, instances: MigInstance[]): GpuInventory {
  const gpus = query.gpus.map((g) => ({ ...g, instances: instances.filter((i) => i.gpuIndex === g.index).sort((a, b) => a.device - b.device) }));
  return query.problem === undefined ? { gpus } : { gpus, problem: query.problem };
}

/** One nvidia-smi run: its stdout, or why it gave none. */
export type NvidiaSmiResult = { ok: true; stdout: string } | { ok: false; problem: string };
export type NvidiaSmiRunner = (args: string[]) => Promise<NvidiaSmiResult>;

/** Runs `nvidia-smi` from PATH, with a timeout: a hung driver must not hold karb up. */
export const runNvidiaSmi: NvidiaSmiRunner = (args) =>
  new Promise((resolve) => {
    execFile('nvidia-smi', args, { timeout: 15_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve({ ok: true, stdout });
      const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
      if (e.code === 'ENOENT') return resolve({ ok: false, problem: 'nvidia-smi is not installed (not found on PATH)' });
      if (e.killed) return resolve({ ok: false, problem: 'nvidia-smi did not answer within 15 s' });
      const said = firstLine(String(stdout)) ?? firstLine(String(stderr));
      const status = typeof e.code === 'number' ? `exit ${e.code}` : String(e.code ?? e.message);
      resolve({ ok: false, problem: `nvidia-smi failed (${status})${said ? `: ${said}` : ''}` });
    });
  });

/**
 * Asks nvidia-smi for this machine's GPUs and their MIG instances. A failing query means no
 * GPUs; a failing `-L` keeps the GPUs (without MIG instances) and says so in `problem`.
 */
export async function discoverGpus(run: NvidiaSmiRunner = runNvidiaSmi): Promise<GpuInventory> {
  const query = await run(GPU_QUERY_ARGS);
  if (!query.ok) return { gpus: [], problem: query.problem };
  const parsed = parseGpuQuery(query.stdout);
  if (parsed.gpus.length === 0) return { gpus: [], problem: parsed.problem ?? 'nvidia-smi listed no GPU' };
  if (!parsed.gpus.some((g) => g.mig)) return mergeInventory(parsed, []);
  const list = await run(GPU_LIST_ARGS);
  if (!list.ok) return { ...mergeInventory(parsed, []), problem: `MIG instances unknown: ${list.problem}` };
  return mergeInventory(parsed, parseGpuList(list.stdout));
}

/** One line for the log and for messages: "2 GPUs: 0 NVIDIA H100 80GB HBM3 (GPU-…), 1 … (MIG: 1g.10gb ×2)". */
export function describeInventory(inventory: GpuInventory): string {
  if (inventory.gpus.length === 0) return `no GPU (${inventory.problem ?? 'nvidia-smi found none'})`;
  const gpus = inventory.gpus.map((g) => {
    const mig = g.mig ? `, MIG: ${g.instances.length === 0 ? 'no instances' : countProfiles(g.instances)}` : '';
    return `${g.index} ${g.name} (${g.uuid}${g.memoryMiB === undefined ? '' : `, ${g.memoryMiB} MiB`}${mig})`;
  });
  return `${inventory.gpus.length} GPU${inventory.gpus.length === 1 ? '' : 's'}: ${gpus.join('; ')}`;
}

/** "3g.40gb ×1, 1g.10gb ×2", in the order the profiles first appear. */
export function countProfiles(instances: readonly MigInstance[]): string {
  const counts = new Map<string, number>();
  for (const i of instances) counts.set(i.profile, (counts.get(i.profile) ?? 0) + 1);
  return [...counts].map(([profile, n]) => `${profile} ×${n}`).join(', ');
}

function firstLine(text: string): string | undefined {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l !== '');
  return line === undefined ? undefined : line.slice(0, 300);
}
