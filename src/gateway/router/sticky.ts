/**
 * Session stickiness: a session id hashes to a fixed point in [0, 1), and that
 * point, fed to the weighted revision split as its "random" draw, lands in
 * the same revision every time while the weights hold. When a canary's weight
 * grows, only the sessions in the slice that changed hands move, so a user
 * does not flip between canary and stable from one request to the next.
 */
export const DEFAULT_SESSION_HEADER = 'x-karb-session';

/** FNV-1a (32 bit) of the id, scaled to [0, 1). */
export function sessionPoint(sessionId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) {
    h ^= sessionId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final avalanche so ids differing in one last character spread over the range.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) / 0x1_0000_0000;
}

/** A "random source" that always returns the session's point. */
export function sessionDraw(sessionId: string): () => number {
  const point = sessionPoint(sessionId);
  return () => point;
}
