/**
 * Burst memory for GASCL: the service's own bursts (when each began and the
 * most replicas it needed), so the headroom kept for the next one, and how long
 * it is kept, come from what this service has shown rather than from constants.
 * Nodes take minutes to provision, so a burst shorter than that is served only
 * by capacity that is already there when it begins.
 *
 * | What the history shows                     | Headroom (the bursts' peak need) is kept…                 |
 * | nothing                                    | never                                                     |
 * | a burst now                                | while it lasts                                            |
 * | one burst                                  | for BURST_FIRST_HOLD_MS after it began                    |
 * | bursts at irregular spacings               | until 1.5× the longest spacing seen has passed            |
 * | bursts at a regular spacing (≥ 2 spacings, | from a lead time before the next is due until it ends, or |
 * | each within BURST_REGULARITY of the median, | half a spacing after it was due (then: irregular)         |
 * | none of them absorbed)                      |                                                           |
 *
 * Plain data (it lives in the decider's JSON state); every function is pure.
 */

export interface BurstRecord {
  /** When the burst began (ms since the epoch). */
  at: number;
  /** The most replicas it needed… */
  peak: number;
  /**
   * …read, at least once, behind a backlog: then the demand is partly inferred (completions are
   * capped by capacity; what arrived is what completed, what was refused and how the queue grew),
   * so a peak read without one is preferred.
   */
  capped?: boolean;
  /** No panic showed it: demand came back near the kept headroom, which met it. Such bursts say they recur, not when. */
  absorbed?: boolean;
}

/** Bursts remembered. */
export const BURSTS_KEPT = 8;
/** Headroom after the only burst seen: nothing says when the next comes, so long enough to see one. */
export const BURST_FIRST_HOLD_MS = 15 * 60_000;
/** Spacings within this fraction of their median make a regular pattern. */
export const BURST_REGULARITY = 0.2;
/** The headroom is the highest peak of this many latest bursts. */
const PEAKS_CONSIDERED = 3;

/** The history with this decision's observation: a burst begins, goes on (its peak rises), or none. */
export function recordBurst(history: readonly BurstRecord[], inBurst: boolean, wasInBurst: boolean, need: number, capped: boolean, now: number, absorbed = false): BurstRecord[] {
  if (!inBurst) return history as BurstRecord[];
  const last = history[history.length - 1];
  if (wasInBurst && last !== undefined) {
    if (need <= last.peak && (!capped || last.capped === true)) return history as BurstRecord[];
    return [...history.slice(0, -1), { ...last, peak: Math.max(last.peak, need), ...(capped || last.capped === true ? { capped: true } : {}) }];
  }
  return [...history.slice(-(BURSTS_KEPT - 1)), { at: now, peak: need, ...(capped ? { capped: true } : {}), ...(absorbed ? { absorbed: true } : {}) }];
}

/** The headroom: the highest peak of the latest bursts, read without a backlog where any was. */
function headroomOf(history: readonly BurstRecord[]): number {
  const latest = history.slice(-PEAKS_CONSIDERED);
  const measured = latest.filter((b) => b.capped !== true);
  return Math.max(...(measured.length > 0 ? measured : latest).map((b) => b.peak));
}

export interface BurstHeadroom {
  replicas: number;
  /** For people: why it is kept now. */
  why: string;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const minutes = (ms: number): string => `${Math.round(ms / 6000) / 10} min`;

/**
 * The headroom to keep at `now`, if any: `leadMs` is how long new replicas take
 * to serve (cold start and a node's provisioning), so a due burst is met by
 * replicas asked for that long before it.
 */
export function burstHeadroom(history: readonly BurstRecord[], inBurst: boolean, now: number, leadMs: number): BurstHeadroom | undefined {
  const last = history[history.length - 1];
  if (last === undefined) return undefined;
  const replicas = headroomOf(history);
  if (inBurst) return { replicas, why: `in a burst; bursts here have needed ${replicas}` };
  const spacings = history.slice(1).map((b, i) => b.at - history[i]!.at);
  const since = now - last.at;
  if (spacings.length === 0) {
    return since < BURST_FIRST_HOLD_MS ? { replicas, why: `a burst needed ${replicas} ${minutes(since)} ago; keeping them until the next shows how bursts come` } : undefined;
  }
  const recent = spacings.slice(-(BURSTS_KEPT - 1));
  const typical = median(recent);
  // Only bursts a panic showed can make a schedule: ones the headroom absorbed came when they came.
  const timed = !history.slice(-(recent.length + 1)).some((b) => b.absorbed === true);
  const regular = timed && recent.length >= 2 && recent.every((s) => Math.abs(s - typical) <= BURST_REGULARITY * typical);
  if (regular) {
    const due = last.at + typical;
    if (now >= due - leadMs && now <= due + typical / 2) {
      return { replicas, why: `bursts come every ${minutes(typical)} and need ${replicas}; the next is due in ${minutes(Math.max(0, due - now))}` };
    }
    if (now < due - leadMs) return undefined;
  }
  const holdMs = 1.5 * Math.max(...recent);
  return since < holdMs ? { replicas, why: `bursts came up to ${minutes(Math.max(...recent))} apart and needed ${replicas}; the last ${minutes(since)} ago` } : undefined;
}
