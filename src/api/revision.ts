/**
 * Revision identity. A revision is an immutable snapshot of what runs: the
 * model and its resources. Changing them makes a new revision
 * (`<service>-0000N`); changing scaling, SLO, rollout, traffic or the drift threshold does not.
 */
import { createHash } from 'node:crypto';
import type { InferenceServiceSpec } from './schema.ts';

/**
 * The part of the spec that defines a revision. `model.drift.threshold` is left out: the control
 * plane judges drift with it and the replica never sees it, so changing it must not roll out new
 * replicas. A `drift` holding only a threshold is left out whole, so it hashes as no `drift`.
 */
export function revisionTemplateOf(spec: InferenceServiceSpec): Pick<InferenceServiceSpec, 'model' | 'resources'> {
  const { drift, ...model } = spec.model;
  if (drift === undefined) return { model: spec.model, resources: spec.resources };
  const { threshold: _judgedByTheControlPlane, ...measured } = drift;
  return { model: Object.keys(measured).length === 0 ? model : { ...model, drift: measured }, resources: spec.resources };
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
