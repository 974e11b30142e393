/**
 * Which of this machine's GPUs a replica gets: a pure allocator over the inventory
 * (`gpu-inventory.ts`) and what replicas already hold. No I/O; the local runtime asks it
 * before a replica starts and tells it when a replica's process is gone.
 *
 * Rules (`spec.resources.accelerator: { kind, count, sharing }`):
 * - Only `nvidia.com/gpu` exists here (found through nvidia-smi); any other kind never fits.
 * - `sharing: none` — `count` whole GPUs nobody else holds, lowest index first. A GPU in MIG
 *   mode is never given whole (CUDA sees only its instances).
 * - `sharing: time-slice` — `count` GPUs, each shared by at most `timeSlices` replicas
 *   (`karb up --gpu-time-slices`) and held whole by none. Shares go to the GPU already shared
 *   the most (then the lowest index), so whole GPUs stay free for whole requests.
 * - `sharing: mig-<profile>` — `count` free MIG instances of exactly that profile, on any GPU.
 * - A request that does not fit waits: the reason says what it waits for and who holds it, or —
 *   when this machine could never hold it — what to change.
 *
 * A replica gets its devices by UUID (`GPU-…`, `MIG-…`) in CUDA_VISIBLE_DEVICES, never by index.
 */
import { countProfiles, type Gpu, type GpuInventory, type MigInstance } from './gpu-inventory.ts';

/** The only accelerator kind this machine's discovery finds. */
export const NVIDIA_GPU = 'nvidia.com/gpu';

export interface AcceleratorRequest {
  kind: string;
  count: number;
  /** `none`, `time-slice` or `mig-<profile>` (e.g. `mig-1g.10gb`). */
  sharing: string;
}

export type HoldMode = 'whole' | 'time-slice' | 'mig';

/** What one replica holds: GPU UUIDs (whole or time-sliced) or MIG instance UUIDs. */
export interface Holding {
  replica: string;
  mode: HoldMode;
  devices: string[];
}

export type GpuPlacement =
  | { fits: true; mode: HoldMode; devices: string[] }
  /** `never`: this machine cannot hold the request however many replicas stop (the reason says what to change). */
  | { fits: false; never: boolean; reason: string };

export interface AllocatorSettings {
  /** Replicas that may share one GPU with `sharing: time-slice`. */
  timeSlices: number;
}

export const defaultTimeSlices = 4;

/** The mode a request holds its devices in. */
export function holdMode(request: AcceleratorRequest): HoldMode {
  return request.sharing === 'none' ? 'whole' : request.sharing === 'time-slice' ? 'time-slice' : 'mig';
}

/** Where `request` fits given what `holdings` hold; never changes its arguments. */
export function place(inventory: GpuInventory, holdings: readonly Holding[], request: AcceleratorRequest, settings: AllocatorSettings): GpuPlacement {
  const what = describeRequest(request);
  if (request.kind !== NVIDIA_GPU) {
    return { fits: false, never: true, reason: `this machine has no ${request.kind}: karb up finds only ${NVIDIA_GPU} (through nvidia-smi); the service asks for ${request.count} — ask for kind: ${NVIDIA_GPU}, or run it on Kubernetes where nodes have ${request.kind}` };
  }
  if (inventory.gpus.length === 0) {
    return { fits: false, never: true, reason: `this machine has no ${NVIDIA_GPU} (${inventory.problem ?? 'nvidia-smi found none'}); the service asks for ${request.count} — run it where a GPU is, or remove spec.resources.accelerator` };
  }
  const mode = holdMode(request);
  if (mode === 'mig') return placeMig(inventory, holdings, request, what);

  const usable = inventory.gpus.filter((g) => !g.mig).sort((a, b) => a.index - b.index);
  if (usable.length < request.count) return { fits: false, never: true, reason: tooFewWhole(inventory, usable, request) };
  const whole = new Map<string, string>(); // GPU → the replica holding it whole
  const sharers = new Map<string, string[]>(); // GPU → replicas holding a time slice of it
  for (const h of holdings) {
    for (const d of h.devices) {
      if (h.mode === 'whole') whole.set(d, h.replica);
      else if (h.mode === 'time-slice') sharers.set(d, [...(sharers.get(d) ?? []), h.replica]);
    }
  }
  const holdersOf = (g: Gpu) => [...(whole.has(g.uuid) ? [whole.get(g.uuid)!] : []), ...(sharers.get(g.uuid) ?? [])];

  if (mode === 'whole') {
    const free = usable.filter((g) => holdersOf(g).length === 0);
    if (free.length >= request.count) return { fits: true, mode, devices: free.slice(0, request.count).map((g) => g.uuid) };
    return { fits: false, never: false, reason: `waiting for ${what}: ${inUse(usable.length, free.length, usable.flatMap(holdersOf))}` };
  }
  const open = usable
    .filter((g) => !whole.has(g.uuid) && (sharers.get(g.uuid)?.length ?? 0) < settings.timeSlices)
    .sort((a, b) => (sharers.get(b.uuid)?.length ?? 0) - (sharers.get(a.uuid)?.length ?? 0) || a.index - b.index);
  if (open.length >= request.count) return { fits: true, mode, devices: open.slice(0, request.count).map((g) => g.uuid) };
  return {
    fits: false,
    never: false,
    reason: `waiting for ${what}: ${inUse(usable.length, open.length, usable.filter((g) => !open.includes(g)).flatMap(holdersOf), `each held whole or shared by ${settings.timeSlices} replicas, karb up --gpu-time-slices ${settings.timeSlices}`)}`,
  };
}

