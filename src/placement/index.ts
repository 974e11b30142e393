/**
 * src/placement: where replicas run — on-prem first, burst to an elastic pool only when the SLO is
 * at risk, within team quotas. A pure decider; the simulator runs it (src/sim), and karb controller
 * acts on it on a cluster (src/control/kubernetes/placement-gate.ts). See README.md for what this
 * folder may import.
 */
export * from './types.ts';
export { decidePlacement, validatePlacementInput, PlacementInputError } from './placement.ts';
export { sloRisk, SLO_RISK_LATENCY_HEADROOM, SLO_RISK_MIN_PANIC_SAMPLES, SLO_RISK_MIN_QUEUE, type SloRisk } from './slo-risk.ts';
export { QuotaLedger, describeQuota, type QuotaRoom } from './quota.ts';
