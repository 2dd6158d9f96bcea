import { describe, expect, it } from 'vitest';
import { E1000_DEFAULTS, e1000CheckOptions } from '../../../src/drivers/e1000/param.js';

function check(opts: Parameters<typeof e1000CheckOptions>[0]): {
  p: ReturnType<typeof e1000CheckOptions>;
  log: string[];
} {
  const log: string[] = [];
  return { p: e1000CheckOptions(opts, (m) => log.push(m)), log };
}

describe('e1000 module parameters (e1000_param.c)', () => {
  it('defaults say nothing; the dynamic ITR default runs at its starting 20000 ints/s', () => {
    const { p, log } = check({});
    expect(log).toEqual([]);
    expect(p).toEqual({ ...E1000_DEFAULTS, interruptThrottleRate: 20_000 });
  });

  it('valid values are reported and ring sizes rounded up to a multiple of 8', () => {
    const { p, log } = check({ txDescriptors: 50, rxIntDelay: 10, interruptThrottleRate: 0 });
    expect(p.txDescriptors).toBe(56);
    expect(p.rxIntDelay).toBe(10);
    expect(p.interruptThrottleRate).toBe(0);
    expect(log).toEqual([
      'Transmit Descriptors set to 50',
      'Receive Interrupt Delay set to 10',
      'Interrupt Throttling Rate (ints/sec) turned off',
    ]);
  });

  it('invalid values fall back to the default with the driver message', () => {
    const { p, log } = check({
      rxDescriptors: 5000,
      txIntDelay: -1,
      interruptThrottleRate: 50,
      copybreak: 1.5,
    });
    expect([p.rxDescriptors, p.txIntDelay, p.interruptThrottleRate, p.copybreak]).toEqual([
      256, 8, 20_000, 256,
    ]);
    expect(log).toEqual([
      // e1000_check_options' order: ring sizes, then the delays.
      'Invalid Receive Descriptors value specified (5000) using default of 256',
      'Invalid Transmit Interrupt Delay value specified (-1) using default of 8',
      'Invalid Interrupt Throttling Rate (ints/sec) value specified (50) using default of 3',
      'Invalid copybreak value specified (1.5) using default of 256',
    ]);
  });
});
