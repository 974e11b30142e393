/**
 * Splits traffic across the revisions of a route: weighted random by
 * `RouteRevision.weight` among the revisions that have ready endpoints and a
 * weight above 0. When none of the weighted revisions has an endpoint (a new
 * revision not up yet, the stable one scaled away), any revision that does
 * have endpoints serves instead, so a request is only refused when the whole
 * service has nothing ready. Pure: the random source comes in.
 */
import type { RouteRevision } from '../discovery/routing-table.ts';

export function pickRevision(revisions: readonly RouteRevision[], random: () => number): RouteRevision | undefined {
  let totalWeight = 0;
  let withEndpoints = 0;
  for (const r of revisions) {
    if (r.endpoints.length === 0) continue;
    withEndpoints++;
    if (r.weight > 0) totalWeight += r.weight;
  }
  if (withEndpoints === 0) return undefined;

  if (totalWeight > 0) {
    let x = random() * totalWeight;
    let last: RouteRevision | undefined;
    for (const r of revisions) {
      if (r.endpoints.length === 0 || !(r.weight > 0)) continue;
      last = r;
      x -= r.weight;
      if (x < 0) return r;
    }
    // Only reached through floating-point rounding or random() === 1.
    return last;
  }

  // Fallback: every revision with endpoints has weight 0; spread evenly over them.
  let k = Math.floor(random() * withEndpoints);
  if (k >= withEndpoints) k = withEndpoints - 1;
  for (const r of revisions) {
    if (r.endpoints.length === 0) continue;
    if (k-- === 0) return r;
  }
  return undefined;
}
