/**
 * Chooses the replica endpoint of one revision that gets the next request:
 * least outstanding requests, with power of two random choices once there are
 * more than two endpoints (comparing every endpoint would herd all gateways
 * onto the same momentarily idle replica; two random samples avoid that and
 * cost O(1)). Pure: the outstanding counts and the random source come in.
 */
import type { RouteEndpoint } from '../discovery/routing-table.ts';

/** Outstanding requests per endpoint URL; a URL that is absent has none. */
export type OutstandingCounts = ReadonlyMap<string, number>;

export function pickEndpoint(
  endpoints: readonly RouteEndpoint[],
  outstanding: OutstandingCounts,
  random: () => number,
): RouteEndpoint | undefined {
  const n = endpoints.length;
  if (n === 0) return undefined;
  if (n === 1) return endpoints[0];
  if (n === 2) {
    const a = endpoints[0]!;
    const b = endpoints[1]!;
    const la = outstanding.get(a.url) ?? 0;
    const lb = outstanding.get(b.url) ?? 0;
    if (la !== lb) return la < lb ? a : b;
    // A tie (typically both idle) is broken at random so traffic still spreads.
    return random() < 0.5 ? a : b;
  }
  const i = randomIndex(n, random);
  // A second index drawn from the other n-1 slots: always a different endpoint.
  let j = randomIndex(n - 1, random);
  if (j >= i) j++;
  const a = endpoints[i]!;
  const b = endpoints[j]!;
  // On a tie `a` wins; it is already a random choice.
  return (outstanding.get(b.url) ?? 0) < (outstanding.get(a.url) ?? 0) ? b : a;
}

/** An index in [0, n); tolerates a random source that returns exactly 1. */
function randomIndex(n: number, random: () => number): number {
  const i = Math.floor(random() * n);
  return i < n ? i : n - 1;
}

/**
 * The same choice over a load function (outstanding requests plus the
 * replica's own decayed queue report) and a filter: endpoints that are not
 * `eligible` (ejected, or already tried by this request) are never picked.
 * Power of two choices among the eligible ones; least load between two.
 * Returns undefined when none is eligible.
 */
export function pickEndpointByLoad(
  endpoints: readonly RouteEndpoint[],
  load: (endpoint: RouteEndpoint) => number,
  eligible: (endpoint: RouteEndpoint) => boolean,
  random: () => number,
): RouteEndpoint | undefined {
  let count = 0;
  for (const e of endpoints) if (eligible(e)) count++;
  if (count === 0) return undefined;
  if (count === 1) {
    for (const e of endpoints) if (eligible(e)) return e;
  }
  const i = randomIndex(count, random);
  let j = randomIndex(count - 1, random);
  if (j >= i) j++;
  let a: RouteEndpoint | undefined;
  let b: RouteEndpoint | undefined;
  let k = 0;
  for (const e of endpoints) {
    if (!eligible(e)) continue;
    if (k === i) a = e;
    if (k === j) b = e;
    k++;
  }
  const la = load(a!);
  const lb = load(b!);
  // On a tie `a` wins; it is already a random choice.
  return lb < la ? b : a;
}
