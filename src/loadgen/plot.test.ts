import assert from 'node:assert/strict';
import { test } from 'node:test';
import { niceTicks, renderLoadSvg } from './plot.ts';
import type { SecondStats } from './recorder.ts';

function second(t: number, over: Partial<SecondStats> = {}): SecondStats {
  return { t, offered: 50, sent: 50, dropped: 0, completed: 50, ok: 50, errors: 0, errorsByCode: {}, achievedRps: 50, p50Ms: 20, p95Ms: 40, p99Ms: 60, outstanding: 2, ...over };
}

/** Every element opened is closed, in order (a cheap well-formedness check without an XML parser). */
function assertBalanced(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else stack.push(name!);
  }
  assert.deepEqual(stack, []);
}

test('the SVG has latency, rate and error panels with axes and legends', () => {
  const series = [
    second(0),
    second(1, { errors: 3, errorsByCode: { '503': 2, timeout: 1 }, ok: 47, achievedRps: 47 }),
    second(2, { p50Ms: null, p95Ms: null, p99Ms: null, ok: 0, achievedRps: 0, dropped: 5 }),
    second(3),
  ];
  const svg = renderLoadSvg({ title: 'karb load — POST http://x/<model>', subtitle: 'constant 50 req/s for 4s', series });
  assertBalanced(svg);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  for (const text of ['Latency of successful requests (from scheduled time)', 'Request rate', 'Errors by code', 'time since start (s)', 'p50', 'p95', 'p99', 'offered', 'achieved (ok)', 'dropped', '503', 'timeout']) {
    assert.ok(svg.includes(`>${text}<`), `missing "${text}"`);
  }
  assert.ok(svg.includes('http://x/&lt;model&gt;'), 'text is escaped');
  assert.ok(!svg.includes('Ready replicas'), 'no replicas panel without replica samples');
  assert.ok(!/NaN|Infinity|undefined/.test(svg));
  // A null percentile breaks the latency line instead of dropping it to zero.
  assert.ok(/<path d="M[^"]*M[^"]*" fill="none" stroke="#1f77b4"/.test(svg), 'the p50 line has a gap');
});

test('replicas get their own panel with one step line per service', () => {
  const series = [second(0), second(1), second(2)];
  const replicas: Array<{ t: number; ready: Record<string, number> }> = [
    { t: 0, ready: { fraud: 1 } },
    { t: 1, ready: { fraud: 3, chat: 1 } },
    { t: 2, ready: { fraud: 2, chat: 1 } },
  ];
  const svg = renderLoadSvg({ title: 't', series, replicas });
  assertBalanced(svg);
  assert.ok(svg.includes('>Ready replicas<'));
  assert.ok(svg.includes('>fraud<') && svg.includes('>chat<'));
});

test('an empty run still renders, saying there was no data', () => {
  const svg = renderLoadSvg({ title: 'nothing', series: [] });
  assertBalanced(svg);
  assert.ok(svg.includes('>no successful responses<'));
  assert.ok(svg.includes('>no errors<'));
  assert.ok(!/NaN|Infinity|undefined/.test(svg));
});

test('ticks are round numbers covering the data', () => {
  const table: Array<[number, number, number, boolean, number[]]> = [
    [0, 1, 5, false, [0, 0.2, 0.4, 0.6, 0.8, 1]],
    [0, 237, 5, false, [0, 50, 100, 150, 200, 250]],
    [0, 13, 10, false, [0, 2, 4, 6, 8, 10, 12, 14]],
    [0, 3, 5, true, [0, 1, 2, 3]],
    [0, 3600, 10, false, [0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000]],
  ];
  for (const [min, max, target, integers, expected] of table) assert.deepEqual(niceTicks(min, max, target, integers), expected, `${min}..${max}`);
});
