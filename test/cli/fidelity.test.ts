import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers.js';

describe('dmasim fidelity', () => {
  it("agrees 100% with the simulator's own trace, IOVAs behind strict VT-d", () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'dmasim-fid-')), 'sim.trace');
    expect(
      runCli(['run', 'e1000', '--iommu', 'strict', '--count', '3', '--trace', trace]).status,
    ).toBe(0);
    const r = runCli(['fidelity', trace, '--json']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.out) as {
      iova: { compared: number; percent: number } | null;
      swiotlb: unknown;
    };
    expect(doc.iova?.compared).toBeGreaterThan(250);
    expect(doc.iova?.percent).toBe(100);
    expect(doc.swiotlb).toBeNull();
    expect(runCli(['fidelity', trace]).out).toMatch(/IOVA agreement: 100\.00% \(\d+ of \d+/);
  });

  it('names an unreadable trace with status 2', () => {
    const r = runCli(['fidelity', '/nonexistent/x.trace']);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/^dmasim: \/nonexistent\/x\.trace: cannot read the trace \(ENOENT\)/);
  });
});
