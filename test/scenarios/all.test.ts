/**
 * Every registered scenario on every architecture it supports: its report validates against the
 * JSON schema, a correct run has no error findings unless the scenario shows mistakes by default,
 * and the same seed gives byte-identical JSON.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_OPTIONS } from '../../src/scenarios/options.js';
import type { RunOptions } from '../../src/scenarios/options.js';
import { SCENARIOS } from '../../src/scenarios/registry.js';
import { resolveParams, runScenario } from '../../src/scenarios/run.js';
import type { Scenario } from '../../src/scenarios/scenario.js';
import { schemaErrors } from './schema.js';

/** Smaller workloads where the defaults take longer than a test needs. */
const QUICK: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  e1000: { count: '2' },
};

function quick(s: Scenario, arch: RunOptions['arch'], seed = 1): string {
  const raw = Object.fromEntries(
    Object.entries(QUICK[s.name] ?? {}).filter(([k]) => s.params.some((p) => p.name === k)),
  );
  const opts: RunOptions = { ...DEFAULT_RUN_OPTIONS, arch, seed, params: resolveParams(s, raw) };
  return JSON.stringify(runScenario(s, opts, '0.0.0-test').report);
}

describe.each(SCENARIOS.map((s) => [s.name, s] as const))('scenario %s', (_name, s) => {
  it.each(s.archs.map((a) => [a]))('runs on %s and its JSON validates', (arch) => {
    const doc = JSON.parse(quick(s, arch)) as { scenario: string; config: { arch: string } };
    expect(schemaErrors(doc)).toBe('');
    expect(doc.scenario).toBe(s.name);
    expect(doc.config.arch).toBe(arch);
  });

  it('gives byte-identical JSON for the same seed', () => {
    const arch = s.archs[0] ?? 'x86_64';
    expect(quick(s, arch, 42)).toBe(quick(s, arch, 42));
  });
});
