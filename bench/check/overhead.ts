/**
 * `check/overhead`: what the checkers cost on the DMA API's hot path. `ratio` = map + unmap pairs
 * per second of one 4 KiB page (dma-direct, x86_64, DMA_BIDIRECTIONAL, with the dma_mapping_error
 * check drivers must make) with dma-debug and the coherence checker attached / with no checker,
 * both measured in this run. Target ≥ 0.3. With no checker the kernel runs on its null hooks, so
 * the data path is the one `dma/map-direct` measures.
 */
import { CoherenceChecker } from '../../src/check/coherence.js';
import { DmaDebug } from '../../src/check/dma-debug.js';
import { chainDmaDebugHooks } from '../../src/check/hooks-chain.js';
import { DmaDataDirection } from '../../src/kernel/dma/direction.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { GFP_KERNEL } from '../../src/kernel/mm/gfp.js';
import { Machine } from '../../src/machine/machine.js';
import type { BenchResult } from '../types.js';
import { steadyRate } from '../timing.js';

const SIZE = 4096;
const DIR = DmaDataDirection.BIDIRECTIONAL;

/** Pairs per second on a fresh kernel, with both checkers attached or none. */
function pairRate(checked: boolean): number {
  const dbg = new DmaDebug();
  const coh = new CoherenceChecker({ log: false });
  const m = new Machine({ arch: 'x86_64' });
  const k = new Kernel(m, checked ? { dmaDebug: chainDmaDebugHooks(dbg, coh) } : {});
  if (checked) {
    dbg.attach(k);
    coh.attach(k);
  }
  const dev = k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e });
  const page = k.pages.allocPages(GFP_KERNEL, 0);
  const buf = page === null ? null : k.pageAddress(page);
  if (buf === null) throw new Error('check/overhead bench: no page');
  const dma = k.dma;
  let sink = 0;
  const rate = steadyRate(
    (n) => {
      for (let i = 0; i < n; i++) {
        const addr = dma.dmaMapSingle(dev, buf, SIZE, DIR);
        if (dma.dmaMappingError(dev, addr)) throw new Error('check/overhead bench: map failed');
        sink += addr & 0xfff;
        dma.dmaUnmapSingle(dev, addr, SIZE, DIR);
      }
    },
    { batch: 1 << 14 },
  );
  if (checked && (dbg.findings.all.length > 0 || coh.findings.all.length > 0)) {
    throw new Error('check/overhead bench: the correct loop raised findings');
  }
  if (sink < 0) throw new Error('unreachable');
  return rate;
}

export function benchCheckOverhead(): BenchResult {
  const off = pairRate(false);
  const on = pairRate(true);
  return {
    name: 'check/overhead',
    value: on,
    unit: 'pairs/s',
    baseline: off,
    ratio: on / off,
    target: 0.3,
  };
}
