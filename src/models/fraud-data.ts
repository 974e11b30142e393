/**
 * A seeded synthetic card-transaction data set for karb's example fraud models.
 * Each row has FRAUD_FEATURES in a fixed order (the models' input layout); the label
 * comes from a hidden, noisy generative rule, so a model has something real to learn
 * and no model can be perfect.
 */
import { seededRandom, type Random } from '../util/prng.ts';

/** Column order of every feature row and of the models' `features` input. */
export const FRAUD_FEATURES = [
  'amount_usd',
  'hour_of_day',
  'merchant_risk',
  'distance_from_home_km',
  'transactions_last_hour',
  'is_foreign',
  'card_present',
  'account_age_days',
] as const;

export type FraudFeature = (typeof FRAUD_FEATURES)[number];
export const FRAUD_FEATURE_COUNT = FRAUD_FEATURES.length;

/** One transaction by feature name. */
export type Transaction = Record<FraudFeature, number>;

/** Flattens transactions into the models' row-major [n, 8] input layout. */
export function toFeatureRows(transactions: readonly Transaction[]): Float32Array {
  const out = new Float32Array(transactions.length * FRAUD_FEATURE_COUNT);
  transactions.forEach((tx, row) => {
    FRAUD_FEATURES.forEach((name, col) => {
      out[row * FRAUD_FEATURE_COUNT + col] = tx[name];
    });
  });
  return out;
}

/** Reference transactions used in docs and tests: one ordinary, one that looks like fraud. */
export const EXAMPLE_TRANSACTIONS = {
  /** Lunch at a local restaurant, card in hand, long-standing account. */
  benign: {
    amount_usd: 23.5,
    hour_of_day: 13,
    merchant_risk: 0.1,
    distance_from_home_km: 3.2,
    transactions_last_hour: 0,
    is_foreign: 0,
    card_present: 1,
    account_age_days: 1460,
  },
  /** A 3 a.m. electronics purchase abroad, card not present, five other charges in the past hour, 12-day-old account. */
  risky: {
    amount_usd: 1899,
    hour_of_day: 3,
    merchant_risk: 0.55,
    distance_from_home_km: 4200,
    transactions_last_hour: 5,
    is_foreign: 1,
    card_present: 0,
    account_age_days: 12,
  },
} as const satisfies Record<string, Transaction>;

interface MerchantCategory {
  name: string;
  /** The category's risk score (the merchant_risk feature). */
  risk: number;
  /** Relative frequency among transactions. */
  weight: number;
  /** Probability that the card is physically present. */
  cardPresent: number;
  /** Median amount in USD. */
  medianAmount: number;
}

const MERCHANT_CATEGORIES: readonly MerchantCategory[] = [
  { name: 'grocery', risk: 0.05, weight: 0.24, cardPresent: 0.95, medianAmount: 45 },
  { name: 'restaurant', risk: 0.1, weight: 0.18, cardPresent: 0.9, medianAmount: 28 },
  { name: 'fuel', risk: 0.15, weight: 0.12, cardPresent: 0.97, medianAmount: 40 },
  { name: 'pharmacy', risk: 0.12, weight: 0.06, cardPresent: 0.9, medianAmount: 22 },
  { name: 'online_retail', risk: 0.35, weight: 0.2, cardPresent: 0.02, medianAmount: 60 },
  { name: 'travel', risk: 0.45, weight: 0.06, cardPresent: 0.2, medianAmount: 320 },
  { name: 'electronics', risk: 0.55, weight: 0.08, cardPresent: 0.4, medianAmount: 180 },
  { name: 'gift_cards', risk: 0.8, weight: 0.03, cardPresent: 0.3, medianAmount: 100 },
  { name: 'crypto_exchange', risk: 0.9, weight: 0.03, cardPresent: 0.01, medianAmount: 250 },
];

/** Relative activity per hour of the day: quiet at night, busy at lunch and early evening. */
const HOURLY_ACTIVITY = [
  0.5, 0.3, 0.2, 0.15, 0.15, 0.3, 0.8, 1.6, 2.6, 3.2, 3.6, 4.2, 5, 4.6, 4, 3.8, 4, 4.6, 5, 4.6, 3.8, 2.8, 1.8, 1,
];

export interface FraudDataSet {
  rows: number;
  /** Row-major [rows, 8] in FRAUD_FEATURES order. */
  features: Float32Array;
  /** 1 = fraud, 0 = legitimate. */
  labels: Uint8Array;
}

export interface FraudDataOptions {
  rows: number;
  seed: number;
}

