import { readFileSync } from 'node:fs';
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

describe('the README', () => {
  it('shows examples/first-dma.ts exactly as the tests run it', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../examples/first-dma.ts', import.meta.url), 'utf8');
    expect(readme).toContain('```ts\n' + example + '```');
  });
});
