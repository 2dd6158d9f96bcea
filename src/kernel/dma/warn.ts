/** dev_WARN_ONCE for the DMA layer: once per call site, the message and then the WARNING line. */
import type { Device } from '../device/device.js';
import { SWAPPER, warnHeader } from '../mm/report.js';
import type { KernelLog } from '../printk.js';

export class DevWarnOnce {
  private readonly fired = new Set<string>();

  constructor(
    private readonly log: KernelLog,
    /** smp_processor_id(). */
    private readonly cpu: () => number,
  ) {}

  /**
   * Prints `dev`'s prefix and `text`, then `WARNING: CPU: n PID: 0 at <where>`, the first time
   * the site `where` fires; later calls print nothing (WARN_ONCE keeps one flag per site).
   */
  warn(dev: Device, text: string, where: string): void {
    if (this.fired.has(where)) return;
    this.fired.add(where);
    this.log.warn(`${dev.logPrefix}: ${text}`);
    warnHeader(this.log, this.cpu(), SWAPPER, where);
  }
}
