import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SEASON_MAX_SLOTS, SEASON_MIN_SLOT_MS, emptySeason, forecastNeed, recordSeason, seasonFor, type SeasonalMemory } from './seasonal.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Midnight starting period 20 000 of a day-long season; `at(d, h, m)` is d days, h hours, m minutes later. */
const T0 = 20_000 * DAY;
const at = (days: number, hours: number, minutes = 0) => T0 + days * DAY + hours * HOUR + minutes * MIN;

/** A day's memory with each [time, need] recorded in turn. */
function day(...records: [number, number][]): SeasonalMemory {
  return records.reduce((m, [time, need]) => recordSeason(m, need, time), emptySeason(DAY));
}

test('emptySeason: 5-minute slots for a day, never more than 288 slots nor slots under a minute', () => {
  const d = emptySeason(DAY);
  assert.equal(d.slotMs, 5 * MIN);
  assert.equal(d.needs.length, SEASON_MAX_SLOTS);
  assert.deepEqual(d.needs, new Array<number>(288).fill(0));
  assert.deepEqual(d.periods, new Array<number>(288).fill(-1));
  // An hour would be 12.5 s slots at 288 per period: one minute instead, so 60 slots.
  assert.deepEqual([emptySeason(HOUR).slotMs, emptySeason(HOUR).needs.length], [SEASON_MIN_SLOT_MS, 60]);
  // 288 one-minute slots exactly; a millisecond more and the slots grow rather than their number.
  assert.deepEqual([emptySeason(288 * MIN).slotMs, emptySeason(288 * MIN).needs.length], [MIN, 288]);
  assert.deepEqual([emptySeason(288 * MIN + 1).slotMs, emptySeason(288 * MIN + 1).needs.length], [MIN + 1, 288]);
  // A period that is not a whole number of slots ends with a shorter one.
  assert.equal(emptySeason(90_000).needs.length, 2);
});

test('seasonFor: a memory for the same period reads back from JSON state', () => {
  const m = day([at(0, 8), 4], [at(0, 9), 7]);
  const restored = seasonFor(JSON.parse(JSON.stringify(m)), DAY);
  assert.deepEqual(restored, m);
  assert.equal(forecastNeed(restored, at(1, 8, 55), at(1, 9)), 7);
});

test('seasonFor: another period or data that is not a memory starts afresh', () => {
  const m = day([at(0, 8), 4]);
  assert.deepEqual(seasonFor(m, 7 * DAY), emptySeason(7 * DAY));
  const malformed: unknown[] = [
    undefined,
    null,
    'season',
    42,
    {},
    { ...m, needs: m.needs.slice(1) }, // needs and periods differ in length
    { ...m, slotMs: MIN }, // 288 slots of a minute do not make a day
    { ...m, slotMs: '300000' },
    { ...m, periods: {} },
  ];
  for (const value of malformed) assert.deepEqual(seasonFor(value, DAY), emptySeason(DAY), JSON.stringify(value));
});

test('recordSeason: a slot keeps the highest need of the period; the same object when nothing changes', () => {
  const m = day([at(0, 8), 5]);
  assert.equal(m.needs[96], 5); // 08:00 is slot 96 of 5 minutes
  assert.equal(m.periods[96], 20_000);
  assert.equal(recordSeason(m, 3, at(0, 8, 4)), m);
  assert.equal(recordSeason(m, 5, at(0, 8, 5) - 1), m); // the slot's last millisecond, an equal need
  const higher = recordSeason(m, 9, at(0, 8, 5) - 1);
  assert.notEqual(higher, m);
  assert.equal(higher.needs[96], 9);
  // 08:05 starts the next slot: its own value, the 08:00 one untouched.
  const next = recordSeason(m, 2, at(0, 8, 5));
  assert.deepEqual([next.needs[96], next.needs[97], next.periods[97]], [5, 2, 20_000]);
});

test('recordSeason: a new period overwrites the slot, even with a lower need', () => {
  const m = recordSeason(day([at(0, 8), 9]), 2, at(1, 8, 1));
  assert.deepEqual([m.needs[96], m.periods[96]], [2, 20_001]);
});

test('recordSeason: never mutates the memory it is given', () => {
  const m = day([at(0, 8), 5]);
  const before = structuredClone(m);
  Object.freeze(m.needs);
  Object.freeze(m.periods);
  recordSeason(m, 9, at(0, 8)); // same slot and period, higher
  recordSeason(m, 1, at(1, 8)); // same slot, next period
  recordSeason(m, 4, at(0, 12)); // another slot
  assert.deepEqual(m, before);
});

test('forecastNeed: the highest need one period before any moment of the stretch', () => {
  const m = day([at(0, 8), 4], [at(0, 8, 10), 10], [at(0, 8, 20), 6]);
  assert.equal(forecastNeed(m, at(1, 7, 50), at(1, 8, 5)), 4);
  assert.equal(forecastNeed(m, at(1, 7, 50), at(1, 8, 10) - 1), 4); // ends just before the 08:10 slot
  assert.equal(forecastNeed(m, at(1, 7, 50), at(1, 8, 10)), 10); // its first millisecond counts
  assert.equal(forecastNeed(m, at(1, 8, 15), at(1, 8, 15)), undefined); // 08:15 was not seen yesterday
  assert.equal(forecastNeed(m, at(1, 7), at(1, 8) - 1), undefined);
  assert.equal(forecastNeed(m, at(1, 8, 20) - 1, at(1, 8, 20)), 6); // 08:15 unseen, 08:20 seen
  assert.equal(forecastNeed(m, at(1, 7), at(1, 9)), 10);
});

test('forecastNeed: values two periods old, or from this period, are not read as yesterday\'s', () => {
  const m = day([at(0, 8), 10]);
  assert.equal(forecastNeed(m, at(1, 8), at(1, 8, 4)), 10);
  assert.equal(forecastNeed(m, at(2, 8), at(2, 8, 4)), undefined); // the service did not run on day 1
  assert.equal(forecastNeed(m, at(0, 8), at(0, 8, 4)), undefined); // recorded today, not yesterday
});

test('forecastNeed: a stretch crossing into the next period reads the slots recorded this period', () => {
  // Yesterday 23:55 needed 5; this morning 00:00 needed 8. At 23:50 today, tomorrow's 00:00 is this morning's.
  const m = day([at(-1, 23, 55), 5], [at(0, 0), 8]);
  assert.equal(forecastNeed(m, at(0, 23, 50), at(1, 0) - 1), 5);
  assert.equal(forecastNeed(m, at(0, 23, 50), at(1, 0)), 8);
});

test('forecastNeed: a period that is no whole number of slots keeps its shorter last slot in the stretch', () => {
  // 90 s: slots [0, 60 s) and [60 s, 90 s). 7 needed at 70 s, in the short last slot.
  const m = recordSeason(emptySeason(90_000), 7, 70_000);
  assert.equal(forecastNeed(m, 155_000, 155_000), 7);
  // A stretch from 140 s steps slot by slot from each slot's start, so 150–180 s is read.
  assert.equal(forecastNeed(m, 140_000, 210_000), 7);
});
