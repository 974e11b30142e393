/**
 * What a runtime runs for one revision, from the stored service and the revision's immutable
 * template: the same RevisionTemplate for the local runtime's processes and the Kubernetes
 * builders' Deployments. Placement comes from the service (moving pods does not make a revision).
 */
import type { RevisionTemplate } from '../runtime/types.ts';
import type { RevisionRecord, StoredService } from './store.ts';

/** Seconds a stopping replica gets to finish its in-flight work. */
export const DRAIN_SECONDS = 30;

export function revisionTemplate(service: { metadata: Pick<StoredService['metadata'], 'name' | 'namespace'>; spec: StoredService['spec'] }, revision: Pick<RevisionRecord, 'name' | 'template'>): RevisionTemplate {
  const { model, resources } = revision.template;
  return {
    revision: revision.name,
    service: service.metadata.name,
    namespace: service.metadata.namespace,
    model: {
      format: model.format,
      name: service.metadata.name,
      ...(model.uri ? { uri: model.uri } : {}),
      ...(model.digest ? { digest: model.digest } : {}),
      ...(model.image ? { image: model.image } : {}),
      ...(model.command ? { command: model.command } : {}),
      ...(model.env ? { env: model.env } : {}),
      ...(model.readinessPath ? { readinessPath: model.readinessPath } : {}),
      batching: model.batching,
      ...(model.drift ? { drift: driftOfModel(model.drift) } : {}),
    },
    resources,
    placement: service.spec.placement,
    drainSeconds: DRAIN_SECONDS,
  };
}

/** What the replica needs of `spec.model.drift`; the threshold is judged by the control plane. */
function driftOfModel(drift: NonNullable<RevisionRecord['template']['model']['drift']>): NonNullable<RevisionTemplate['model']['drift']> {
  return {
    ...(drift.reference === undefined ? {} : { reference: drift.reference }),
    ...(drift.learnRows === undefined ? {} : { learnRows: drift.learnRows }),
    ...(drift.windowRows === undefined ? {} : { windowRows: drift.windowRows }),
    ...(drift.maxColumns === undefined ? {} : { maxColumns: drift.maxColumns }),
  };
}
