import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickEndpoint } from './endpoint-picker.ts';
import { OutstandingRequests } from './outstanding.ts';
import type { RouteEndpoint } from '../discovery/routing-table.ts';
import { seededRandom } from '../server/test-support.ts';

const ep = (name: string): RouteEndpoint => ({ replica: name, url: `http://${name}` });
const [A, B, C, D] = [ep('a'), ep('b'), ep('c'), ep('d')] as const;

/** A random source that returns the given values in order. */
function script(...values: number[]): () => number {
  let i = 0;
  return () => {
    const v = values[i++];
    if (v === undefined) throw new Error('the picker drew more random numbers than the case expects');
    return v;
  };
}

const load = (entries: Record<string, number>) => new Map(Object.entries(entries).map(([k, v]) => [`http://${k}`, v]));

test('endpoint choice, case by case', () => {
  const cases: Array<{ name: string; endpoints: RouteEndpoint[]; load: Record<string, number>; random: number[]; want: RouteEndpoint | undefined }> = [
    { name: 'no endpoints: nothing to pick', endpoints: [], load: {}, random: [], want: undefined },
    { name: 'one endpoint: always it, however loaded, no randomness', endpoints: [A], load: { a: 50 }, random: [], want: A },
    { name: 'two: the less loaded wins', endpoints: [A, B], load: { a: 3, b: 1 }, random: [], want: B },
    { name: 'two: an absent count means idle', endpoints: [A, B], load: { a: 1 }, random: [], want: B },
    { name: 'two tied: random below 0.5 takes the first', endpoints: [A, B], load: { a: 2, b: 2 }, random: [0.49], want: A },
    { name: 'two tied: random at 0.5 or above takes the second', endpoints: [A, B], load: {}, random: [0.5], want: B },
    // Three or more: power of two choices. Draws: i = floor(r1*n), j from the other n-1 slots.
    { name: 'p2c: samples a and b (i=0, j=0→1), b is less loaded', endpoints: [A, B, C], load: { a: 2, b: 1, c: 0 }, random: [0, 0], want: B },
    { name: 'p2c: the idlest endpoint loses if it is not sampled (i=0, j=0→1)', endpoints: [A, B, C, D], load: { a: 5, b: 4, c: 9, d: 0 }, random: [0, 0.1], want: B },
    { name: 'p2c: second draw skips the first index (i=2, j=2→3)', endpoints: [A, B, C, D], load: { c: 1, d: 0 }, random: [0.5, 0.7], want: D },
    { name: 'p2c: a tie keeps the first sample', endpoints: [A, B, C], load: { a: 1, b: 1, c: 1 }, random: [0.7, 0.1], want: C },
    { name: 'p2c: a random source returning exactly 1 stays in range', endpoints: [A, B, C], load: { c: 3 }, random: [1, 1], want: B },
  ];
  for (const c of cases) {
    assert.equal(pickEndpoint(c.endpoints, load(c.load), script(...c.random)), c.want, c.name);
  }
});

test('p2c never picks the single most loaded endpoint and spreads over the rest', () => {
  const endpoints = [A, B, C, D];
  const counts = load({ a: 1, b: 1, c: 1, d: 7 });
  const random = seededRandom(11);
  const picked = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const e = pickEndpoint(endpoints, counts, random)!;
    picked.set(e.replica, (picked.get(e.replica) ?? 0) + 1);
  }
  assert.equal(picked.get('d'), undefined, 'the most loaded endpoint loses every comparison');
  for (const name of ['a', 'b', 'c']) assert.ok((picked.get(name) ?? 0) > 800, `${name} gets a fair share`);
});

test('outstanding counts go up and down per URL and vanish at zero', () => {
  const o = new OutstandingRequests();
  o.acquire('http://a');
  o.acquire('http://a');
  o.acquire('http://b');
  assert.equal(o.get('http://a'), 2);
  assert.equal(o.total(), 3);
  o.release('http://a');
  o.release('http://b');
  assert.equal(o.get('http://b'), 0);
  assert.deepEqual([...o.counts.keys()], ['http://a'], 'idle URLs are not kept around');
  // Fed straight to the picker: a is busy, b idle.
  assert.equal(pickEndpoint([A, B], o.counts, script()), B);
});
