/** `dmasim check`: in-process runs with a fake io; JSON output, exit statuses 0, 1 and 2. */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers.js';

const run = runCli;

const DEV = '0000:00:01.0';
const line = (n: number, ev: string, f: string): string =>
  `  task-1 [000] ..... 1.${String(n).padStart(6, '0')}: ${ev}: ${DEV} ${f}`;
const GOOD = [
  '# tracer: nop',
  line(1, 'dma_map_page', 'dir=TO_DEVICE dma_addr=1000 size=64 phys_addr=1000 attrs='),
  line(2, 'dma_unmap_page', 'dir=TO_DEVICE dma_addr=1000 size=64 attrs='),
  line(3, 'dma_unmap_page', 'dir=TO_DEVICE dma_addr=2000 size=64 attrs='),
  '',
].join('\n');
const BAD = GOOD + line(4, 'dma_unmap_page', 'dir=TO_DEVICE dma_addr=1000 size=64 attrs=') + '\n';

const dir = mkdtempSync(join(tmpdir(), 'dmasim-check-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('dmasim check', () => {
  it('prints the header, findings, preexisting and live counts, and device tables', () => {
    const r = run(['check', file('good.trace', GOOD)]);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(
      /^dmasim \S+: check .*good\.trace\n {2}lines {5}4\n {2}events {4}3 audited; not used by the audit \(counted\): none\n/,
    );
    expect(r.out).toContain('Findings: none');
    expect(r.out).toContain('Preexisting (unmap/free/sync of mappings made before the trace began): 1'); // prettier-ignore
    expect(r.out).toContain('Live at end (not leaks: the trace shows no driver unbind): 0');
    expect(r.out).toContain(`Device ${DEV}`);
    expect(r.out).toMatch(/streaming maps +1 \(64 bytes\)/);
  });

  it('--json prints one document with the trace, devices, findings, preexisting and live', () => {
    const r = run(['check', file('bad.trace', BAD), '--json']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.out) as {
      trace: { lines: number; events: number; byEvent: Record<string, number> };
      devices: Record<string, { calls: Record<string, number> }>;
      findings: { kind: string; line: number; severity: string; addresses: { bus: string } }[];
      preexisting: { count: number };
      liveAtEnd: { count: number };
    };
    expect(doc.trace).toMatchObject({ lines: 5, events: 4, byEvent: { dma_unmap_page: 3 } });
    expect(doc.devices[DEV]!.calls).toEqual({ dma_map_page: 1, dma_unmap_page: 3 });
    expect(doc.findings).toHaveLength(1);
    expect(doc.findings[0]).toMatchObject({
      kind: 'double-unmap',
      line: 5,
      severity: 'error',
      addresses: { bus: '0x1000' },
    });
    expect(doc.preexisting.count).toBe(1);
    expect(doc.liveAtEnd.count).toBe(0);
  });

  it('human output shows the finding with its line', () => {
    const r = run(['check', file('bad2.trace', BAD)]);
    expect(r.out).toContain('Findings: 1 errors, 0 warnings');
    expect(r.out).toContain('  double-unmap (1, error)');
    expect(r.out).toContain(`    line 5 ${DEV}: device driver tries to free DMA memory`);
  });

  it('--fail-on exits 1 only when a finding of those kinds occurs', () => {
    const bad = file('bad3.trace', BAD);
    expect(run(['check', bad, '--fail-on', 'double-unmap']).status).toBe(1);
    expect(run(['check', bad, '--fail-on', 'error']).status).toBe(1);
    expect(run(['check', bad, '--fail-on', 'any']).status).toBe(1);
    expect(run(['check', bad, '--fail-on', 'unmap-wrong-size,warning']).status).toBe(0);
    expect(run(['check', file('good2.trace', GOOD), '--fail-on', 'any']).status).toBe(0);
    expect(run(['check', bad, '--fail-on', 'Bad Kind']).status).toBe(2);
  });

  it('a malformed line exits 2 naming file and line; --lenient skips it with a warning', () => {
    const text = GOOD + line(4, 'dma_unmap_page', 'dir=SIDEWAYS dma_addr=zz') + '\n';
    const p = file('malformed.trace', text);
    const r = run(['check', p]);
    expect(r.status).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain(`dmasim: ${p}:5: dma_unmap_page`);
    expect(r.err).not.toMatch(/\n\s+at /);
    const l = run(['check', p, '--lenient', '--json']);
    expect(l.status).toBe(0);
    expect(l.err).toContain(`warning: ${p}:5:`);
    expect(l.err).toContain('1 malformed lines skipped');
    expect((JSON.parse(l.out) as { trace: { badLines: number } }).trace.badLines).toBe(1);
  });

  it('counts the events the audit does not use without reading them; replay reads them all', () => {
    const iommu = '  task-1 [000] ..... 1.000004: map: IOMMU: iova=0x1000 - junk';
    const p = file('unaudited.trace', GOOD + iommu + '\n');
    const r = run(['check', p, '--json']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.out) as { trace: { events: number; skipped: Record<string, number> } };
    expect(doc.trace).toMatchObject({ events: 3, skipped: { map: 1 } });
    const replay = run(['replay', p]);
    expect(replay.status).toBe(2);
    expect(replay.err).toContain(`dmasim: ${p}:5: map: `);
  });

  it('a missing or empty file exits 2 with a message', () => {
    const missing = run(['check', join(dir, 'nope.trace')]);
    expect(missing.status).toBe(2);
    expect(missing.err).toContain('nope.trace: cannot read the trace (ENOENT)');
    const empty = run(['check', file('empty.trace', '')]);
    expect(empty.status).toBe(2);
    expect(empty.err).toContain('empty file');
  });
});

const REAL = new URL('../../../shared/traces/B_e1000_iommu_strict.trace', import.meta.url);
describe.skipIf(!existsSync(REAL))('dmasim check on a real trace', () => {
  it('reports no findings and the device behind the IOMMU', () => {
    const r = run(['check', REAL.pathname, '--fail-on', 'any']);
    expect(r.status).toBe(0);
    expect(r.out).toContain('Findings: none');
    expect(r.out).toContain(`Device ${DEV} (behind an IOMMU)`);
  });
});
