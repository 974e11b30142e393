/**
 * Revision identity. A revision is an immutable snapshot of what runs: the
 * model and its resources. Changing them makes a new revision
 * (`<service>-0000N`); changing scaling, SLO, rollout or traffic does not.
 */
import { createHash } from 'node:crypto';
import type { InferenceServiceSpec } from './schema.ts';

/** The part of the spec that defines a revision. */
export function revisionTemplateOf(spec: InferenceServiceSpec): Pick<InferenceServiceSpec, 'model' | 'resources'> {
  return { model: spec.model, resources: spec.resources };
}

/** Stable JSON: object keys sorted, so equal specs hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function revisionHash(spec: InferenceServiceSpec): string {
  return createHash('sha256').update(canonicalJson(revisionTemplateOf(spec))).digest('hex').slice(0, 16);
}

export function revisionName(service: string, number: number): string {
  return `${service}-${String(number).padStart(5, '0')}`;
}

export function revisionNumber(name: string): number {
  const m = /-(\d{5,})$/.exec(name);
  return m ? Number(m[1]) : 0;
}
