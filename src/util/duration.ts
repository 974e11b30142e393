/**
 * karb's one duration grammar. Here in src/util, below the resource, so that the
 * flag readers (flags.ts) and the resource's schema (src/api re-exports it) share it.
 */

const DURATION = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?$/;
/** A duration with its unit, as a spec must write it (the JSON Schema's and the CRD's pattern). */
export const DURATION_PATTERN = /^(\d+(\.\d+)?|\.\d+)\s*(ms|s|m|h|d)$/;
const DURATION_FACTORS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds from a duration, in specs, scenario files and every command-line
 * flag alike: a number (`30`, `1.5`, `.5`), optional spaces, and a unit
 * of ms, s, m, h or d — "30s" → 30000, "1.5m" → 90000, "250 ms" → 250. A bare number
 * is a duration only where `bareSeconds` says it means seconds (`karb load`'s flags);
 * in a spec "30" could mean anything, so there it is no duration. Undefined when the
 * text is not a duration.
 */
export function parseDuration(value: string, options: { bareSeconds?: boolean } = {}): number | undefined {
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  const unit = m[2] ?? (options.bareSeconds === true ? 's' : undefined);
  if (unit === undefined) return undefined;
  return Number(m[1]) * DURATION_FACTORS[unit]!;
}
