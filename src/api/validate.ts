/**
 * Turns untrusted input into a valid InferenceService, or into errors that say
 * exactly where the problem is and how to fix it:
 *   spec.scaling.maxReplicas: must be >= minReplicas (got 1 < 2)
 */
import { z } from 'zod';
import { InvalidRequestError } from '../errors.ts';
import { InferenceServiceSchema, type InferenceService } from './schema.ts';

export interface FieldError {
  /** Dotted path with array indices, e.g. `spec.rollout.steps[1].weight`. */
  path: string;
  message: string;
}

export class SpecValidationError extends InvalidRequestError {
  readonly errors: FieldError[];
  constructor(errors: FieldError[], where = '') {
    const prefix = where ? `${where}: ` : '';
    super(`${prefix}invalid InferenceService:\n${errors.map((e) => `  ${e.path}: ${e.message}`).join('\n')}`, {
      code: 'INVALID_SPEC',
      status: 422,
      details: errors,
    });
    this.errors = errors;
  }
}

export type ValidationResult =
  | { ok: true; value: InferenceService }
  | { ok: false; errors: FieldError[] };

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

const KNOWN_FIELDS = collectFieldNames(z.toJSONSchema(InferenceServiceSchema, { io: 'input', unrepresentable: 'any' }));

function collectFieldNames(schema: unknown, into = new Set<string>()): Set<string> {
  if (schema && typeof schema === 'object') {
    const props = (schema as { properties?: Record<string, unknown> }).properties;
    if (props) for (const key of Object.keys(props)) into.add(key);
    for (const value of Object.values(schema)) collectFieldNames(value, into);
  }
  return into;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The closest known field name (of an InferenceService unless `fields` are given), if one is close enough to be a likely typo. */
export function suggestField(key: string, fields: Iterable<string> = KNOWN_FIELDS): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const known of fields) {
    const d = editDistance(key, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best;
}

function describeReceived(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'string') return `"${input.length > 40 ? `${input.slice(0, 40)}…` : input}"`;
  if (typeof input === 'object') return 'an object';
  return `${typeof input} ${String(input)}`;
}

function issueToErrors(issue: z.core.$ZodIssue): FieldError[] {
  const path = formatPath(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const hint = suggestField(key);
        return {
          path: formatPath([...issue.path, key]),
          message: `unknown field${hint && hint !== key ? ` (did you mean '${hint}'?)` : '; remove it'}`,
        };
      });
    case 'invalid_type':
      if (issue.input === undefined) return [{ path, message: `is required (expected ${issue.expected})` }];
      return [{ path, message: `must be ${article(issue.expected)} (got ${describeReceived(issue.input)})` }];
    case 'invalid_value':
      if (issue.values.length === 1 && issue.message.startsWith('must')) return [{ path, message: issue.message }];
      return [{ path, message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')} (got ${describeReceived(issue.input)})` }];
    case 'too_small':
    case 'too_big': {
      if (!issue.message.startsWith('Too') && !issue.message.startsWith('Invalid')) return [{ path, message: issue.message }];
      const op = issue.code === 'too_small' ? (issue.inclusive === false ? '>' : '>=') : issue.inclusive === false ? '<' : '<=';
      const what = issue.origin === 'array' ? 'have a length' : issue.origin === 'string' ? 'have a length' : 'be';
      return [{ path, message: `must ${what} ${op} ${String(issue.code === 'too_small' ? issue.minimum : issue.maximum)} (got ${describeReceived(issue.input)})` }];
    }
    default:
      return [{ path, message: issue.message }];
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

export function validateInferenceService(input: unknown): ValidationResult {
  const parsed = InferenceServiceSchema.safeParse(input, { reportInput: true });
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, errors: parsed.error.issues.flatMap(issueToErrors) };
}

/** Validates or throws a SpecValidationError listing every problem. */
export function parseInferenceService(input: unknown, where = ''): InferenceService {
  const result = validateInferenceService(input);
  if (!result.ok) throw new SpecValidationError(result.errors, where);
  return result.value;
}
