import { describe, expect, it } from 'vitest';
import { ETH_FRAME_LEN } from '../../../src/lib/net/frame.js';
import { Link, frameSlotBytes, frameWireBytes } from '../../../src/devices/net/link.js';
import type { LinkSide } from '../../../src/devices/net/link.js';
import type { NetReceiver } from '../../../src/devices/net/port.js';
import { ConfigError } from '../../../src/lib/errors.js';
import { Clock } from '../../../src/machine/clock/clock.js';

/** A receiver that logs arrival time, length and first byte. */
function sink(clock: Clock, log: string[], name: string): NetReceiver {
  return { receive: (f) => log.push(`${name}@${clock.now}:${f.length}:${f[0]}`) };
}

const frame = (n: number, v = 1): Uint8Array => new Uint8Array(n).fill(v);

describe('Link', () => {
  it('a 1514-byte frame holds 1 Gbit/s for (1514+4+8+12)*8 = 12304 ns', () => {
    expect(frameSlotBytes(ETH_FRAME_LEN) * 8).toBe(12304);
    expect(frameWireBytes(ETH_FRAME_LEN) * 8).toBe(12208);
    // Short frames are padded to 60 for timing: 84 byte times is the 672 ns minimum slot.
    expect(frameSlotBytes(1) * 8).toBe(672);
  });

  it('delivers when the last bit arrives; back-to-back frames queue at 12304 ns', () => {
    const c = new Clock();
    const link = new Link(c);
    const log: string[] = [];
    const a = link.attach(sink(c, log, 'A'));
    link.attach(sink(c, log, 'B'));
    const t1 = a.transmit(frame(1514, 1));
    const t2 = a.transmit(frame(1514, 2));
    const t3 = a.transmit(frame(42, 3));
    // The last FCS bit leaves 12208 ns after the first preamble bit; the 96 ns gap follows.
    expect([t1, t2, t3]).toEqual([12208, 12208 + 12304, 2 * 12304 + 672 - 96]);
    c.run();
    expect(log).toEqual(['B@12208:1514:1', 'B@24512:1514:2', 'B@25184:42:3']);
  });

  it('the transmitter idles when there is nothing to send', () => {
    const c = new Clock();
    const link = new Link(c);
    const log: string[] = [];
    const a = link.attach({ receive: () => undefined });
    link.attach(sink(c, log, 'B'));
    a.transmit(frame(60));
    c.run(1_000_000);
    expect(a.transmit(frame(60))).toBe(1_000_000 + 576);
    expect(link.freeAt(0)).toBe(1_000_000 + 672);
    // A frame sent while the line is still busy waits for the gap to pass.
    c.run(1_000_000 + 600);
    expect(a.transmit(frame(60))).toBe(1_000_000 + 672 + 576);
  });

  it('is full duplex: the directions do not queue behind each other', () => {
    const c = new Clock();
    const link = new Link(c, { propagationNs: 50 });
    const log: string[] = [];
    const a = link.attach(sink(c, log, 'A'));
    const b = link.attach(sink(c, log, 'B'));
    expect(a.transmit(frame(1514))).toBe(12208);
    expect(b.transmit(frame(1514, 9))).toBe(12208);
    c.run();
    expect(log).toEqual(['B@12258:1514:1', 'A@12258:1514:9']);
  });

  it('runs at other rates', () => {
    const c = new Clock();
    const link = new Link(c, { rateBps: 100e6 });
    const a = link.attach({ receive: () => undefined });
    link.attach({ receive: () => undefined });
    expect(a.transmit(frame(1514))).toBe(122_080);
    expect(a.transmit(frame(1514))).toBe(122_080 + 123_040);
    expect(link.byteTimeNs(1)).toBe(80);
  });

  it('copies frames on transmit', () => {
    const c = new Clock();
    const link = new Link(c);
    const got: Uint8Array[] = [];
    const a = link.attach({ receive: () => undefined });
    link.attach({ receive: (f) => got.push(f) });
    const buf = frame(64, 5);
    a.transmit(buf);
    buf.fill(0);
    c.run();
    expect(got[0]).toEqual(frame(64, 5));
  });

  it('takes a handed-over frame as it is, without a copy', () => {
    const c = new Clock();
    const link = new Link(c);
    const got: Uint8Array[] = [];
    const a = link.attach({ receive: () => undefined });
    link.attach({ receive: (f) => got.push(f) });
    const buf = frame(64, 5);
    expect(a.transmit(buf, 1000, true)).toBe(1000 + (64 + 4 + 8) * 8);
    c.run();
    expect(got[0]).toBe(buf);
  });

  it('captures both directions in time order, before delivery, and counts per direction', () => {
    const c = new Clock();
    const link = new Link(c, { propagationNs: 10 });
    const log: string[] = [];
    const a = link.attach(sink(c, log, 'A'));
    const b = link.attach(sink(c, log, 'B'));
    const remove = link.capture((t, f, side: LinkSide) => log.push(`tap${side}@${t}:${f.length}`));
    a.transmit(frame(1514));
    b.transmit(frame(100, 7));
    a.transmit(frame(60));
    c.run();
    expect(log).toEqual([
      'tap1@896:100',
      'A@906:100:7',
      'tap0@12208:1514',
      'B@12218:1514:1',
      'tap0@12880:60',
      'B@12890:60:1',
    ]);
    expect(link.counters(0)).toEqual({ frames: 2, bytes: 1574 });
    expect(link.counters(1)).toEqual({ frames: 1, bytes: 100 });
    remove();
    b.transmit(frame(60));
    c.run();
    expect(log.filter((l) => l.startsWith('tap')).length).toBe(3);
  });

  it('loses frames sent with nobody at the other end; accepts exactly two ends', () => {
    const c = new Clock();
    const link = new Link(c);
    const a = link.attach({ receive: () => undefined });
    a.transmit(frame(60));
    c.run();
    link.attach({ receive: () => undefined });
    expect(() => link.attach({ receive: () => undefined })).toThrow(
      'link: both ends are already attached',
    );
    expect(link.counters(0).frames).toBe(1);
  });

  it('rejects bad options and empty frames', () => {
    const c = new Clock();
    expect(() => new Link(c, { rateBps: 0 })).toThrow(ConfigError);
    expect(() => new Link(c, { propagationNs: -1 })).toThrow(/propagation delay -1/);
    const a = new Link(c).attach({ receive: () => undefined });
    expect(() => a.transmit(new Uint8Array(0))).toThrow(/empty frame/);
  });

  it('is deterministic', () => {
    const run = (): string[] => {
      const c = new Clock();
      const link = new Link(c, { rateBps: 10e9, propagationNs: 3 });
      const log: string[] = [];
      const a = link.attach(sink(c, log, 'A'));
      const b = link.attach(sink(c, log, 'B'));
      for (let i = 0; i < 50; i++) {
        (i % 3 === 0 ? b : a).transmit(frame(60 + ((i * 37) % 1455), i));
        if (i % 7 === 0) c.run(c.now + 1000);
      }
      c.run();
      return log;
    };
    expect(run()).toEqual(run());
  });
});
