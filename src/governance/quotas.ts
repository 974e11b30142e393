/**
 * The governance file's quotas in numbers, for embedded karb: `karb up --governance` gives them
 * to the local runtime, which keeps each namespace's replicas within them (a cluster gets the
 * same quotas as ResourceQuotas: kubernetes.ts buildQuotas). CPU in cores, memory in bytes,
 * GPUs whole; a figure the file leaves out is not limited.
 */
import { parseCpu, parseMemory } from '../api/quantity.ts';
import type { GovernanceConfig } from './config.ts';

export interface QuotaAmounts {
  gpus?: number;
  cpuCores?: number;
  memoryBytes?: number;
}

export function quotaAmounts(config: Pick<GovernanceConfig, 'quotas'>): Record<string, QuotaAmounts> {
  const out: Record<string, QuotaAmounts> = {};
  for (const [namespace, q] of Object.entries(config.quotas)) {
    const amounts: QuotaAmounts = {};
    if (q.gpus !== undefined) amounts.gpus = q.gpus;
    if (q.cpu !== undefined) amounts.cpuCores = quantity(parseCpu(q.cpu), `spec.quotas.${namespace}.cpu`, q.cpu);
    if (q.memory !== undefined) amounts.memoryBytes = quantity(parseMemory(q.memory), `spec.quotas.${namespace}.memory`, q.memory);
    out[namespace] = amounts;
  }
  return out;
}

/** The file was validated when it was read, so a quantity that does not parse is karb's own mistake. */
function quantity(value: number | undefined, field: string, text: string): number {
  if (value === undefined) throw new RangeError(`${field}: '${text}' passed validation but is not a quantity`);
  return value;
}
