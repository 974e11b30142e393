import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickRevision } from './revision-picker.ts';
import type { RouteRevision } from '../discovery/routing-table.ts';
import { seededRandom } from '../server/test-support.ts';

const rev = (name: string, weight: number, endpoints: number): RouteRevision => ({
  revision: name,
  weight,
  endpoints: Array.from({ length: endpoints }, (_, i) => ({ replica: `${name}-${i}`, url: `http://${name}-${i}` })),
});

test('revision choice, case by case', () => {
  const stable = rev('stable', 80, 2);
  const canary = rev('canary', 20, 1);
  const coldCanary = rev('canary', 20, 0);
  const coldStable = rev('stable', 80, 0);
  const drained = rev('old', 0, 1);
  const cases: Array<{ name: string; revisions: RouteRevision[]; random: number; want: string | undefined }> = [
    { name: '80/20: low draws go to the first revision', revisions: [stable, canary], random: 0, want: 'stable' },
    { name: '80/20: just under the boundary is still the first', revisions: [stable, canary], random: 0.799, want: 'stable' },
    { name: '80/20: at the boundary it is the second', revisions: [stable, canary], random: 0.8, want: 'canary' },
    { name: 'a weighted revision without endpoints is skipped; the rest renormalise', revisions: [stable, coldCanary], random: 0.95, want: 'stable' },
    { name: 'weight 0 never wins while a weighted revision has endpoints', revisions: [drained, canary], random: 0, want: 'canary' },
    { name: 'no weighted revision has endpoints: fall back to one that has', revisions: [coldStable, coldCanary, drained], random: 0.99, want: 'old' },
    { name: 'nothing has endpoints: no revision', revisions: [coldStable, coldCanary], random: 0.5, want: undefined },
    { name: 'no revisions at all', revisions: [], random: 0.5, want: undefined },
    { name: 'random returning exactly 1 still picks a weighted revision', revisions: [stable, canary], random: 1, want: 'canary' },
  ];
  for (const c of cases) {
    assert.equal(pickRevision(c.revisions, () => c.random)?.revision, c.want, c.name);
  }
});

test('the fallback spreads evenly over revisions with endpoints', () => {
  const revisions = [rev('a', 0, 1), rev('b', 100, 0), rev('c', 0, 1)];
  const random = seededRandom(5);
  let a = 0;
  for (let i = 0; i < 2000; i++) if (pickRevision(revisions, random)!.revision === 'a') a++;
  assert.ok(a > 850 && a < 1150, `about half should go to a, got ${a} of 2000`);
});

test('a 95/5 split holds over many draws', () => {
  const revisions = [rev('stable', 95, 3), rev('canary', 5, 1)];
  const random = seededRandom(99);
  let canary = 0;
  for (let i = 0; i < 20_000; i++) if (pickRevision(revisions, random)!.revision === 'canary') canary++;
  assert.ok(Math.abs(canary / 20_000 - 0.05) < 0.006, `canary share ${canary / 20_000}`);
});
