/**
 * "SLO at risk": the one signal that lets placement buy elastic capacity. Read from the same
 * stable and panic windows GASCL decides on (src/observability/windows.ts), with GASCL's latency
 * headroom, so a replica bursts to the cloud when karb's decider sees latency trouble:
 *
 * | at risk when                                                                      | reason  |
 * |-----------------------------------------------------------------------------------|---------|
 * | p95 is over 80% of the SLO's p95 (GASCL's latency headroom); the panic window's    | latency |
 * | p95 once it holds at least 100 requests, else the stable window's                 |         |
 * | requests wait (the panic window's average queue depth is at least 1) and the queue | queue   |
 * | grows (the panic window's queueGrowthPerSec is above 0)                           |         |
 *
 * Otherwise not at risk, no data included: a service nobody calls is not at risk.
 *
 * One departure from GASCL: it reads the panic window's p95 from 20 requests on, where that p95 is
 * the slowest one or two of them; a risk buys a node for minutes, so one slow request must not
 * be enough, and placement waits for 100 (at 2 req/s a single 270 ms request among 22 would
 * otherwise send a replica to the cloud).
 * Pure: windows and the SLO in, a verdict and a sentence out.
 */
import type { WindowSignals } from '../observability/signals.ts';

/** p95 over this fraction of the SLO is a risk: the headroom GASCL keeps (GASCL_LATENCY_HEADROOM in src/autoscaler/gascl.ts). */
export const SLO_RISK_LATENCY_HEADROOM = 0.8;
/** The panic window's p95 is used once it holds this many requests, else the stable window's (GASCL's is 20; see above). */
export const SLO_RISK_MIN_PANIC_SAMPLES = 100;
/** Average requests waiting over the panic window from which a growing queue is a risk. */
export const SLO_RISK_MIN_QUEUE = 1;

export interface SloRisk {
  atRisk: boolean;
  reason: 'latency' | 'queue' | 'none';
  message: string;
}

function fmt(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

export function sloRisk(windows: { stable: WindowSignals; panic: WindowSignals }, slo: { latencyP95Ms: number }): SloRisk {
  const { stable, panic } = windows;
  const panicSamples = (panic.requestRate ?? 0) * panic.windowSeconds;
  const usePanic = panic.p95Ms !== undefined && panicSamples >= SLO_RISK_MIN_PANIC_SAMPLES;
  const p95 = usePanic ? panic.p95Ms : stable.p95Ms;
  const headroomMs = SLO_RISK_LATENCY_HEADROOM * slo.latencyP95Ms;
  if (p95 !== undefined && p95 > headroomMs) {
    const window = usePanic ? 'panic' : 'stable';
    return { atRisk: true, reason: 'latency', message: `p95 ${fmt(p95)} ms (${window} window) is over ${fmt(headroomMs)} ms, 80% of the ${fmt(slo.latencyP95Ms)} ms SLO` };
  }
  const queue = panic.queueDepth;
  const growth = panic.queueGrowthPerSec;
  if (queue !== undefined && growth !== undefined && queue >= SLO_RISK_MIN_QUEUE && growth > 0) {
    return { atRisk: true, reason: 'queue', message: `${fmt(queue)} requests wait and the queue grows by ${fmt(growth)}/s` };
  }
  return { atRisk: false, reason: 'none', message: p95 === undefined ? 'no latency measured and no growing queue' : `p95 ${fmt(p95)} ms is within ${fmt(headroomMs)} ms and no queue grows` };
}
