import { describe, expect, it } from 'vitest';
import { IRQ_LATENCY_NS, IrqReturn } from '../../src/kernel/irq.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { KernelTimer } from '../../src/kernel/timer.js';
import { MIB } from '../../src/lib/units.js';
import { IrqLine } from '../../src/machine/bus/irq.js';
import { Machine } from '../../src/machine/machine.js';

function kernel(): Kernel {
  return new Kernel(new Machine({ ramSize: 64 * MIB, cpus: 2 }));
}

describe('level-triggered interrupts (request_irq, handle_level_irq)', () => {
  it('runs the handler on CPU 0 after the delivery latency, again while the line stays up', () => {
    const k = kernel();
    const line = new IrqLine('nic');
    const calls: [number, number][] = [];
    let pending = 2;
    k.irq.requestIrq(
      line,
      () => {
        calls.push([k.machine.clock.now, k.machine.currentCpu]);
        if (--pending === 0) line.set(false);
        return IrqReturn.HANDLED;
      },
      'eth0',
    );
    k.machine.runOn(1);
    line.set(true);
    k.machine.clock.run();
    expect(calls).toEqual([
      [IRQ_LATENCY_NS, 0],
      [2 * IRQ_LATENCY_NS, 0],
    ]);
    expect(k.machine.currentCpu).toBe(1);
    expect(k.irq.count(line)).toBe(2);
  });

  it('shared lines run every handler; free_irq of the last one disconnects the line', () => {
    const k = kernel();
    const line = new IrqLine('intx');
    const seen: string[] = [];
    k.irq.requestIrq(line, () => (seen.push('a'), IrqReturn.NONE), 'a');
    k.irq.requestIrq(line, () => (seen.push('b'), line.set(false), IrqReturn.HANDLED), 'b');
    line.set(true);
    k.machine.clock.run();
    expect(seen).toEqual(['a', 'b']);
    k.irq.freeIrq(line, 'a');
    k.irq.freeIrq(line, 'b');
    line.set(true);
    k.machine.clock.run();
    expect(seen).toEqual(['a', 'b']);
    expect(() => {
      k.irq.freeIrq(line, 'a');
    }).toThrow('free_irq: no handler "a" on interrupt line intx');
  });

  it('a line nobody handles is disabled with the kernel message', () => {
    const k = kernel();
    const line = new IrqLine('stuck');
    const irq = k.irq.requestIrq(line, () => IrqReturn.NONE, 'deaf');
    line.set(true);
    k.machine.clock.run();
    const text = k.log.all.map((l) => l.text);
    expect(text).toContain(`irq ${irq}: nobody cared (try booting with the "irqpoll" option)`);
    expect(text).toContain(`Disabling IRQ #${irq}`);
    expect(k.irq.count(line)).toBe(99_900);
  });
});

describe('kernel timers', () => {
  it('mod_timer re-arms (the earlier expiry does nothing), del_timer cancels', () => {
    const k = kernel();
    const fired: number[] = [];
    const t = new KernelTimer(k.machine.clock, () => fired.push(k.machine.clock.now));
    t.mod(100);
    t.mod(300);
    expect(t.pending).toBe(true);
    k.machine.clock.run();
    expect(fired).toEqual([300]);
    expect(t.pending).toBe(false);
    t.mod(50);
    t.del();
    k.machine.clock.run();
    expect(fired).toEqual([300]);
  });
});
