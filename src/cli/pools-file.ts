/** `--pools FILE`: the node pools a cluster declares (src/api/pool.ts), every error naming its field. */
import { readFileSync } from 'node:fs';
import { parseManifestText } from '../api/load.ts';
import { PoolsDocument, POOLS_KIND, type Pool } from '../api/pool.ts';
import { formatPath } from '../api/validate.ts';
import { UsageError } from '../errors.ts';

export function parsePools(text: string, source: string): Pool[] {
  const docs = parseManifestText(text, source);
  if (docs.length !== 1) throw new UsageError(`${source}: must hold exactly one ${POOLS_KIND} document, found ${docs.length}`);
  const result = PoolsDocument.safeParse(docs[0]);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
    throw new UsageError(`${source}: invalid ${POOLS_KIND}: ${problems.join('; ')}`);
  }
  return result.data.spec.pools;
}

export function loadPools(file: string): Pool[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--pools: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parsePools(text, file);
}
