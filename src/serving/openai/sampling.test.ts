import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../util/prng.ts';
import { argMax, sampleToken } from './sampling.ts';

const logits = Float32Array.from([0, 3, 1, 3, -2, 9]);

test('temperature 0 is greedy; ties go to the lowest id; ids at or past `allowed` are never chosen', () => {
  assert.equal(sampleToken(logits, 5, { temperature: 0, topP: 1 }, () => 0.5), 1);
  assert.equal(argMax(logits, 6), 5);
});

test('top_p keeps only the most likely tokens', () => {
  // With top_p near 0 only the single most likely token survives, whatever the draw.
  for (const draw of [0, 0.3, 0.99]) assert.equal(sampleToken(logits, 6, { temperature: 1, topP: 0.01 }, () => draw), 5);
});

test('sampling follows the distribution and the same seed gives the same draws', () => {
  const counts = new Array<number>(3).fill(0);
  const rng = seededRandom(1).next;
  const flat = Float32Array.from([0, 0, Math.log(2)]); // probabilities 1/4, 1/4, 1/2
  for (let i = 0; i < 4000; i++) counts[sampleToken(flat, 3, { temperature: 1, topP: 1 }, rng)]!++;
  assert.ok(Math.abs(counts[2]! / 4000 - 0.5) < 0.04, `share of the likeliest token: ${counts[2]! / 4000}`);
  const a = seededRandom(9).next;
  const b = seededRandom(9).next;
  for (let i = 0; i < 50; i++) assert.equal(sampleToken(flat, 3, { temperature: 0.7, topP: 0.9 }, a), sampleToken(flat, 3, { temperature: 0.7, topP: 0.9 }, b));
});
