/**
 * src/api: the InferenceService resource — schema, defaults, validation,
 * loading and revision identity. Imports nothing else from karb but errors;
 * every other folder may import it.
 */
export * from './schema.ts';
export * from './validate.ts';
export * from './load.ts';
export * from './revision.ts';
export * from './quantity.ts';
export * from './json-schema.ts';
export * from './crd.ts';
export * from './status-summary.ts';
export * from './pool.ts';
