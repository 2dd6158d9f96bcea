/** GFP flag values and their printed forms (show_gfp_flags, %pGg). */
import { expect, test } from 'vitest';
import {
  __GFP_COMP,
  __GFP_HIGHMEM,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_ZERO,
  GFP_ATOMIC,
  GFP_DMA,
  GFP_DMA32,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_NOWAIT,
  gfpString,
  showGfpFlags,
} from '../../../src/kernel/mm/gfp.js';

test('the composite flags have the kernel values', () => {
  expect([GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_DMA, GFP_DMA32, GFP_HIGHUSER_MOVABLE]).toEqual([
    0xcc0, 0x820, 0x800, 0x1, 0x4, 0x100cca,
  ]);
  expect([__GFP_ZERO, __GFP_NOWARN, __GFP_COMP, __GFP_NORETRY, __GFP_HIGHMEM]).toEqual([
    0x100, 0x2000, 0x40000, 0x10000, 0x2,
  ]);
});

test('flags print composites first, then the remaining bits in the table order', () => {
  const cases: [number, string][] = [
    [GFP_KERNEL, 'GFP_KERNEL'],
    [GFP_KERNEL | __GFP_ZERO, 'GFP_KERNEL|__GFP_ZERO'],
    [GFP_KERNEL | GFP_DMA, 'GFP_KERNEL|GFP_DMA'],
    [GFP_ATOMIC | __GFP_NOWARN, 'GFP_ATOMIC|__GFP_NOWARN'],
    [GFP_NOWAIT, 'GFP_NOWAIT'],
    [
      GFP_KERNEL | __GFP_ZERO | __GFP_COMP | __GFP_NOWARN,
      'GFP_KERNEL|__GFP_NOWARN|__GFP_COMP|__GFP_ZERO',
    ],
    [
      GFP_KERNEL | __GFP_HIGHMEM | __GFP_NOWARN | __GFP_ZERO,
      'GFP_KERNEL|__GFP_HIGHMEM|__GFP_NOWARN|__GFP_ZERO',
    ],
    [GFP_HIGHUSER_MOVABLE | __GFP_ZERO, 'GFP_HIGHUSER_MOVABLE|__GFP_ZERO'],
    [GFP_KERNEL | 0x200, 'GFP_KERNEL|0x200'],
  ];
  for (const [gfp, text] of cases) expect(showGfpFlags(gfp), text).toBe(text);
  expect(showGfpFlags(0)).toBe('none');
  expect(gfpString(0)).toBe('');
});
