/**
 * CEL in embedded karb: the governance policies' expressions, compiled once and evaluated on an
 * object as the API server would see it. JSON becomes CEL values the way Kubernetes converts
 * them: whole numbers are `int` (bigint here), other numbers `double`.
 */
import { parse, type ParseResult } from '@marcbachmann/cel-js';
import { KarbError } from '../errors.ts';

export class PolicyExpressionError extends KarbError {
  constructor(message: string) {
    super('POLICY_EXPRESSION_INVALID', message, { status: 400 });
  }
}

export type CompiledExpression = (activation: Record<string, unknown>) => unknown;

/** Compiles `expression`; a syntax error names the policy and where it is. */
export function compile(expression: string, where: string): CompiledExpression {
  let program: ParseResult;
  try {
    program = parse(expression);
  } catch (err) {
    throw new PolicyExpressionError(`${where}: not a valid CEL expression: ${firstLine(err)}`);
  }
  return (activation) => program(activation);
}

/** A JSON value as CEL sees it (integers as int). */
export function celValue(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(celValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = celValue(v);
    return out;
  }
  return value;
}

export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
