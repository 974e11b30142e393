import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_SLO_PERIOD_MS, RECORDED_WINDOWS, SLO_PERIOD_MS, promDuration, scaleWindow } from './burn-windows.ts';

test('the recorded windows are the workbook’s seven, shortest first', () => {
  assert.deepEqual(RECORDED_WINDOWS.map((w) => w.name), ['5m', '30m', '1h', '2h', '6h', '1d', '3d']);
});

test('windows scale with the SLO period: 30 days keeps them, 1 day divides them by 30', () => {
  assert.equal(promDuration(scaleWindow(3_600_000, SLO_PERIOD_MS)), '1h');
  assert.equal(promDuration(scaleWindow(300_000, 86_400_000)), '10s');
  assert.equal(promDuration(scaleWindow(3 * 86_400_000, 86_400_000)), '144m');
  // The shortest period allowed keeps the 5-minute window at one second.
  assert.equal(scaleWindow(300_000, MIN_SLO_PERIOD_MS), 1000);
});

test('Prometheus durations use the largest unit that writes them exactly', () => {
  for (const [ms, text] of [[86_400_000, '1d'], [7_200_000, '2h'], [90_000, '90s'], [1500, '1500ms'], [2_880_000, '48m']] as const) {
    assert.equal(promDuration(ms), text);
  }
  assert.throws(() => promDuration(0), /positive whole number/);
  assert.throws(() => promDuration(1.5), /positive whole number/);
});
