/** True when a `Prefer` header (RFC 7240) asks for `respond-async`, among other preferences or not. */
export function prefersAsync(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  const text = Array.isArray(header) ? header.join(',') : header;
  for (const part of text.split(',')) {
    const token = part.split(';', 1)[0]!.trim().toLowerCase();
    if (token === 'respond-async') return true;
  }
  return false;
}
