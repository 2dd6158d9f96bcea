import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_OPTIONS } from '../../src/scenarios/options.js';
import type { RunReport } from '../../src/scenarios/report.js';
import { resolveParams, runScenario } from '../../src/scenarios/run.js';
import { STREAMING_MISTAKES, streamingScenario } from '../../src/scenarios/streaming.js';
import type { ArchName } from '../../src/machine/profile.js';

function run(arch: ArchName, mistake: string, seed = 1, size?: string): RunReport {
  const raw: Record<string, string> = { mistake, ...(size === undefined ? {} : { size }) };
  const params = resolveParams(streamingScenario, raw);
  return runScenario(streamingScenario, { ...DEFAULT_RUN_OPTIONS, arch, seed, params }, 'test')
    .report;
}

/** What each mistake gives on each arch: finding counts, stale looks (the bytes the run saw). */
const EXPECTED: Record<string, Record<string, [Record<string, number>, number]>> = {
  arm64: {
    'no-sync-for-cpu': [{ 'cpu-access-device-owned': 3, 'stale-cpu-read': 2 }, 2],
    'no-sync-for-device': [{ 'device-access-unowned': 3, 'stale-device-read': 2 }, 2],
    'no-unmap': [{ leak: 1, 'cpu-access-device-owned': 1, 'stale-cpu-read': 1 }, 1],
  },
  arm32: {
    'no-sync-for-cpu': [{ 'cpu-access-device-owned': 3, 'stale-cpu-read': 1 }, 1],
    'no-sync-for-device': [{ 'device-access-unowned': 3, 'stale-device-read': 2 }, 2],
    'no-unmap': [{ leak: 1, 'cpu-access-device-owned': 1 }, 0],
  },
  // Coherent devices: the bytes come out right, the ownership rules are still broken.
  x86_64: {
    'no-sync-for-cpu': [{ 'cpu-access-device-owned': 3 }, 0],
    'no-sync-for-device': [{ 'device-access-unowned': 3 }, 0],
    'no-unmap': [{ leak: 1, 'cpu-access-device-owned': 1 }, 0],
  },
  prep: {
    'no-sync-for-cpu': [{ 'cpu-access-device-owned': 3 }, 0],
    'no-sync-for-device': [{ 'device-access-unowned': 3 }, 0],
    'no-unmap': [{ leak: 1, 'cpu-access-device-owned': 1 }, 0],
  },
};

describe.each(streamingScenario.archs)('streaming on %s', (arch) => {
  it('done right: every look fresh, no finding, nothing leaked', () => {
    const r = run(arch, 'none');
    expect(r.findings).toEqual([]);
    expect(r.happened).toMatchObject({
      looks: 7,
      'stale looks': 0,
      'stale bytes': 0,
      'bytes moved': 7 * 4096,
      'mappings leaked': 0,
    });
    expect(r.narrative.join('\n')).not.toContain('STALE');
  });

  it.each(STREAMING_MISTAKES.filter((m) => m !== 'none'))(
    '%s: the findings it really gives',
    (m) => {
      const r = run(arch, m);
      const [counts, staleLooks] = EXPECTED[arch]![m]!;
      expect(r.findingCounts).toEqual(counts);
      expect(r.happened['stale looks']).toBe(staleLooks);
      expect(r.findings.every((f) => f.severity === 'error')).toBe(true);
      if (staleLooks > 0) expect(r.narrative.join('\n')).toContain('STALE');
      if (m === 'no-unmap') {
        expect(r.happened['mappings leaked']).toBe(3);
        const leak = r.findings.find((f) => f.kind === 'leak')!;
        expect(leak.checker).toBe('dma-debug');
        expect(leak.message).toContain('[count=3]');
      }
    },
  );
});

describe('streaming on non-coherent arm64', () => {
  it('shows the stale bytes and names the missing call', () => {
    const r = run('arm64', 'no-sync-for-cpu');
    const text = r.narrative.join('\n');
    expect(text).toContain('(dma_sync_single_for_cpu left out)');
    // The reply never reached the CPU: it still sees the request from its own cache.
    expect(text).toMatch(/CPU reads "request E\|.*STALE .*differ from "reply F\|…"/);
    expect(r.happened.device).toBe('non-coherent');
    expect(r.happened['stale bytes']).toBeGreaterThan(0);
    const stale = r.findings.filter((f) => f.kind === 'stale-cpu-read');
    expect(stale.map((f) => f.fix)).toEqual([
      expect.stringContaining('dma_sync_single_for_cpu'),
      expect.stringContaining('dma_sync_single_for_cpu'),
    ]);
    const dev = run('arm64', 'no-sync-for-device');
    expect(dev.narrative.join('\n')).toMatch(/device reads "tx packet A\|.*STALE/);
  });

  it('a small buffer, bounced through SWIOTLB: the copy back never happens, the ownership finding stays', () => {
    const r = run('arm64', 'no-sync-for-cpu', 1, '64');
    // The device wrote the bounce slot; without the sync nothing copies it back, so the CPU's
    // RAM and cache agree on the old bytes: no stale line, but the read is of a device-owned buffer.
    expect(r.findingCounts).toEqual({ 'cpu-access-device-owned': 3 });
    expect(r.happened['stale looks']).toBe(2);
    expect(run('arm64', 'none', 1, '64').findings).toEqual([]);
  });

  it('is deterministic: the same seed gives the same report', () => {
    expect(JSON.stringify(run('arm64', 'no-unmap', 7))).toBe(
      JSON.stringify(run('arm64', 'no-unmap', 7)),
    );
  });
});
