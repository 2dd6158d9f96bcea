/**
 * The DMA remapping fault interrupt (drivers/iommu/intel/dmar.c dmar_fault): each fault record is
 * logged as `DMAR: [DMA Read NO_PASID] Request device [00:01.0] fault addr ...`, rate-limited as
 * the kernel does (DEFAULT_RATELIMIT_BURST 10 per DEFAULT_RATELIMIT_INTERVAL of 5 s).
 */
import type { Clock } from '../../machine/clock/clock.js';
import type { IommuFault } from '../../machine/events.js';
import type { KernelLog } from '../printk.js';

const INTERVAL_NS = 5e9;
const BURST = 10;

export function dmarFaultHandler(log: KernelLog, clock: Clock): (f: IommuFault) => void {
  let begin = -Infinity;
  let printed = 0;
  return (f) => {
    if (clock.now - begin >= INTERVAL_NS) {
      begin = clock.now;
      printed = 0;
    }
    if (printed >= BURST) return;
    printed++;
    log.print('err', f.message);
  };
}
