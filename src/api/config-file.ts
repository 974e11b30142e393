/**
 * karb's own configuration files (a governance file, a pools file): one YAML or JSON document of
 * one kind, validated by its schema, every problem named by its path; a file that cannot be read
 * says which flag named it. Both are usage errors (exit 2).
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { UsageError } from '../errors.ts';
import { parseManifestText } from './load.ts';
import { formatPath } from './validate.ts';

export function parseConfigDocument<S extends z.ZodType>(text: string, source: string, kind: string, schema: S): z.output<S> {
  const docs = parseManifestText(text, source);
  if (docs.length !== 1) throw new UsageError(`${source}: must hold exactly one ${kind} document, found ${docs.length}`);
  const result = schema.safeParse(docs[0]);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
    throw new UsageError(`${source}: invalid ${kind}: ${problems.join('; ')}`);
  }
  return result.data;
}

export function readConfigFile(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
