/**
 * GFP flags (include/linux/gfp_types.h, Linux 6.12, without CONFIG_KASAN_HW_TAGS and
 * CONFIG_LOCKDEP, as on distribution kernels) and their printed form: show_gfp_flags() of the
 * trace events and the printk %pGg of warn_alloc, both from the name table of
 * include/trace/events/mmflags.h.
 */

/** A gfp_t: an OR of the bits below. */
export type Gfp = number;

/* eslint-disable @typescript-eslint/naming-convention -- the kernel's __GFP_* names, as spelt there */
/** Allocate from ZONE_DMA. */
export const __GFP_DMA = 0x01;
/** Highmem pages are acceptable (the caller kmaps them). */
export const __GFP_HIGHMEM = 0x02;
/** Allocate from ZONE_DMA32. */
export const __GFP_DMA32 = 0x04;
export const __GFP_MOVABLE = 0x08;
export const __GFP_RECLAIMABLE = 0x10;
/** High priority: may use part of the min watermark reserve. */
export const __GFP_HIGH = 0x20;
export const __GFP_IO = 0x40;
export const __GFP_FS = 0x80;
/** Return zeroed memory. */
export const __GFP_ZERO = 0x100;
/** The caller may sleep and reclaim directly. */
export const __GFP_DIRECT_RECLAIM = 0x400;
/** Wake kswapd when low on memory. */
export const __GFP_KSWAPD_RECLAIM = 0x800;
export const __GFP_WRITE = 0x1000;
/** Do not print the allocation-failure warning. */
export const __GFP_NOWARN = 0x2000;
export const __GFP_RETRY_MAYFAIL = 0x4000;
export const __GFP_NOFAIL = 0x8000;
export const __GFP_NORETRY = 0x10000;
export const __GFP_MEMALLOC = 0x20000;
/** Make a compound page of a higher-order allocation. */
export const __GFP_COMP = 0x40000;
export const __GFP_NOMEMALLOC = 0x80000;
export const __GFP_HARDWALL = 0x100000;
export const __GFP_THISNODE = 0x200000;
export const __GFP_ACCOUNT = 0x400000;
export const __GFP_ZEROTAGS = 0x800000;
export const __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
/* eslint-enable @typescript-eslint/naming-convention */