/**
 * The hidden rule: log-odds of fraud for one transaction, before noise. Night hours,
 * large amounts, distance, bursts of activity, foreign and card-not-present
 * transactions and young accounts all raise it. The night effect is not monotonic in
 * hour_of_day, which a linear model cannot capture but an MLP can.
 */
export function fraudLogit(tx: Transaction): number {
  const night = tx.hour_of_day <= 4 || tx.hour_of_day >= 23 ? 1 : 0;
  const lateEvening = tx.hour_of_day >= 21 && tx.hour_of_day <= 22 ? 1 : 0;
  const newAccount = tx.account_age_days < 30 ? 1 : 0;
  const youngAccount = tx.account_age_days < 180 ? 1 : 0;
  return (
    -7.1 +
    1.6 * night +
    0.5 * lateEvening +
    0.75 * Math.log1p(tx.amount_usd / 50) +
    2.2 * tx.merchant_risk +
    0.45 * Math.log1p(tx.distance_from_home_km / 25) +
    0.45 * Math.min(tx.transactions_last_hour, 8) +
    0.9 * tx.is_foreign +
    1.1 * (1 - tx.card_present) +
    1.4 * newAccount +
    0.6 * youngAccount
  );
}

/** Standard deviation of the Gaussian noise added to the log-odds (unobserved factors). */
const LOGIT_NOISE = 0.8;

/** Generates `rows` transactions and labels; the same options always give the same data. */
export function generateFraudData(options: FraudDataOptions): FraudDataSet {
  const { rows, seed } = options;
  const rng = seededRandom(seed);
  const features = new Float32Array(rows * FRAUD_FEATURE_COUNT);
  const labels = new Uint8Array(rows);
  const merchantCdf = cumulative(MERCHANT_CATEGORIES.map((m) => m.weight));
  const hourCdf = cumulative(HOURLY_ACTIVITY);

  for (let row = 0; row < rows; row++) {
    const tx = sampleTransaction(rng, merchantCdf, hourCdf);
    const z = fraudLogit(tx) + LOGIT_NOISE * rng.normal();
    labels[row] = rng.next() < sigmoid(z) ? 1 : 0;
    FRAUD_FEATURES.forEach((name, col) => {
      features[row * FRAUD_FEATURE_COUNT + col] = tx[name];
    });
  }
  return { rows, features, labels };
}

function sampleTransaction(rng: Random, merchantCdf: Float64Array, hourCdf: Float64Array): Transaction {
  const merchant = MERCHANT_CATEGORIES[pick(rng, merchantCdf)]!;
  const hour = pick(rng, hourCdf);
  const amount = Math.min(25_000, merchant.medianAmount * Math.exp(0.9 * rng.normal()));

  // Most purchases happen near home; a few are made while travelling.
  const travelling = rng.chance(0.06);
  const distance = travelling ? Math.exp(rng.uniform(Math.log(80), Math.log(9000))) : -8 * Math.log(1 - rng.next());
  const isForeign = rng.chance(travelling ? (distance > 1000 ? 0.6 : 0.1) : 0.01) ? 1 : 0;

  // Transactions in the last hour: usually none or one, occasionally a burst.
  let recent = 0;
  while (recent < 20 && rng.chance(recent === 0 ? 0.35 : 0.3)) recent++;

  // Most accounts are years old (median about 2.5 years); one in ten was opened in the last quarter.
  const accountAge = rng.chance(0.1)
    ? 1 + rng.int(90)
    : Math.round(Math.min(7300, Math.max(90, 900 * Math.exp(0.8 * rng.normal()))));

  return {
    amount_usd: Math.round(amount * 100) / 100,
    hour_of_day: hour,
    merchant_risk: merchant.risk,
    distance_from_home_km: Math.round(distance * 10) / 10,
    transactions_last_hour: recent,
    is_foreign: isForeign,
    card_present: rng.chance(merchant.cardPresent) ? 1 : 0,
    account_age_days: accountAge,
  };
}

function cumulative(weights: readonly number[]): Float64Array {
  const total = weights.reduce((a, b) => a + b, 0);
  const cdf = new Float64Array(weights.length);
  let acc = 0;
  weights.forEach((w, i) => {
    acc += w / total;
    cdf[i] = acc;
  });
  return cdf;
}

function pick(rng: Random, cdf: Float64Array): number {
  const u = rng.next();
  for (let i = 0; i < cdf.length; i++) if (u < cdf[i]!) return i;
  return cdf.length - 1;
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}
