/**
 * Differential test against a real Linux 6.12 kernel: replays the IOMMU map/unmap sequence of
 * trace B (e1000 behind VT-d, strict mode) through the IOVA allocator, each call on the CPU the
 * trace line ran on and at its time, and expects the kernel's IOVA for every mapping. Skipped when
 * the shared traces are not beside the checkout.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { initIovaDomain } from '../../src/kernel/dma/iova.js';
import { Clock } from '../../src/machine/clock/clock.js';

const TRACE = new URL('../../../shared/traces/B_e1000_iommu_strict.trace', import.meta.url);
const LINE =
  /\[(\d+)\].*?\s([\d.]+): (map|unmap): IOMMU: iova=0x([0-9a-f]+) - 0x[0-9a-f]+.*? size=(\d+)/;
/** The ISA bridge's 16 MiB identity map lives in another domain. */
const IDENTITY_END_PFN = 0x80000;

interface Op {
  kind: string;
  cpu: number;
  t: number;
  pfn: number;
  pages: number;
}

/**
 * The trace's map/unmap calls. One iommu_map call of several physical segments prints one line
 * per segment, back to back with contiguous IOVAs; any other event line ends the call.
 */
function calls(text: string): Op[] {
  const ops: Op[] = [];
  let open = false;
  for (const l of text.split('\n')) {
    const m = LINE.exec(l);
    if (m === null) {
      if (l.includes(': ')) open = false;
      continue;
    }
    const pfn = parseInt(m[4]!, 16) / 4096;
    const pages = Number(m[5]) / 4096;
    if (pfn < IDENTITY_END_PFN) continue;
    const last = ops.at(-1);
    if (open && last !== undefined && last.kind === m[3] && last.pfn + last.pages === pfn) {
      last.pages += pages;
    } else {
      ops.push({ kind: m[3]!, cpu: Number(m[1]), t: Math.round(Number(m[2]) * 1e9), pfn, pages });
    }
    open = true;
  }
  return ops;
}

describe.skipIf(!existsSync(TRACE))('IOVA allocation against the real trace B', () => {
  it('gives every mapping the IOVA the kernel gave it', () => {
    const clock = new Clock();
    const dom = initIovaDomain(4096, 1);
    let cpu = 0;
    dom.iovaDomainInitRcaches({ nCpus: 2, cpu: () => cpu, clock });
    const ops = calls(readFileSync(TRACE, 'utf8'));
    const got: string[] = [];
    const want: string[] = [];
    for (const op of ops) {
      cpu = op.cpu;
      if (op.t > clock.now) clock.run(op.t);
      if (op.kind === 'unmap') dom.freeIovaFast(op.pfn, op.pages);
      else {
        got.push(dom.allocIovaFast(op.pages, 0xfffff, true).toString(16));
        want.push(op.pfn.toString(16));
      }
    }
    expect(want.length).toBeGreaterThan(800);
    expect(got).toEqual(want);
  });
});
