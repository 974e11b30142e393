/**
 * Small helpers the deciders share: decision steps, number formatting for the
 * messages people read, and the result builders.
 */
import type { ScaleReason, ScaleResult, ScaleStep } from './types.ts';

export function step(value: number, reason: ScaleReason, message: string): ScaleStep {
  return { value, reason, message };
}

/** Applies a limit: when it moves the value, its step becomes the binding one. */
export function bind(current: ScaleStep, limited: ScaleStep | undefined): ScaleStep {
  return limited && limited.value !== current.value ? limited : current;
}

/** "3→7: <why>" — the form status conditions and events carry. */
export function arrow(from: number, to: number, why: string): string {
  return `${from}→${to}: ${why}`;
}

export function scaled(from: number, s: ScaleStep, panic = false, desiredNodes?: number): ScaleResult {
  const result: ScaleResult = {
    valid: true,
    desiredReplicas: s.value,
    reason: s.reason,
    message: arrow(from, s.value, s.message) + (panic ? ' (panic)' : ''),
    panic,
  };
  if (desiredNodes !== undefined) result.desiredNodes = desiredNodes;
  return result;
}

export function noData(message: string): ScaleResult {
  return { valid: false, reason: 'NoData', message };
}

/** A number for a sentence: integers as is, others to at most 2 decimals. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100);
}

/** A share for a sentence: "80%", "92.5%". */
export function pct(share: number): string {
  return `${fmt(Math.round(share * 1000) / 10)}%`;
}

/** Seconds from milliseconds for a sentence: "4 s", "0.25 s". */
export function secs(ms: number): string {
  return `${fmt(ms / 1000)} s`;
}
