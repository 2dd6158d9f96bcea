import { describe, expect, it } from 'vitest';
import { ARCH_NAMES } from '../../src/machine/profile.js';
import { runCoherenceDemo } from '../../src/scenarios/coherence.js';

describe.each(ARCH_NAMES)('the coherence demonstration on %s', (arch) => {
  it('shows fresh bytes for the coherent device and stale ones until each sync', () => {
    const d = runCoherenceDemo({ arch });
    const fresh = d.steps.map((s) =>
      s.observations.map((o) => `${o.who}:${o.fresh ? 'fresh' : 'stale'}`),
    );
    expect(fresh).toEqual([
      ['coherent-dev:fresh', 'noncoherent-dev:stale'],
      ['noncoherent-dev:fresh'],
      ['cpu:stale'],
      ['cpu:fresh'],
    ]);
    expect(new TextDecoder().decode(d.steps[3]?.observations[0]?.bytes)).toBe('device data');
    expect([...(d.steps[0]?.observations[1]?.bytes ?? [])]).toEqual(new Array(11).fill(0));
  });
});
