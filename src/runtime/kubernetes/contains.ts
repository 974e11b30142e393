/**
 * Whether a live object still holds everything karb would apply: every field karb sets has the
 * same value there, whatever the API server or other managers added. A false answer means a field
 * karb owns was changed (or never applied), and applying again puts it back; a true answer means
 * applying would change nothing, so nothing is written.
 */
export function containsDesired(live: unknown, desired: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') return sameScalar(live, desired);
  if (Array.isArray(desired)) {
    return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => containsDesired(live[i], d));
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
  const l = live as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => containsDesired(l[k], v));
}

/** The API server may hand a number back as the string it parses from (quantities, int-or-string). */
function sameScalar(live: unknown, desired: unknown): boolean {
  if (live === desired) return true;
  if (typeof desired === 'number' || typeof live === 'number') return String(live) === String(desired);
  return false;
}
