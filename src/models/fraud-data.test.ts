import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXAMPLE_TRANSACTIONS, FRAUD_FEATURES, FRAUD_FEATURE_COUNT, fraudLogit, generateFraudData, toFeatureRows } from './fraud-data.ts';

const data = generateFraudData({ rows: 20_000, seed: 11 });
const col = (name: (typeof FRAUD_FEATURES)[number]) => FRAUD_FEATURES.indexOf(name);
const value = (row: number, name: (typeof FRAUD_FEATURES)[number]) => data.features[row * FRAUD_FEATURE_COUNT + col(name)]!;

/** Fraud rate among rows matching `predicate`. */
function fraudRate(predicate: (row: number) => boolean): number {
  let n = 0;
  let fraud = 0;
  for (let r = 0; r < data.rows; r++) {
    if (!predicate(r)) continue;
    n++;
    fraud += data.labels[r]!;
  }
  assert.ok(n > 100, `too few rows (${n}) to estimate a rate`);
  return fraud / n;
}

test('same seed gives the same data; another seed gives other data', () => {
  const again = generateFraudData({ rows: 20_000, seed: 11 });
  assert.deepEqual(again.features, data.features);
  assert.deepEqual(again.labels, data.labels);
  const other = generateFraudData({ rows: 20_000, seed: 12 });
  assert.notDeepEqual(other.features, data.features);
});

test('fraud base rate is between 2% and 5%', () => {
  const rate = fraudRate(() => true);
  assert.ok(rate > 0.02 && rate < 0.05, `rate ${rate}`);
});

test('features stay in their documented ranges', () => {
  for (let r = 0; r < data.rows; r++) {
    assert.ok(value(r, 'amount_usd') > 0);
    const hour = value(r, 'hour_of_day');
    assert.ok(Number.isInteger(hour) && hour >= 0 && hour <= 23);
    assert.ok(value(r, 'merchant_risk') >= 0 && value(r, 'merchant_risk') <= 1);
    assert.ok(value(r, 'distance_from_home_km') >= 0);
    assert.ok(Number.isInteger(value(r, 'transactions_last_hour')) && value(r, 'transactions_last_hour') >= 0);
    assert.ok([0, 1].includes(value(r, 'is_foreign')));
    assert.ok([0, 1].includes(value(r, 'card_present')));
    assert.ok(value(r, 'account_age_days') >= 1);
  }
});

test('fraud is more common in each risky condition', () => {
  const pairs: Array<[string, (r: number) => boolean]> = [
    ['night', (r) => value(r, 'hour_of_day') <= 4],
    ['large amount', (r) => value(r, 'amount_usd') > 300],
    ['far from home', (r) => value(r, 'distance_from_home_km') > 500],
    ['burst of transactions', (r) => value(r, 'transactions_last_hour') >= 3],
    ['foreign', (r) => value(r, 'is_foreign') === 1],
    ['card not present', (r) => value(r, 'card_present') === 0],
    ['new account', (r) => value(r, 'account_age_days') < 30],
  ];
  for (const [name, risky] of pairs) {
    const inside = fraudRate(risky);
    const outside = fraudRate((r) => !risky(r));
    assert.ok(inside > 1.5 * outside, `${name}: ${inside.toFixed(4)} vs ${outside.toFixed(4)}`);
  }
});

test('example transactions sit on either side of the hidden rule', () => {
  assert.ok(fraudLogit(EXAMPLE_TRANSACTIONS.risky) > 2);
  assert.ok(fraudLogit(EXAMPLE_TRANSACTIONS.benign) < -5);
  const rows = toFeatureRows([EXAMPLE_TRANSACTIONS.benign, EXAMPLE_TRANSACTIONS.risky]);
  assert.equal(rows.length, 2 * FRAUD_FEATURE_COUNT);
  assert.equal(rows[FRAUD_FEATURE_COUNT + col('amount_usd')], 1899);
});
