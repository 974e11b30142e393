import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rocAuc, AucUndefinedError } from './auc.ts';
import { seededRandom } from '../util/prng.ts';

test('rocAuc on known cases', () => {
  const cases: Array<{ name: string; scores: number[]; labels: number[]; auc: number }> = [
    { name: 'perfect separation', scores: [0.1, 0.2, 0.8, 0.9], labels: [0, 0, 1, 1], auc: 1 },
    { name: 'perfectly inverted', scores: [0.9, 0.8, 0.2, 0.1], labels: [0, 0, 1, 1], auc: 0 },
    { name: 'all scores tied counts one half', scores: [0.5, 0.5, 0.5, 0.5], labels: [0, 1, 0, 1], auc: 0.5 },
    // pairs (pos, neg): (0.8 > 0.1) (0.8 > 0.4) (0.35 > 0.1) (0.35 < 0.4) → 3/4
    { name: 'textbook example', scores: [0.1, 0.4, 0.35, 0.8], labels: [0, 0, 1, 1], auc: 0.75 },
    // pos 0.5 vs negs {0.5, 0.2}: 0.5 + 1; pos 0.9: 1 + 1 → 3.5 / 4
    { name: 'one tie between classes', scores: [0.5, 0.5, 0.2, 0.9], labels: [1, 0, 0, 1], auc: 0.875 },
    { name: 'unsorted input order', scores: [3, 1, 2], labels: [1, 0, 0], auc: 1 },
  ];
  for (const c of cases) assert.equal(rocAuc(c.scores, c.labels), c.auc, c.name);
});

test('rocAuc equals the pairwise definition on random data with ties', () => {
  const rng = seededRandom(99);
  const n = 300;
  const scores = Array.from({ length: n }, () => Math.round(rng.next() * 20) / 20);
  const labels = scores.map((s) => (rng.next() < 0.2 + 0.6 * s ? 1 : 0));
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < n; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  assert.ok(Math.abs(rocAuc(scores, labels) - wins / pairs) < 1e-12);
});

test('rocAuc refuses input where AUC is undefined', () => {
  assert.throws(() => rocAuc([0.1, 0.2], [1, 1]), AucUndefinedError);
  assert.throws(() => rocAuc([0.1, 0.2], [0, 0]), AucUndefinedError);
  assert.throws(() => rocAuc([0.1, 0.2], [0]), AucUndefinedError);
  assert.throws(() => rocAuc([0.1, 0.2], [0, 2]), /must be 0 or 1/);
});
