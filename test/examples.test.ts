import { describe, expect, it } from 'vitest';
import { firstDma } from '../examples/first-dma.js';

describe("the README's library example (examples/first-dma.ts)", () => {
  it('reads stale bytes without the sync, the right ones with it, and names the missing call', () => {
    const r = firstDma();
    expect(r.stale).toBe('old bytes.......');
    expect(r.fresh).toBe('packet from wire');
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatch(
      /^cpu-access-device-owned: call dma_sync_single_for_cpu\(dev, 0x[0-9a-f]+, 64, DMA_FROM_DEVICE\)/,
    );
  });
});