function placeMig(inventory: GpuInventory, holdings: readonly Holding[], request: AcceleratorRequest, what: string): GpuPlacement {
  const profile = request.sharing.slice('mig-'.length);
  const all = inventory.gpus.flatMap((g) => g.instances);
  const ofProfile = all.filter((i) => i.profile === profile).sort((a, b) => a.gpuIndex - b.gpuIndex || a.device - b.device);
  if (ofProfile.length < request.count) return { fits: false, never: true, reason: tooFewMig(inventory, all, ofProfile, profile, request) };
  const heldBy = new Map<string, string>();
  for (const h of holdings) if (h.mode === 'mig') for (const d of h.devices) heldBy.set(d, h.replica);
  const free = ofProfile.filter((i) => !heldBy.has(i.uuid));
  if (free.length >= request.count) return { fits: true, mode: 'mig', devices: free.slice(0, request.count).map((i) => i.uuid) };
  return { fits: false, never: false, reason: `waiting for ${what}: ${inUse(ofProfile.length, free.length, ofProfile.flatMap((i) => (heldBy.has(i.uuid) ? [heldBy.get(i.uuid)!] : [])))}` };
}

/** "1 nvidia.com/gpu", "a time-sliced share of 2 nvidia.com/gpu", "1 MIG 1g.10gb instance of nvidia.com/gpu". */
export function describeRequest(request: AcceleratorRequest): string {
  const mode = holdMode(request);
  if (mode === 'whole') return `${request.count} ${request.kind}`;
  if (mode === 'time-slice') return `a time-sliced share of ${request.count} ${request.kind}`;
  return `${request.count} MIG ${request.sharing.slice('mig-'.length)} instance${request.count === 1 ? '' : 's'} of ${request.kind}`;
}

/** "2 on this machine, both in use by a, b" / "3 on this machine, 1 free, the others in use by …". */
function inUse(total: number, free: number, holders: string[], full?: string): string {
  const names = listNames([...new Set(holders)]);
  const state = `${full === undefined ? '' : `full (${full}), `}in use by ${names}`;
  if (free > 0) return `${total} on this machine, ${free} free, the others ${state}`;
  return `${total} on this machine, ${total === 1 ? 'it is' : total === 2 ? 'both' : `all ${total}`} ${state}`;
}

function listNames(names: string[], max = 6): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

function tooFewWhole(inventory: GpuInventory, usable: Gpu[], request: AcceleratorRequest): string {
  const migGpus = inventory.gpus.filter((g) => g.mig);
  const instances = migGpus.flatMap((g) => g.instances);
  if (usable.length === 0) {
    const n = migGpus.length;
    const offer = instances.length > 0 ? `ask for a MIG instance instead (sharing: mig-<profile>; here: ${countProfiles(instances)})` : 'create MIG instances (nvidia-smi mig -cgi <profile> -C) and ask for one (sharing: mig-<profile>)';
    return `this machine's ${n} ${NVIDIA_GPU} ${n === 1 ? 'is' : 'are'} in MIG mode, so none can be given ${request.sharing === 'none' ? 'whole' : 'to share'}; ${offer}, or turn MIG off (nvidia-smi -i ${migGpus.map((g) => g.index).join(',')} -mig 0)`;
  }
  const inMig = migGpus.length > 0 ? ` without MIG (${migGpus.length} more in MIG mode)` : '';
  return `this machine has ${usable.length} ${NVIDIA_GPU}${inMig}; the service asks for ${request.count} per replica — lower spec.resources.accelerator.count to ${usable.length}, or run it where more GPUs are`;
}

function tooFewMig(inventory: GpuInventory, all: MigInstance[], ofProfile: MigInstance[], profile: string, request: AcceleratorRequest): string {
  if (ofProfile.length > 0) {
    return `this machine has ${ofProfile.length} MIG ${profile} instance${ofProfile.length === 1 ? '' : 's'}; the service asks for ${request.count} per replica — lower spec.resources.accelerator.count to ${ofProfile.length}, or create more (nvidia-smi mig -cgi ${profile} -C)`;
  }
  const here =
    all.length > 0
      ? `its MIG instances: ${countProfiles(all)}`
      : inventory.gpus.some((g) => g.mig)
        ? 'MIG is on but no instance is created'
        : `no GPU here is in MIG mode`;
  return `this machine has no MIG ${profile} instance of ${NVIDIA_GPU} (${here}); ask for a profile it has, or create ${profile} instances (nvidia-smi mig -cgi ${profile} -C)`;
}

/**
 * What replicas hold, over one inventory: `assign` places and records, `release` frees a
 * replica's devices once its process is gone, `hold` records what an adopted replica was given
 * by an earlier karb. Still no I/O: the runtime owns when each is called.
 */
export class GpuAllocator {
  #inventory: GpuInventory = { gpus: [], problem: 'GPUs not discovered yet' };
  readonly #holdings = new Map<string, Holding>();
  readonly settings: AllocatorSettings;

  constructor(settings: AllocatorSettings) {
    this.settings = settings;
  }

  get inventory(): GpuInventory {
    return this.#inventory;
  }

  set inventory(inventory: GpuInventory) {
    this.#inventory = inventory;
  }

  holdings(): Holding[] {
    return [...this.#holdings.values()];
  }

  /** Places the request for `replica` and records it when it fits. */
  assign(replica: string, request: AcceleratorRequest): GpuPlacement {
    const others = this.holdings().filter((h) => h.replica !== replica);
    const placement = place(this.#inventory, others, request, this.settings);
    if (placement.fits) this.#holdings.set(replica, { replica, mode: placement.mode, devices: placement.devices });
    return placement;
  }

  hold(replica: string, mode: HoldMode, devices: string[]): void {
    if (devices.length > 0) this.#holdings.set(replica, { replica, mode, devices: [...devices] });
  }

  release(replica: string): boolean {
    return this.#holdings.delete(replica);
  }
}
