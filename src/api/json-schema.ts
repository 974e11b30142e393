/**
 * JSON Schema of the resource, derived from the zod schema: used for the CRD's
 * openAPIV3Schema and for editor validation of karb manifests.
 */
import { z } from 'zod';
import { InferenceServiceSchema, InferenceServiceSpec } from './schema.ts';

/** The whole resource as users write it (defaults shown, all optional fields optional). */
export function inferenceServiceJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(InferenceServiceSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
}

/** The spec alone, as OpenAPI v3 (the dialect a CRD's openAPIV3Schema takes). */
export function specOpenApiSchema(): Record<string, unknown> {
  return z.toJSONSchema(InferenceServiceSpec, { io: 'input', unrepresentable: 'any', target: 'openapi-3.0' }) as Record<string, unknown>;
}
