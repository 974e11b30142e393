/**
 * What karb refuses on a cluster although the CRD's schema admits it: what every runtime refuses
 * (a fallback to itself), and what the builders cannot make objects of (a `file://` model, a
 * custom command without an image). A refused service gets Ready=False with these errors and a
 * Warning event; nothing is created for it and nothing already running is touched.
 */
import { revisionName, revisionTemplateOf, type FieldError, type InferenceService } from '../../api/index.ts';
import { KarbError } from '../../errors.ts';
import { buildServiceObjects } from '../../runtime/kubernetes/objects.ts';
import type { ClusterOptions } from '../../runtime/kubernetes/options.ts';
import { fallbackErrors } from '../admission.ts';
import { revisionTemplate } from '../revision-template.ts';

export function admitKubernetes(svc: InferenceService, cluster: ClusterOptions): FieldError[] {
  const errors = fallbackErrors(svc);
  try {
    const revision = { name: revisionName(svc.metadata.name, 1), template: revisionTemplateOf(svc.spec) };
    buildServiceObjects(svc, [{ template: revisionTemplate(svc, revision), replicas: 1 }], cluster);
  } catch (err) {
    if (!(err instanceof KarbError)) throw err;
    // The builders' messages start with the field they are about: "spec.model.uri: …".
    const colon = err.message.indexOf(': ');
    const path = colon > 0 && err.message.startsWith('spec.') ? err.message.slice(0, colon) : 'spec';
    errors.push({ path, message: colon > 0 && path !== 'spec' ? err.message.slice(colon + 2) : err.message });
  }
  return errors;
}
