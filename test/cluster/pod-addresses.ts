/**
 * Pod IPs for the test node agent, all on this machine's `lo`, from one of two pod networks:
 *
 * | Network    | Addresses            | Needs                    | In EndpointSlices                          |
 * |------------|----------------------|--------------------------|--------------------------------------------|
 * | `loopback` | 127.<b>.0.1 upward   | nothing (Linux routes    | no: the API server refuses loopback        |
 * |            |                      | all of 127/8 to lo)      | addresses in Endpoints and EndpointSlices  |
 * | `routable` | 198.18.<b>.1 to .254 | root or CAP_NET_ADMIN:   | yes                                        |
 * |            |                      | each is added to lo as   |                                            |
 * |            |                      | a /32 and removed after  |                                            |
 *
 * 198.18.0.0/15 is the range set aside for benchmarking network devices (RFC 2544): not routed on
 * the internet and rarely used on a real network.
 *
 * Each agent claims a block <b> of its own by creating a lock file holding its pid in
 * <tmpdir>/karb-node-agent-ips/ (the first agent on a machine gets 127.1.x.y; a second, in another
 * test file running at the same time, 127.2.x.y; a lock left by a dead process is taken over), so
 * agents in different processes never hand out the same address. Within its block an agent
 * allocates round-robin, so a new pod does not take the address of a pod that just went away.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '../../src/runtime/local/process-identity.ts';

export type PodNetwork = 'loopback' | 'routable';

const LOCK_DIR = path.join(tmpdir(), 'karb-node-agent-ips');
/** 127.0.x.y holds 127.0.0.1, which everything else on the machine uses. */
const FIRST_BLOCK = 1;
const LAST_BLOCK = 254;
const ROUTABLE_PREFIX = '198.18';

export class PodAddresses {
  readonly network: PodNetwork;
  readonly block: number;
  readonly #lock: string;
  readonly #inUse = new Set<number>();
  readonly #size: number;
  #next = 1;

  private constructor(network: PodNetwork, block: number, lock: string) {
    this.network = network;
    this.block = block;
    this.#lock = lock;
    this.#size = network === 'loopback' ? 65_534 : 254;
  }

  /** Claims a free block; throws when all are held by live processes, or (routable) when lo cannot take addresses. */
  static claim(network: PodNetwork = 'loopback'): PodAddresses {
    mkdirSync(LOCK_DIR, { recursive: true });
    const prefix = network === 'loopback' ? '127' : ROUTABLE_PREFIX;
    for (let block = FIRST_BLOCK; block <= LAST_BLOCK; block++) {
      const lock = path.join(LOCK_DIR, `${prefix}.${block}.lock`);
      if (!tryLock(lock)) continue;
      const addresses = new PodAddresses(network, block, lock);
      if (network === 'routable') {
        try {
          addresses.#removeLeftovers();
          addresses.#probe();
        } catch (err) {
          addresses.close();
          throw err;
        }
      }
      return addresses;
    }
    throw new Error(`no free address block for pod IPs: every lock in ${LOCK_DIR} is held by a live process`);
  }

  /** The first address pods of this block get. */
  get first(): string {
    return this.#address(1);
  }

  /** The next free address of the block (added to lo on the routable network). */
  allocate(): string {
    for (let i = 0; i < this.#size; i++) {
      const n = this.#next;
      this.#next = (this.#next % this.#size) + 1;
      if (this.#inUse.has(n)) continue;
      const ip = this.#address(n);
      if (this.network === 'routable') ip_(['addr', 'add', `${ip}/32`, 'dev', 'lo'], false);
      this.#inUse.add(n);
      return ip;
    }
    throw new Error(`all ${this.#size} pod addresses of block ${this.block} are in use`);
  }

  release(ip: string): void {
    const n = this.#number(ip);
    if (n === undefined || !this.#inUse.delete(n)) return;
    if (this.network === 'routable') ip_(['addr', 'del', `${ip}/32`, 'dev', 'lo'], true);
  }

  /** Gives the block back (and, routable, takes its addresses off lo). */
  close(): void {
    for (const n of [...this.#inUse]) this.release(this.#address(n));
    try {
      if (readFileSync(this.#lock, 'utf8').trim() === String(process.pid)) rmSync(this.#lock, { force: true });
    } catch {
      // already gone
    }
  }

  #address(n: number): string {
    return this.network === 'loopback' ? `127.${this.block}.${Math.floor(n / 256)}.${n % 256}` : `${ROUTABLE_PREFIX}.${this.block}.${n}`;
  }

  #number(ip: string): number | undefined {
    const parts = ip.split('.').map(Number);
    if (this.network === 'loopback') return parts[0] === 127 && parts[1] === this.block ? parts[2]! * 256 + parts[3]! : undefined;
    return ip.startsWith(`${ROUTABLE_PREFIX}.${this.block}.`) ? parts[3] : undefined;
  }

  /** Addresses of this block left on lo by an agent that was killed. */
  #removeLeftovers(): void {
    const shown = ip_(['-4', '-o', 'addr', 'show', 'dev', 'lo'], false);
    for (const m of shown.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\/32/g)) {
      if (m[1]!.startsWith(`${ROUTABLE_PREFIX}.${this.block}.`)) ip_(['addr', 'del', `${m[1]}/32`, 'dev', 'lo'], true);
    }
  }

  /** Adding an address to lo is what the routable network needs: try it once, up front. */
  #probe(): void {
    const ip = this.#address(this.#size);
    ip_(['addr', 'add', `${ip}/32`, 'dev', 'lo'], false);
    ip_(['addr', 'del', `${ip}/32`, 'dev', 'lo'], true);
  }
}

/** Runs iproute2's `ip`; throws saying what the routable network needs when it fails (unless `quiet`). */
function ip_(args: string[], quiet: boolean): string {
  const run = spawnSync('ip', args, { encoding: 'utf8' });
  const failed = run.error ?? (run.status !== 0 && !/File exists|Cannot assign requested address/.test(run.stderr) ? new Error(run.stderr.trim()) : undefined);
  if (failed && !quiet) {
    throw new Error(
      `the routable pod network adds each pod's address to lo, and \`ip ${args.join(' ')}\` failed (${failed.message}): it needs iproute2 and root or CAP_NET_ADMIN; ` +
        `without them use podNetwork 'loopback' (127.x addresses, which EndpointSlices cannot hold)`,
    );
  }
  return run.stdout ?? '';
}

function tryLock(lock: string): boolean {
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let holder = NaN;
  try {
    holder = Number(readFileSync(lock, 'utf8').trim());
  } catch {
    return false; // removed meanwhile: another block will do
  }
  if (Number.isInteger(holder) && holder > 0 && isProcessAlive(holder)) return false;
  // Left by a process that is gone: take it over, under a second exclusive file so that two
  // processes finding the same stale lock cannot both win. (One that dies inside these few lines
  // leaves the block skipped, not shared.)
  const takeover = `${lock}.takeover`;
  try {
    writeFileSync(takeover, String(process.pid), { flag: 'wx' });
  } catch {
    return false;
  }
  try {
    const now = Number(readFileSync(lock, 'utf8').trim());
    if (now !== holder && Number.isInteger(now) && isProcessAlive(now)) return false;
    writeFileSync(lock, String(process.pid));
    return true;
  } catch {
    return false;
  } finally {
    rmSync(takeover, { force: true });
  }
}

