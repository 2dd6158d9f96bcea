/** Every scenario `dmasim run` knows, in the order `dmasim scenarios` lists them. */
import { addressesScenario } from './addresses.js';
import { coherenceScenario } from './coherence.js';
import { e1000Scenario } from './e1000.js';
import { iommuSecurityScenario } from './iommu-security.js';
import { masksScenario } from './masks.js';
import { poolScenario } from './pool.js';
import { sgScenario } from './sg.js';
import { streamingScenario } from './streaming.js';
import { swiotlbScenario } from './swiotlb.js';
import { wcScenario } from './wc.js';
import type { Scenario } from './scenario.js';
import { ConfigError } from '../lib/errors.js';

export const SCENARIOS: readonly Scenario[] = [
  coherenceScenario,
  streamingScenario,
  sgScenario,
  swiotlbScenario,
  masksScenario,
  addressesScenario,
  wcScenario,
  poolScenario,
  e1000Scenario,
  iommuSecurityScenario,
];

export function findScenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined)
    throw new ConfigError(
      `no scenario "${name}"; the scenarios are ${SCENARIOS.map((x) => x.name).join(', ')} (dmasim scenarios)`,
    );
  return s;
}
