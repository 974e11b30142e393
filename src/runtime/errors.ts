/**
 * The failures of the Runtime contract (types.ts) every runtime reports alike: a replica count
 * that is no count, and work asked of a runtime that was closed.
 */
import { InvalidRequestError, KarbError } from '../errors.ts';
import type { RevisionTemplate } from './types.ts';

export class RuntimeClosedError extends KarbError {
  constructor(runtime: string) {
    super('RUNTIME_CLOSED', `the ${runtime} runtime is closed; no replicas can be started or stopped through it`, { status: 503 });
  }
}

/** Throws RUNTIME_INVALID_REPLICAS unless `replicas` is a whole number ≥ 0. */
export function checkReplicaCount(template: Pick<RevisionTemplate, 'namespace' | 'revision'>, replicas: number): void {
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new InvalidRequestError(`replicas for revision ${template.namespace}/${template.revision} must be a whole number ≥ 0, got ${replicas}`, {
      code: 'RUNTIME_INVALID_REPLICAS',
    });
  }
}
