/** Every scenario `dmasim run` knows, in the order `dmasim scenarios` lists them. */
import { coherenceScenario } from './coherence.js';
import { e1000Scenario } from './e1000.js';
import type { Scenario } from './scenario.js';
import { ConfigError } from '../lib/errors.js';

export const SCENARIOS: readonly Scenario[] = [coherenceScenario, e1000Scenario];

export function findScenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined)
    throw new ConfigError(
      `no scenario "${name}"; the scenarios are ${SCENARIOS.map((x) => x.name).join(', ')} (dmasim scenarios)`,
    );
  return s;
}
