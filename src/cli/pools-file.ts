/** `--pools FILE`: the node pools a cluster declares (src/api/pool.ts), every error naming its field. */
import { parseConfigDocument, readConfigFile } from '../api/config-file.ts';
import { PoolsDocument, POOLS_KIND, type Pool } from '../api/pool.ts';

export function parsePools(text: string, source: string): Pool[] {
  return parseConfigDocument(text, source, POOLS_KIND, PoolsDocument).spec.pools;
}

export function loadPools(file: string): Pool[] {
  return parsePools(readConfigFile('--pools', file), file);
}
