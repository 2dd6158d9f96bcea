/**
 * Interrupt handling for level-triggered lines (kernel/irq/manage.c request_irq/free_irq,
 * kernel/irq/chip.c handle_level_irq, kernel/irq/spurious.c note_interrupt): a registered
 * handler runs on the machine clock shortly after its line is asserted, on CPU 0, and again for
 * as long as the line stays asserted after it returns. Handlers of a shared line run in order.
 * MODEL: one interrupt controller, fixed delivery latency, no affinity, no threaded handlers.
 */
import { ConfigError } from '../lib/errors.js';
import type { IrqLine } from '../machine/bus/irq.js';
import type { Machine } from '../machine/machine.js';
import type { KernelLog } from './printk.js';

/** irqreturn_t. */
export const enum IrqReturn {
  NONE = 0,
  HANDLED = 1,
}

export type IrqHandler = () => IrqReturn;

/** Simulated time from a line's assertion to its handler (an APIC/GIC and entry path). */
export const IRQ_LATENCY_NS = 1000;
/** note_interrupt: after this many unhandled interrupts in a row the line is disabled. */
const UNHANDLED_LIMIT = 99_900;

interface Action {
  readonly name: string;
  readonly handler: IrqHandler;
}

interface Desc {
  readonly line: IrqLine;
  readonly irq: number;
  actions: Action[];
  pending: boolean;
  unhandled: number;
  disabled: boolean;
  /** Handler runs: /proc/interrupts' count. */
  count: number;
}

export class IrqCore {
  private readonly descs = new Map<IrqLine, Desc>();
  private nextIrq = 16;

  constructor(
    private readonly machine: Machine,
    private readonly log: KernelLog,
  ) {}

  /**
   * request_irq(irq, handler, IRQF_SHARED, name): adds a handler to `line`.
   * @returns the Linux irq number the line got
   */
  requestIrq(line: IrqLine, handler: IrqHandler, name: string): number {
    let d = this.descs.get(line);
    if (d === undefined) {
      d = {
        line,
        irq: this.nextIrq++,
        actions: [],
        pending: false,
        unhandled: 0,
        disabled: false,
        count: 0,
      };
      this.descs.set(line, d);
      const desc = d;
      line.connect((asserted) => {
        if (asserted) this.kick(desc);
      });
    }
    d.actions = [...d.actions, { name, handler }];
    if (line.asserted) this.kick(d);
    return d.irq;
  }

  /** free_irq: removes `name`'s handler; the line is disconnected with its last handler. */
  freeIrq(line: IrqLine, name: string): void {
    const d = this.descs.get(line);
    if (d === undefined || !d.actions.some((a) => a.name === name))
      throw new ConfigError(`free_irq: no handler "${name}" on interrupt line ${line.name}`);
    d.actions = d.actions.filter((a) => a.name !== name);
    if (d.actions.length > 0) return;
    line.connect(null);
    this.descs.delete(line);
  }

  /** The /proc/interrupts count of the line's irq (0 for an unknown line). */
  count(line: IrqLine): number {
    return this.descs.get(line)?.count ?? 0;
  }

  private kick(d: Desc): void {
    if (d.pending || d.disabled) return;
    d.pending = true;
    this.machine.clock.schedule(IRQ_LATENCY_NS, () => {
      this.deliver(d);
    });
  }

  /** handle_level_irq: run every action; while the line stays up, come back. */
  private deliver(d: Desc): void {
    d.pending = false;
    if (!d.line.asserted || this.descs.get(d.line) !== d) return;
    const prev = this.machine.currentCpu;
    this.machine.runOn(0);
    let ret = IrqReturn.NONE;
    for (const a of d.actions) ret |= a.handler();
    this.machine.runOn(prev);
    d.count++;
    d.unhandled = ret === IrqReturn.NONE ? d.unhandled + 1 : 0;
    if (d.unhandled >= UNHANDLED_LIMIT) {
      d.disabled = true;
      this.log.print('err', `irq ${d.irq}: nobody cared (try booting with the "irqpoll" option)`);
      this.log.print('err', 'Disabling IRQ #' + String(d.irq));
      return;
    }
    // The handlers may have lowered the line (TS cannot know: ask again).
    if (stillAsserted(d.line)) this.kick(d);
  }
}

function stillAsserted(line: IrqLine): boolean {
  return line.asserted;
}
