/**
 * Writing the simulator's own dma/iommu/swiotlb events as /sys/kernel/tracing/trace prints them,
 * header included, so `dmasim check` and trace-cmd users read a simulated run like a real one.
 *
 * MODEL: the task columns say which task the simulated kernel ran (swapper/N when none), the
 * latency flags are always "....." and the timestamp is the simulated clock.
 */
import type { Kernel } from '../kernel/kernel.js';
import { traceEventLine } from '../kernel/dma/trace.js';

/** The lines before the first event, for a machine of `cpus` CPUs and `entries` events. */
export function ftraceHeader(entries: number, cpus: number): string[] {
  return [
    '# tracer: nop',
    '#',
    `# entries-in-buffer/entries-written: ${entries}/${entries}   #P:${cpus}`,
    '#',
    '#                                _-----=> irqs-off/BH-disabled',
    '#                               / _----=> need-resched',
    '#                              | / _---=> hardirq/softirq',
    '#                              || / _--=> preempt-depth',
    '#                              ||| / _-=> migrate-disable',
    '#                              |||| /     delay',
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
    '#              | |         |   |||||     |         |',
  ];
}

/** Records every trace event of a kernel as an ftrace line, from the moment it is attached. */
export class FtraceRecorder {
  private readonly lines: string[] = [];

  constructor(private readonly k: Kernel) {
    const m = k.machine;
    k.dmaTrace.subscribe((ev) => {
      const cpu = m.currentCpu;
      this.lines.push(
        traceEventLine(
          {
            comm: `swapper/${cpu}`,
            pid: 0,
            cpu,
            flags: '.....',
            timestampNs: Math.floor(m.clock.now),
          },
          ev,
        ),
      );
    });
  }

  /** Events recorded so far. */
  get count(): number {
    return this.lines.length;
  }

  /** The whole trace file's text. */
  text(): string {
    const header = ftraceHeader(this.lines.length, this.k.machine.cpus.length);
    return [...header, ...this.lines].join('\n') + '\n';
  }
}