export const GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
export const GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
export const GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT;
export const GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
export const GFP_NOIO = __GFP_RECLAIM;
export const GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
export const GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
export const GFP_DMA = __GFP_DMA;
export const GFP_DMA32 = __GFP_DMA32;
export const GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
export const GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE;
export const GFP_TRANSHUGE_LIGHT =
  (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM;
export const GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM;

/** The zone modifiers: the bits gfp_zone() looks at. */
export const GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE;
/** Bits kmalloc may not pass on to the page allocator (mm/slab.h GFP_SLAB_BUG_MASK). */
export const GFP_SLAB_BUG_MASK = __GFP_DMA32 | __GFP_HIGHMEM;
/** Bits a slab allocation keeps from the caller (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK). */
export const GFP_SLAB_PASS_MASK =
  __GFP_RECLAIM |
  __GFP_HIGH |
  __GFP_IO |
  __GFP_FS |
  __GFP_NOWARN |
  __GFP_RETRY_MAYFAIL |
  __GFP_NOFAIL |
  __GFP_NORETRY |
  __GFP_MEMALLOC |
  __GFP_NOMEMALLOC |
  __GFP_HARDWALL |
  __GFP_THISNODE;

/** Migrate types of the page allocator's free lists (include/linux/mmzone.h), PCP types only. */
export const MIGRATE_UNMOVABLE = 0;
export const MIGRATE_MOVABLE = 1;
export const MIGRATE_RECLAIMABLE = 2;
/** MIGRATE_PCPTYPES: the number of migrate types the model keeps. */
export const MIGRATE_PCPTYPES = 3;

/**
 * gfp_migratetype - the free-list type an allocation prefers.
 * @param gfp allocation flags
 * @returns MIGRATE_MOVABLE for __GFP_MOVABLE, MIGRATE_RECLAIMABLE for __GFP_RECLAIMABLE, else
 *   MIGRATE_UNMOVABLE
 * @linux include/linux/gfp.h gfp_migratetype
 */
export function gfpMigratetype(gfp: Gfp): number {
  // The bits are laid out so that (gfp & GFP_MOVABLE_MASK) >> 3 is the type; both set is a bug
  // the kernel only warns about (VM_WARN_ON), taken here as MOVABLE.
  const mt = (gfp & (__GFP_MOVABLE | __GFP_RECLAIMABLE)) >>> 3;
  return mt === 3 ? MIGRATE_MOVABLE : mt;
}

/** The name table, in the kernel's order: composites first, so they win over their bits. */
export const GFP_NAMES: readonly (readonly [number, string])[] = [
  [GFP_TRANSHUGE, 'GFP_TRANSHUGE'],
  [GFP_TRANSHUGE_LIGHT, 'GFP_TRANSHUGE_LIGHT'],
  [GFP_HIGHUSER_MOVABLE, 'GFP_HIGHUSER_MOVABLE'],
  [GFP_HIGHUSER, 'GFP_HIGHUSER'],
  [GFP_USER, 'GFP_USER'],
  [GFP_KERNEL_ACCOUNT, 'GFP_KERNEL_ACCOUNT'],
  [GFP_KERNEL, 'GFP_KERNEL'],
  [GFP_NOFS, 'GFP_NOFS'],
  [GFP_ATOMIC, 'GFP_ATOMIC'],
  [GFP_NOIO, 'GFP_NOIO'],
  [GFP_NOWAIT, 'GFP_NOWAIT'],
  [GFP_DMA, 'GFP_DMA'],
  [__GFP_HIGHMEM, '__GFP_HIGHMEM'],
  [GFP_DMA32, 'GFP_DMA32'],
  [__GFP_HIGH, '__GFP_HIGH'],
  [__GFP_IO, '__GFP_IO'],
  [__GFP_FS, '__GFP_FS'],
  [__GFP_NOWARN, '__GFP_NOWARN'],
  [__GFP_RETRY_MAYFAIL, '__GFP_RETRY_MAYFAIL'],
  [__GFP_NOFAIL, '__GFP_NOFAIL'],
  [__GFP_NORETRY, '__GFP_NORETRY'],
  [__GFP_COMP, '__GFP_COMP'],
  [__GFP_ZERO, '__GFP_ZERO'],
  [__GFP_NOMEMALLOC, '__GFP_NOMEMALLOC'],
  [__GFP_MEMALLOC, '__GFP_MEMALLOC'],
  [__GFP_HARDWALL, '__GFP_HARDWALL'],
  [__GFP_THISNODE, '__GFP_THISNODE'],
  [__GFP_RECLAIMABLE, '__GFP_RECLAIMABLE'],
  [__GFP_MOVABLE, '__GFP_MOVABLE'],
  [__GFP_ACCOUNT, '__GFP_ACCOUNT'],
  [__GFP_WRITE, '__GFP_WRITE'],
  [__GFP_RECLAIM, '__GFP_RECLAIM'],
  [__GFP_DIRECT_RECLAIM, '__GFP_DIRECT_RECLAIM'],
  [__GFP_KSWAPD_RECLAIM, '__GFP_KSWAPD_RECLAIM'],
  [__GFP_ZEROTAGS, '__GFP_ZEROTAGS'],
];

/**
 * The flags as %pGg prints them: names joined by '|', each taking its bits away, any bits no
 * name covers as one trailing hex number.
 * @param gfp allocation flags
 * @returns e.g. "GFP_KERNEL|__GFP_ZERO"; the empty string for 0
 * @linux lib/vsprintf.c format_flags
 */
export function gfpString(gfp: Gfp): string {
  const parts: string[] = [];
  let rest = gfp >>> 0;
  for (const [mask, name] of GFP_NAMES) {
    if (rest === 0) break;
    if ((rest & mask) >>> 0 !== mask) continue;
    parts.push(name);
    rest = (rest & ~mask) >>> 0;
  }
  if (rest !== 0) parts.push('0x' + rest.toString(16));
  return parts.join('|');
}

/**
 * show_gfp_flags - the flags as trace events print them (`flags=GFP_KERNEL|__GFP_ZERO`).
 * @param gfp allocation flags
 * @returns the names as gfpString() gives them, or "none" for 0
 * @linux include/trace/events/mmflags.h show_gfp_flags
 */
export function showGfpFlags(gfp: Gfp): string {
  return gfp === 0 ? 'none' : gfpString(gfp);
}

/**
 * gfpflags_allow_blocking: the caller may sleep (__GFP_DIRECT_RECLAIM).
 * @linux include/linux/gfp.h gfpflags_allow_blocking
 */
export function gfpflagsAllowBlocking(gfp: Gfp): boolean {
  return (gfp & __GFP_DIRECT_RECLAIM) !== 0;
}
