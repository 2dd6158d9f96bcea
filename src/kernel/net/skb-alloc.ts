/**
 * Where socket buffers come from and go (net/core/skbuff.c __alloc_skb, __netdev_alloc_skb,
 * build_skb, kfree_skb): kmalloc'd heads sized SKB_DATA_ALIGN(size) plus the shared info, page
 * fragments for receive buffers, and reading or filling an skb's bytes through the CPU.
 */
import type { VirtAddr } from '../../lib/addr.js';
import { GFP_ATOMIC } from '../mm/gfp.js';
import type { Gfp } from '../mm/gfp.js';
import type { Kmalloc } from '../mm/kmalloc.js';
import type { KernelVm } from '../mm/kmem.js';
import type { Pfn } from '../mm/page.js';
import type { PageAllocator } from '../mm/page-alloc.js';
import { PageFragCache } from './page-frag.js';
import { NET_SKB_PAD, SKB_SHINFO_SIZE, SkBuff } from './skbuff.js';

export interface SkbAllocDeps {
  readonly kmalloc: Kmalloc;
  readonly vm: KernelVm;
  readonly pages: PageAllocator;
  readonly pageSize: number;
  /** SMP_CACHE_BYTES. */
  readonly lineSize: number;
  readonly pageAddress: (page: Pfn) => VirtAddr | null;
  readonly virtToPage: (va: VirtAddr) => Pfn;
}

export class SkbAlloc {
  /** netdev_alloc_frag's cache. */
  readonly frags: PageFragCache;

  constructor(private readonly d: SkbAllocDeps) {
    this.frags = new PageFragCache(d);
  }

  /** SKB_DATA_ALIGN. */
  dataAlign(n: number): number {
    const a = this.d.lineSize;
    return Math.ceil(n / a) * a;
  }

  /** alloc_skb: an empty skb whose head holds at least `size` bytes. @returns it, or null */
  allocSkb(size: number, gfp: Gfp = GFP_ATOMIC): SkBuff | null {
    const bytes = this.dataAlign(size);
    const head = this.d.kmalloc.kmalloc(bytes + SKB_SHINFO_SIZE, gfp);
    return head === null ? null : new SkBuff(head, bytes, 'kmalloc');
  }

  /** netdev_alloc_skb: `len` bytes after NET_SKB_PAD of headroom. */
  netdevAllocSkb(len: number): SkBuff | null {
    const skb = this.allocSkb(len + NET_SKB_PAD);
    skb?.reserve(NET_SKB_PAD);
    return skb;
  }

  /** netdev_alloc_frag. */
  netdevAllocFrag(fragsz: number): VirtAddr | null {
    return this.frags.alloc(fragsz, GFP_ATOMIC, this.d.lineSize);
  }

  /** skb_free_frag. */
  freeFrag(addr: VirtAddr): void {
    this.frags.free(addr);
  }

  /** build_skb: an skb around a page fragment of `fragSize` bytes (its tail is shared info). */
  buildSkb(frag: VirtAddr, fragSize: number): SkBuff {
    return new SkBuff(frag, fragSize - SKB_SHINFO_SIZE, 'frag');
  }

  /** kfree_skb / dev_kfree_skb_any: the head and every fragment's page reference. */
  kfreeSkb(skb: SkBuff): void {
    if (skb.headKind === 'kmalloc') this.d.kmalloc.kfree(skb.head);
    else this.frags.free(skb.head);
    for (const f of skb.frags) this.d.pages.putPage(f.page);
  }

  /** The skb's bytes (linear part, then fragments), read by the CPU. */
  read(skb: SkBuff): Uint8Array {
    const out = new Uint8Array(skb.len);
    this.d.vm.read(skb.data, out, 0, skb.headlen);
    let at = skb.headlen;
    for (const f of skb.frags) {
      this.d.vm.read(this.fragAddress(f.page, f.offset), out, at, f.size);
      at += f.size;
    }
    return out;
  }

  /**
   * An skb holding `bytes`: the first `linear` bytes in a kmalloc'd head (after `headroom`), the
   * rest in page fragments of at most a page each, as a stack building a large send does.
   * @returns it, or null when memory ran out
   */
  fromBytes(bytes: Uint8Array, linear = bytes.length, headroom = NET_SKB_PAD): SkBuff | null {
    const head = Math.min(linear, bytes.length);
    const skb = this.allocSkb(headroom + head);
    if (skb === null) return null;
    skb.reserve(headroom);
    this.d.vm.write(skb.put(head), bytes, 0, head);
    for (let at = head; at < bytes.length;) {
      const page = this.d.pages.allocPage(GFP_ATOMIC);
      if (page === null) {
        this.kfreeSkb(skb);
        return null;
      }
      const n = Math.min(this.d.pageSize, bytes.length - at);
      this.d.vm.write(this.fragAddress(page, 0), bytes, at, n);
      skb.addFrag(page, 0, n);
      at += n;
    }
    return skb;
  }

  private fragAddress(page: Pfn, offset: number): VirtAddr {
    const va = this.d.pageAddress(page);
    if (va === null) throw new RangeError(`skb fragment page ${page} has no kernel address`);
    return (va + offset) as VirtAddr;
  }
}
