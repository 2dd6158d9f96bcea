import { describe, expect, it } from 'vitest';
import { DelayTimer } from '../../../src/devices/e1000/interrupts.js';
import { UNIT } from '../../../src/devices/e1000/regs.js';
import { Clock } from '../../../src/machine/clock/clock.js';

const U = UNIT.DELAY_NS;

function timer(): { clock: Clock; t: DelayTimer; fired: number[] } {
  const clock = new Clock();
  const fired: number[] = [];
  const t = new DelayTimer(clock, () => fired.push(clock.now));
  return { clock, t, fired };
}

describe('DelayTimer (TIDV/TADV, RDTR/RADV)', () => {
  it('fires once at the last restart plus the relative delay, one event scheduled throughout', () => {
    const { clock, t, fired } = timer();
    t.arm(10, 0);
    clock.run(4 * U);
    t.arm(10, 0);
    clock.run(8 * U);
    t.arm(10, 0);
    expect(clock.pending).toBe(1);
    clock.run();
    expect(fired).toEqual([18 * U]);
    expect(t.pending).toBe(false);
  });

  it('fires at the absolute limit when restarts keep pushing the relative one out', () => {
    const { clock, t, fired } = timer();
    for (let i = 0; i < 5; i++) {
      t.arm(10, 25); // at 0, 5, ..., 20: the relative deadline moves to 30
      clock.run(clock.now + 5 * U - 1);
      clock.advance(1);
    }
    clock.run();
    expect(fired).toEqual([25 * U]);
  });

  it('after a cancel, a new arm fires at its own deadline and not at the old wake-up', () => {
    const { clock, t, fired } = timer();
    t.arm(10, 0);
    t.cancel();
    clock.run(3 * U);
    t.arm(10, 0);
    clock.run();
    expect(fired).toEqual([13 * U]);
  });

  it('a shorter delay than the scheduled wake-up fires early, once', () => {
    const { clock, t, fired } = timer();
    t.arm(100, 0);
    t.arm(5, 0);
    clock.run();
    expect(fired).toEqual([5 * U]);
  });

  it('flush fires at once and leaves nothing to fire later', () => {
    const { clock, t, fired } = timer();
    t.arm(10, 20);
    clock.run(2 * U);
    t.flush();
    clock.run();
    expect(fired).toEqual([2 * U]);
  });
});
