/**
 * Command-line flags for every karb command (`karb …`, `karb serve`, `karb load`,
 * `karb simulate`): node:util's parseArgs with karb's rules, and the readers of the
 * values flags carry. Every mistake is a UsageError (the command exits 2) whose
 * message names the flag, says what it takes and echoes what it got:
 * `--port must be a whole number, got "http"`.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration } from './duration.ts';
import { UsageError } from '../errors.ts';

/** parseArgs, whose own messages ("Unknown option '--bogus'") become UsageErrors. Pass `strict: true`. */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
}

/** What a numeric flag accepts: bounds are inclusive (`min`, `max`) or exclusive (`above`). */
export interface NumberRule {
  /** Only digits (after trimming): no sign, point or exponent. */
  whole?: boolean;
  min?: number;
  max?: number;
  above?: number;
  /** What the flag takes, said when a number is out of range; default from the bounds ("a whole number from 1 to 64"). */
  expected?: string;
}

/**
 * A number from `raw`; `fallback` when the flag was not given. Numbers are what
 * `Number` reads from trimmed, non-empty text; whole numbers are digits only.
 */
export function numberFlag(flag: string, raw: string | undefined, fallback: number, rule: NumberRule = {}): number {
  if (raw === undefined) return fallback;
  const text = raw.trim();
  const n = rule.whole === true ? (/^\d+$/.test(text) ? Number(text) : NaN) : text === '' ? NaN : Number(text);
  if (!Number.isFinite(n)) throw flagError(flag, rule.whole === true ? 'a whole number' : 'a number', raw);
  const { min, max, above } = rule;
  if ((min !== undefined && n < min) || (max !== undefined && n > max) || (above !== undefined && n <= above)) {
    throw flagError(flag, rule.expected ?? describeRange(rule), raw);
  }
  return n;
}

/** A port to listen on, 0 (any free port) to 65535. */
export function portFlag(flag: string, raw: string | undefined, fallback: number): number {
  return numberFlag(flag, raw, fallback, { whole: true, min: 0, max: 65535, expected: 'a port number from 0 to 65535' });
}

/** What a duration flag accepts, in milliseconds; see parseDuration for the grammar. */
export interface DurationRule {
  /** A bare number is seconds (`karb load`); elsewhere a unit is required. */
  bareSeconds?: boolean;
  /** Shortest accepted, inclusive; with `minText` as it is said ("1s"). */
  min?: number;
  minText?: string;
  /** Zero is refused ("longer than 0"). */
  positive?: boolean;
  /** What the flag takes, said when the text is no duration (default "a duration such as 500ms, 30s, 5m or 1h"). */
  expected?: string;
}

/** Milliseconds from a duration flag (`90s`, `1.5m`, `500ms`); `fallback` when the flag was not given. */
export function durationFlag(flag: string, raw: string | undefined, fallback: number, rule?: DurationRule): number;
export function durationFlag(flag: string, raw: string | undefined, fallback: undefined, rule?: DurationRule): number | undefined;
export function durationFlag(flag: string, raw: string | undefined, fallback: number | undefined, rule: DurationRule = {}): number | undefined {
  if (raw === undefined) return fallback;
  const ms = parseDuration(raw, { bareSeconds: rule.bareSeconds === true });
  if (ms === undefined) throw flagError(flag, rule.expected ?? 'a duration such as 500ms, 30s, 5m or 1h', raw);
  if (rule.min !== undefined && ms < rule.min) throw flagError(flag, rule.expected ?? `at least ${rule.minText ?? `${rule.min}ms`}`, raw);
  if (rule.positive === true && ms === 0) throw flagError(flag, 'longer than 0', raw);
  return ms;
}

/** An http:// or https:// URL, normalized by `URL`. */
export function httpUrlFlag(flag: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw flagError(flag, 'a URL such as http://127.0.0.1:8080/path', raw);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw flagError(flag, 'an http:// or https:// URL', raw);
  return url.toString();
}

/** Comma-separated names, trimmed, empty ones dropped; undefined when the flag was not given. */
export function listFlag(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** An RFC 1123 DNS label: a Kubernetes namespace, and the name of an InferenceService. */
export const DNS_LABEL_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A namespace flag (`--namespace karb-system`); `fallback` when the flag was not given. */
export function namespaceFlag(flag: string, raw: string | undefined, fallback: string): string;
export function namespaceFlag(flag: string, raw: string | undefined, fallback: string | undefined): string | undefined;
export function namespaceFlag(flag: string, raw: string | undefined, fallback: string | undefined): string | undefined {
  if (raw === undefined) return fallback;
  if (raw.length > 63 || !DNS_LABEL_PATTERN.test(raw)) throw flagError(flag, 'a namespace name (lowercase letters, digits and "-", at most 63, e.g. karb-system)', raw);
  return raw;
}

/**
 * The namespace a pod of karb's own runs in, from `$KARB_NAMESPACE` (karb install sets it from the
 * pod's metadata); undefined outside a pod or when it is not a namespace name.
 */
export function podNamespace(): string | undefined {
  const ns = process.env.KARB_NAMESPACE;
  return ns !== undefined && ns.length <= 63 && DNS_LABEL_PATTERN.test(ns) ? ns : undefined;
}

/** `--flag must be <expected>, got "<raw>"`: the one shape of a bad flag value. */
export function flagError(flag: string, expected: string, raw: string): UsageError {
  return new UsageError(`${flag} must be ${expected}, got "${raw}"`);
}

function describeRange(rule: NumberRule): string {
  const kind = rule.whole === true ? 'a whole number' : 'a number';
  if (rule.min !== undefined && rule.max !== undefined) return `${kind} from ${rule.min} to ${rule.max}`;
  if (rule.above !== undefined) return `more than ${rule.above}`;
  if (rule.min !== undefined) return rule.whole === true ? `${kind} of ${rule.min} or more` : `${rule.min} or more`;
  if (rule.max !== undefined) return `${kind} of at most ${rule.max}`;
  return kind;
}
