import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BURSTS_KEPT, BURST_FIRST_HOLD_MS, BURST_REGULARITY, burstHeadroom, recordBurst, type BurstRecord } from './bursts.ts';

const NOW = 1_000_000_000;
const MIN = 60_000;
const LEAD = 10 * MIN;

/** Bursts that began these many minutes after NOW, each with peak 6 unless given as [minutes, peak, capped]. */
function bursts(...at: (number | [number, number, boolean?])[]): BurstRecord[] {
  return at.map((b) => (typeof b === 'number' ? { at: NOW + b * MIN, peak: 6 } : { at: NOW + b[0] * MIN, peak: b[1], ...(b[2] === true ? { capped: true } : {}) }));
}
/** Records in a form that does not care whether `capped` is absent or false. */
const plain = (h: readonly BurstRecord[]) => h.map((b) => ({ at: b.at, peak: b.peak, capped: b.capped === true }));
/** The replicas held `minutes` after NOW, if any. */
const held = (h: BurstRecord[], minutes: number) => burstHeadroom(h, false, NOW + minutes * MIN, LEAD)?.replicas;
const why = (h: BurstRecord[], minutes: number) => burstHeadroom(h, false, NOW + minutes * MIN, LEAD)?.why ?? '';

test('recordBurst: a burst that begins is a new record; no burst leaves the history as it is', () => {
  assert.deepEqual(plain(recordBurst([], true, false, 6, false, NOW)), [{ at: NOW, peak: 6, capped: false }]);
  assert.deepEqual(plain(recordBurst([], true, true, 6, true, NOW)), [{ at: NOW, peak: 6, capped: true }]); // none to go on with
  const h = bursts(0);
  assert.deepEqual(plain(recordBurst(h, true, false, 4, false, NOW + 30 * MIN)), [...plain(h), { at: NOW + 30 * MIN, peak: 4, capped: false }]);
  assert.equal(recordBurst(h, false, true, 50, true, NOW + MIN), h);
  assert.equal(recordBurst(h, false, false, 50, false, NOW + MIN), h);
  assert.deepEqual(plain(h), [{ at: NOW, peak: 6, capped: false }]); // never mutated
});

test('recordBurst: a burst that goes on raises its peak, and capped sticks once set', () => {
  let h = bursts(0);
  assert.equal(recordBurst(h, true, true, 4, false, NOW + 10_000), h);
  assert.equal(recordBurst(h, true, true, 6, false, NOW + 10_000), h); // an equal need changes nothing
  h = recordBurst(h, true, true, 9, false, NOW + 20_000);
  assert.deepEqual(plain(h), [{ at: NOW, peak: 9, capped: false }]); // still the burst that began at NOW
  h = recordBurst(h, true, true, 5, true, NOW + 30_000); // lower, but read behind a backlog
  assert.deepEqual(plain(h), [{ at: NOW, peak: 9, capped: true }]);
  h = recordBurst(h, true, true, 12, false, NOW + 40_000);
  assert.deepEqual(plain(h), [{ at: NOW, peak: 12, capped: true }]);
  assert.equal(recordBurst(h, true, true, 3, true, NOW + 50_000), h);
});

