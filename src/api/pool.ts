/**
 * Node pools: the one model of where replicas can run, read by both runtimes and the simulator.
 * A pool is a set of like nodes: CPU or GPU, on-prem (fixed, paid for whether used or not) or
 * elastic (a cloud pool that provisions nodes on demand, after a delay), with a price per node-hour
 * and, on Kubernetes, the node labels and taints that identify its nodes. Services name pools in
 * `spec.placement.pools`, in order of preference.
 *
 * Declared once in a pools file (`kind: Pools`), read by `karb controller --pools FILE`; the
 * simulator's scenarios list their pools in the same form.
 *
 *   apiVersion: karb.dev/v1alpha1
 *   kind: Pools
 *   spec:
 *     pools:
 *       - name: onprem-a100
 *         accelerator: gpu
 *         class: on-prem
 *         costPerHour: 12
 *         replicasPerNode: 4
 *         minNodes: 2
 *         maxNodes: 2
 *         gpusPerNode: 4
 *         kubernetes: { nodeSelector: { karb.dev/pool: onprem-a100 }, taints: [{ key: nvidia.com/gpu, effect: NoSchedule }] }
 */
import { z } from 'zod';
import { parseDuration } from './quantity.ts';

const duration = z.string().refine((v) => parseDuration(v) !== undefined, { message: 'must be a duration such as 500ms, 30s, 5m or 1h' });

/** A delay: fixed ("30s") or spread uniformly around a mean ({ mean: 120s, jitter: 20s } → 100–140 s). */
export const PoolDelay = z.union([duration, z.strictObject({ mean: duration, jitter: duration.default('0s') })]);

const labelKey = z.string().regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'must be a label key such as karb.dev/pool or nvidia.com/gpu');

const taint = z.strictObject({
  key: labelKey,
  value: z.string().max(63).optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
});

export const PoolSpec = z
  .strictObject({
    name: z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lowercase letters, digits and "-" (e.g. cloud-a100)'),
    accelerator: z.enum(['gpu', 'cpu']).default('gpu'),
    /** on-prem: fixed nodes, paid for whether used or not; elastic: nodes provisioned on demand. Default: elastic when it can grow (maxNodes > minNodes), else on-prem. */
    class: z.enum(['on-prem', 'elastic']).optional(),
    /** Model replicas one node holds (one per GPU for whole-GPU replicas). */
    replicasPerNode: z.int().min(1).max(256),
    costPerHour: z.number().min(0),
    minNodes: z.int().min(0).max(10_000).default(0),
    maxNodes: z.int().min(0).max(10_000),
    /** Nodes up at the start; default minNodes (plus what the initial replicas need). */
    initialNodes: z.int().min(0).optional(),
    /** From the node request to a node that can run pods. */
    provisioningDelay: PoolDelay.default('0s'),
    /** GPUs per node, and the extended resource they are advertised as. */
    gpusPerNode: z.int().min(0).max(64).optional(),
    acceleratorType: z.string().min(1).default('nvidia.com/gpu'),
    /** How Kubernetes finds the pool's nodes: their labels (default karb.dev/pool: <name>) and the taints pods must tolerate. */
    kubernetes: z
      .strictObject({
        nodeSelector: z
          .record(labelKey, z.string().max(63))
          .refine((s) => Object.keys(s).length > 0, { message: 'must name at least one label (an empty selector matches no node); leave it out for karb.dev/pool: <name>' })
          .optional(),
        taints: z.array(taint).max(16).default([]),
      })
      .prefault({}),
  })
  .superRefine((p, ctx) => {
    if (p.maxNodes < p.minNodes) ctx.addIssue({ code: 'custom', path: ['maxNodes'], message: `must be >= minNodes (got ${p.maxNodes} < ${p.minNodes})` });
    if (p.initialNodes !== undefined && (p.initialNodes < p.minNodes || p.initialNodes > p.maxNodes)) {
      ctx.addIssue({ code: 'custom', path: ['initialNodes'], message: `must lie between minNodes and maxNodes (${p.minNodes}..${p.maxNodes})` });
    }
  });

export type PoolInput = z.input<typeof PoolSpec>;
export type Pool = z.output<typeof PoolSpec>;

/** A pool's class, from its own word or from whether it can grow. */
export function poolClass(p: Pick<Pool, 'class' | 'minNodes' | 'maxNodes'>): 'on-prem' | 'elastic' {
  return p.class ?? (p.maxNodes > p.minNodes ? 'elastic' : 'on-prem');
}

/** The labels that select a pool's nodes on Kubernetes. */
export function poolNodeSelector(p: Pick<Pool, 'name' | 'kubernetes'>): Record<string, string> {
  return p.kubernetes.nodeSelector ?? { 'karb.dev/pool': p.name };
}

/** Pool names must be unique; `issues` gets one per repeated name, at `path`. */
export function duplicatePoolNames(pools: readonly Pick<Pool, 'name'>[]): Array<{ index: number; message: string }> {
  const seen = new Set<string>();
  const out: Array<{ index: number; message: string }> = [];
  pools.forEach((p, index) => {
    if (seen.has(p.name)) out.push({ index, message: `"${p.name}" names two pools; pool names must be unique` });
    seen.add(p.name);
  });
  return out;
}

export const POOLS_KIND = 'Pools';

export const PoolsDocument = z
  .strictObject({
    apiVersion: z.literal('karb.dev/v1alpha1', 'must be karb.dev/v1alpha1'),
    kind: z.literal(POOLS_KIND, `must be ${POOLS_KIND}`),
    metadata: z.strictObject({ name: z.string().optional() }).optional(),
    spec: z.strictObject({ pools: z.array(PoolSpec).min(1, 'needs at least one pool').max(64) }),
  })
  .superRefine((d, ctx) => {
    for (const dup of duplicatePoolNames(d.spec.pools)) ctx.addIssue({ code: 'custom', path: ['spec', 'pools', dup.index, 'name'], message: dup.message });
  });
