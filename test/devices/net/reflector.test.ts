import { describe, expect, it } from 'vitest';
import { Link } from '../../../src/devices/net/link.js';
import { NetReflector } from '../../../src/devices/net/reflector.js';
import { Clock } from '../../../src/machine/clock/clock.js';

describe('the reflector peer', () => {
  it('sends every frame back with destination and source swapped, one line time later', () => {
    const clock = new Clock();
    const link = new Link(clock);
    const got: [number, Uint8Array][] = [];
    const host = link.attach({ receive: (f) => got.push([clock.now, f.slice()]) });
    const r = new NetReflector();
    r.connect(link);
    const frame = new Uint8Array(100).map((_, i) => i);
    const left = host.transmit(frame);
    clock.run();
    expect(r.frames).toBe(1);
    expect(got).toHaveLength(1);
    const [at, back] = got[0]!;
    expect(at).toBe(left + (100 + 4 + 8) * 8);
    expect([...back.subarray(0, 12)]).toEqual([6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5]);
    expect(back.subarray(12)).toEqual(frame.subarray(12));
    // The sender's buffer was copied by the link, so the swap did not touch it.
    expect(frame[0]).toBe(0);
    expect(() => {
      r.connect(link);
    }).toThrow('reflector: already connected');
  });
});
