import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SCRAPE_INTERVAL_MS, RECORDED_WINDOWS, SCRAPES_PER_WINDOW, SLO_PERIOD_MS, minSloPeriodMs, minWindowMs, promDuration, scaleWindow } from './burn-windows.ts';

test('the recorded windows are the workbook’s seven, shortest first', () => {
  assert.deepEqual(RECORDED_WINDOWS.map((w) => w.name), ['5m', '30m', '1h', '2h', '6h', '1d', '3d']);
});

test('windows scale with the SLO period: 30 days keeps them, 1 day divides them by 30', () => {
  assert.equal(promDuration(scaleWindow(3_600_000, SLO_PERIOD_MS)), '1h');
  assert.equal(promDuration(scaleWindow(300_000, 86_400_000)), '10s');
  assert.equal(promDuration(scaleWindow(3 * 86_400_000, 86_400_000)), '144m');
});

test('the shortest SLO period keeps the shortest window at four scrapes: 6d at the default 15 s, 1d at 2.5 s', () => {
  assert.equal(DEFAULT_SCRAPE_INTERVAL_MS, 15_000);
  const cases: Array<[scrapeMs: number, period: string]> = [
    [15_000, '6d'], // the 5-minute window is one minute: 4 scrapes
    [2_500, '1d'], // the 5-minute window is 10 s
    [1_000, '576m'],
  ];
  for (const [scrapeMs, period] of cases) {
    const minPeriod = minSloPeriodMs(scrapeMs);
    assert.equal(promDuration(minPeriod), period, `${scrapeMs} ms`);
    assert.equal(scaleWindow(RECORDED_WINDOWS[0]!.ms, minPeriod), minWindowMs(scrapeMs));
    assert.equal(minWindowMs(scrapeMs), SCRAPES_PER_WINDOW * scrapeMs);
  }
  assert.equal(minSloPeriodMs(), minSloPeriodMs(DEFAULT_SCRAPE_INTERVAL_MS));
});

test('Prometheus durations use the largest unit that writes them exactly', () => {
  for (const [ms, text] of [[86_400_000, '1d'], [7_200_000, '2h'], [90_000, '90s'], [1500, '1500ms'], [2_880_000, '48m']] as const) {
    assert.equal(promDuration(ms), text);
  }
  assert.throws(() => promDuration(0), /positive whole number/);
  assert.throws(() => promDuration(1.5), /positive whole number/);
});
