/**
 * Kubernetes-style quantities and karb durations, parsed once for comparisons.
 * Specs keep the user's spelling ("500m", "1Gi", "30s"); code compares numbers.
 */
import { DURATION_PATTERN, parseDuration } from '../util/duration.ts';

/** Durations have one grammar for specs and flags alike; it lives in src/util so that flags can read it too. */
export { parseDuration, DURATION_PATTERN };

export const CPU_PATTERN = /^(\d+(\.\d+)?)(m)?$/;
export const MEMORY_PATTERN = /^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/;

const MEMORY_FACTORS: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5,
};

/** CPU cores: "2" → 2, "500m" → 0.5, 1.5 → 1.5. Undefined when the text is not a CPU quantity. */
export function parseCpu(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = CPU_PATTERN.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[3] ? n / 1000 : n;
}

/** Bytes: "1Gi" → 1073741824. Undefined when the text is not a memory quantity. */
export function parseMemory(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = MEMORY_PATTERN.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * MEMORY_FACTORS[m[3] ?? '']!;
}

/** Like parseDuration, for values the schema already validated. */
export function durationMs(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new RangeError(`not a duration: ${value}`);
  return ms;
}
