/**
 * Seasonal memory for GASCL: the replicas a service needed over its last period
 * (a day, a week, whatever the service declares), one slot per stretch of the
 * period, so a rise that came at this time one period ago can be provisioned
 * before it comes again. The forecast is the plainest seasonal one: the same
 * time one period ago, the highest need in the stretch ahead. It needs no
 * fitting and no tuning, and it is exactly right for a pattern that repeats;
 * where the pattern drifts, the reactive needs still act on what is observed.
 *
 * The ring is plain data (it lives in the decider's JSON state): slot i holds
 * the highest need seen while the clock was in that stretch of the period, and
 * the number of the period it was seen in, so a value older than one period
 * (a day the service was not running) is never read as yesterday's.
 */

/** At most this many slots per period (5-minute slots for a day). */
export const SEASON_MAX_SLOTS = 288;
/** Slots are at least this long: shorter ones would follow noise, not the season. */
export const SEASON_MIN_SLOT_MS = 60_000;

export interface SeasonalMemory {
  periodMs: number;
  slotMs: number;
  /** The highest need recorded in each slot… */
  needs: number[];
  /** …and the period it was recorded in (floor(time / periodMs)); -1 when empty. */
  periods: number[];
}

export function emptySeason(periodMs: number): SeasonalMemory {
  const slotMs = Math.max(SEASON_MIN_SLOT_MS, Math.ceil(periodMs / SEASON_MAX_SLOTS));
  const slots = Math.ceil(periodMs / slotMs);
  return { periodMs, slotMs, needs: new Array<number>(slots).fill(0), periods: new Array<number>(slots).fill(-1) };
}

/** A memory read back from state, if it is one for this period; else an empty one. */
export function seasonFor(value: unknown, periodMs: number): SeasonalMemory {
  const m = value as Partial<SeasonalMemory> | undefined;
  const valid =
    m !== undefined && m !== null && m.periodMs === periodMs && typeof m.slotMs === 'number' && Array.isArray(m.needs) && Array.isArray(m.periods) &&
    m.needs.length === m.periods.length && m.needs.length === Math.ceil(periodMs / m.slotMs);
  return valid ? (m as SeasonalMemory) : emptySeason(periodMs);
}

function slotOf(m: SeasonalMemory, at: number): { slot: number; period: number } {
  const period = Math.floor(at / m.periodMs);
  return { slot: Math.min(m.needs.length - 1, Math.floor((at - period * m.periodMs) / m.slotMs)), period };
}

/** The memory with `need` recorded at `now`: the slot keeps the highest need of this period. */
export function recordSeason(m: SeasonalMemory, need: number, now: number): SeasonalMemory {
  const { slot, period } = slotOf(m, now);
  const same = m.periods[slot] === period;
  if (same && m.needs[slot]! >= need) return m;
  const needs = m.needs.slice();
  const periods = m.periods.slice();
  needs[slot] = same ? Math.max(needs[slot]!, need) : need;
  periods[slot] = period;
  return { ...m, needs, periods };
}

/**
 * The highest need recorded one period before any moment in [from, to], or
 * undefined when no slot of that stretch was seen one period earlier.
 */
export function forecastNeed(m: SeasonalMemory, from: number, to: number): number | undefined {
  let best: number | undefined;
  // Slot by slot, from each slot's start: the period's last slot may be shorter than slotMs.
  for (let at = from; at <= to; ) {
    const { slot, period } = slotOf(m, at);
    if (m.periods[slot] === period - 1) best = Math.max(best ?? 0, m.needs[slot]!);
    at = slot === m.needs.length - 1 ? (period + 1) * m.periodMs : period * m.periodMs + (slot + 1) * m.slotMs;
  }
  return best;
}
