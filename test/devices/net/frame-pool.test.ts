import { describe, expect, it } from 'vitest';
import { giveFrame, takeFrame } from '../../../src/devices/net/frame-pool.js';

describe('the frame pool', () => {
  it('hands a given-back block out again, as a frame of the length asked for', () => {
    const a = takeFrame(1514);
    expect(a.length).toBe(1514);
    giveFrame(a);
    const b = takeFrame(60);
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(60);
  });

  it('keeps out frames it did not make: other sizes, views into other bytes, jumbo frames', () => {
    const file = new Uint8Array(2048);
    giveFrame(file.subarray(24, 24 + 1514));
    giveFrame(new Uint8Array(1514));
    expect(takeFrame(100).buffer).not.toBe(file.buffer);
    const jumbo = takeFrame(9000);
    expect(jumbo.length).toBe(9000);
    giveFrame(jumbo);
    expect(takeFrame(9000).buffer).not.toBe(jumbo.buffer);
  });
});