test('recordBurst: keeps the latest eight bursts', () => {
  assert.equal(BURSTS_KEPT, 8);
  const record = (n: number) => Array.from({ length: n }, (_, i) => i).reduce<BurstRecord[]>((h, i) => recordBurst(h, true, false, i, false, NOW + i * MIN), []);
  assert.deepEqual(record(8).map((b) => b.peak), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(record(10).map((b) => b.peak), [2, 3, 4, 5, 6, 7, 8, 9]);
});

test('burstHeadroom: none without a history; in a burst, the headroom whatever the pattern', () => {
  assert.equal(burstHeadroom([], false, NOW, LEAD), undefined);
  assert.equal(burstHeadroom([], true, NOW, LEAD), undefined);
  // Between regular bursts, long before the next is due: held only because one is on now.
  const h = bursts(0, 60, 120);
  assert.equal(held(h, 125), undefined);
  const now = burstHeadroom(h, true, NOW + 125 * MIN, LEAD);
  assert.equal(now?.replicas, 6);
  assert.match(now?.why ?? '', /in a burst.*needed 6/);
});

test('burstHeadroom: after the only burst, held for 15 minutes from when it began', () => {
  assert.equal(BURST_FIRST_HOLD_MS, 15 * MIN);
  const h = bursts([0, 7]);
  assert.equal(burstHeadroom(h, false, NOW + BURST_FIRST_HOLD_MS - 1, LEAD)?.replicas, 7);
  assert.match(why(h, 5), /burst needed 7 5 min ago.*until the next/);
  assert.equal(burstHeadroom(h, false, NOW + BURST_FIRST_HOLD_MS, LEAD), undefined);
});

test('burstHeadroom: regular bursts are met from the lead time before the next is due until half a spacing after', () => {
  const h = bursts(0, 60, 120); // the next is due at 180
  assert.equal(held(h, 121), undefined); // not held between bursts
  assert.equal(burstHeadroom(h, false, NOW + 170 * MIN - 1, LEAD), undefined);
  assert.equal(held(h, 170), 6);
  assert.match(why(h, 170), /every 60 min.*due in 10 min/);
  assert.equal(held(h, 210), 6); // half a spacing after it was due
  assert.match(why(h, 210), /every 60 min/);
  // Then the irregular rule: 1.5 × 60 min after the last, already past.
  assert.equal(burstHeadroom(h, false, NOW + 210 * MIN + 1, LEAD), undefined);
});

test('burstHeadroom: a due burst that has not come falls back to the irregular rule', () => {
  const h = bursts(0, 50, 110, 180); // spacings 50, 60, 70: median 60, due at 240, half a spacing to 270
  assert.equal(held(h, 225), undefined); // the irregular rule alone would hold here (45 < 105 min)
  assert.match(why(h, 270), /every 60 min/);
  assert.match(why(h, 271), /up to 70 min apart.*needed 6/); // 1.5 × 70 min from the last, until 285
  assert.equal(burstHeadroom(h, false, NOW + 285 * MIN - 1, LEAD)?.replicas, 6);
  assert.equal(held(h, 285), undefined);
});

test('burstHeadroom: spacings within 20% of their median are regular, beyond it are not', () => {
  assert.equal(BURST_REGULARITY, 0.2);
  // 48, 60, 72 min: each exactly 12 min (20%) from the median; 30 min after the last, nothing is due yet.
  assert.equal(held(bursts(0, 48, 108, 180), 210), undefined);
  // 47, 60, 73 min: irregular, so held until 1.5 × 73 min after the last.
  const irregular = bursts(0, 47, 107, 180);
  assert.equal(held(irregular, 210), 6);
  assert.match(why(irregular, 210), /up to 73 min apart/);
});

test('recordBurst and burstHeadroom: a burst the headroom absorbed is kept as such, and makes no schedule', () => {
  const h = recordBurst(bursts(0, 60), true, false, 5, false, NOW + 120 * MIN, true);
  assert.deepEqual(h.at(-1), { at: NOW + 120 * MIN, peak: 5, absorbed: true });
  assert.equal(recordBurst(h, true, true, 7, false, NOW + 121 * MIN).at(-1)!.absorbed, true, 'it stays absorbed as its peak rises');
  // Spacings 60 and 60 would be regular, nothing held between bursts (as bursts(0, 60, 120) is, above);
  // with the last absorbed they are not: held until 1.5 × 60 min after it.
  assert.equal(held(h, 121), 6);
  assert.match(why(h, 121), /up to 60 min apart/);
  assert.equal(held(h, 209), 6);
  assert.equal(held(h, 210), undefined);
});

test('burstHeadroom: irregular bursts are held until 1.5× the longest spacing after the last', () => {
  const h = bursts(0, 10, 50); // spacings 10 and 40 min
  assert.equal(held(h, 51), 6);
  assert.match(why(h, 51), /up to 40 min apart.*last 1 min ago/);
  assert.equal(burstHeadroom(h, false, NOW + 110 * MIN - 1, LEAD)?.replicas, 6);
  assert.equal(held(h, 110), undefined);
  // Two bursts are a single spacing, not a pattern: held right after the last, until 1.5 × 60 min.
  const two = bursts(0, 60);
  assert.equal(held(two, 61), 6);
  assert.equal(burstHeadroom(two, false, NOW + 150 * MIN - 1, LEAD)?.replicas, 6);
  assert.equal(held(two, 150), undefined);
});

test('burstHeadroom: the highest peak of the latest three bursts, those read without a backlog preferred', () => {
  const inBurst = (h: BurstRecord[]) => burstHeadroom(h, true, NOW + 100 * MIN, LEAD)?.replicas;
  assert.equal(inBurst(bursts([0, 20], [10, 5], [30, 7], [50, 6])), 7); // the 20 is the fourth latest
  assert.equal(inBurst(bursts([0, 5], [10, 30, true], [30, 6])), 6);
  assert.equal(inBurst(bursts([0, 5], [10, 30, true], [30, 12, true], [50, 10, true])), 30); // all three capped
  const h = bursts([0, 4], [10, 30, true], [50, 9]);
  assert.equal(held(h, 55), 9); // the size outside a burst too
  assert.match(why(h, 55), /needed 9/);
});
