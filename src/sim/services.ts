/**
 * The services of a scenario: its one service (named after the scenario, team `default`), or the
 * several listed under `services`, which share the pools, the model (`service`), the scaling spec
 * and the SLO, each with its own traffic, team and priority. Each draws its arrivals and service
 * times from its own seed; the first one's is the scenario's, so a scenario with one service
 * draws what it always drew.
 */
import { DEFAULT_TEAM, type Scenario, type TrafficConfig } from './scenario-schema.ts';

export interface ServiceLane {
  name: string;
  team: string;
  priority: number;
  traffic: TrafficConfig;
  /** Seeds this service's arrivals and service times. */
  seed: number;
}

/** The seed of the service at `index`: the scenario's for the first, derived for the rest. */
export function laneSeed(seed: number, index: number): number {
  return index === 0 ? seed : (seed + Math.imul(index, 0x9e3779b9)) >>> 0;
}

export function serviceLanes(scenario: Scenario): ServiceLane[] {
  if (!scenario.services) return [{ name: scenario.name, team: DEFAULT_TEAM, priority: 0, traffic: scenario.traffic, seed: scenario.seed }];
  return scenario.services.map((s, i) => ({ ...s, seed: laneSeed(scenario.seed, i) }));
}
