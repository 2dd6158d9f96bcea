import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/lib/rng.js';
import { Clock } from '../../src/machine/clock/clock.js';
import { EventBus } from '../../src/machine/events.js';

describe('Clock', () => {
  it('runs events by time, then in the order they were scheduled', () => {
    const c = new Clock();
    const log: string[] = [];
    c.schedule(20, () => log.push(`b@${c.now}`));
    c.schedule(10, () => {
      log.push(`a@${c.now}`);
      c.schedule(10, () => log.push(`c@${c.now}`)); // same time as b, scheduled later
      c.schedule(0, () => log.push(`a2@${c.now}`));
    });
    expect(c.run()).toBe(4);
    expect(log).toEqual(['a@10', 'a2@10', 'b@20', 'c@20']);
  });

  it('stops at a limit and moves time to it; time never goes back', () => {
    const c = new Clock();
    let ran = 0;
    c.schedule(100, () => ran++);
    expect(c.run(50)).toBe(0);
    expect([c.now, c.pending, ran]).toEqual([50, 1, 0]);
    c.advance(10);
    expect(c.now).toBe(60);
    c.run();
    expect([c.now, ran]).toEqual([100, 1]);
  });

  it('tells time listeners when time moves', () => {
    const c = new Clock();
    const seen: number[] = [];
    c.addTimeListener({ onAdvance: (t) => seen.push(t) });
    c.schedule(5, () => undefined);
    c.schedule(5, () => undefined);
    c.run();
    c.advance(0);
    expect(seen).toEqual([5]);
  });

  it('rejects a negative or non-finite delay', () => {
    const c = new Clock();
    expect(() => {
      c.schedule(-1, () => undefined);
    }).toThrow(/cannot schedule -1 ns ahead/);
    expect(() => {
      c.schedule(NaN, () => undefined);
    }).toThrow(/NaN/);
  });
});

describe('Rng', () => {
  it('is a pure function of its seed, and forks independent streams', () => {
    const draw = (r: Rng): number[] => Array.from({ length: 8 }, () => r.int(0, 1000));
    expect(draw(new Rng(1))).toEqual(draw(new Rng(1)));
    expect(draw(new Rng(1))).not.toEqual(draw(new Rng(2)));
    expect(draw(new Rng(1).fork('cpu0'))).not.toEqual(draw(new Rng(1).fork('cpu1')));
    expect(draw(new Rng(1).fork('cpu0'))).toEqual(draw(new Rng(1).fork('cpu0')));
  });
});

describe('EventBus', () => {
  it('is off until someone listens and off again when the last one leaves', () => {
    const bus = new EventBus();
    expect(bus.on).toBe(false);
    const a = bus.subscribe(() => undefined);
    const b = bus.subscribe(() => undefined);
    a();
    expect(bus.on).toBe(true);
    b();
    expect(bus.on).toBe(false);
  });
});
