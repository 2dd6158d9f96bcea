/**
 * Socket buffers, the part a NIC driver sees (include/linux/skbuff.h, net/core/skbuff.c): a linear
 * head in kernel memory (kmalloc'd, or a page fragment wrapped by build_skb) with `data`/`len`,
 * page fragments for the rest, and the offload state: ip_summed with csum_start/csum_offset for
 * checksum offload, gso_size/gso_segs for TSO. Bytes live in simulated memory and are read and
 * written through the CPU, so a driver that touches a buffer the device owns is seen doing it.
 * MODEL: no shared info page, no clones, no head room accounting beyond `data - head`.
 */
import type { VirtAddr } from '../../lib/addr.js';
import type { Pfn } from '../mm/page.js';

/** skb->ip_summed. */
export const enum IpSummed {
  CHECKSUM_NONE = 0,
  CHECKSUM_UNNECESSARY = 1,
  CHECKSUM_COMPLETE = 2,
  CHECKSUM_PARTIAL = 3,
}

/** NET_SKB_PAD: headroom a receive buffer keeps in front of the frame. */
export const NET_SKB_PAD = 64;
/** sizeof(struct skb_shared_info) on 64-bit: the tail of a build_skb buffer. */
export const SKB_SHINFO_SIZE = 320;
/** MAX_SKB_FRAGS. */
export const MAX_SKB_FRAGS = 17;

/** skb_frag_t: `size` bytes at `offset` in `page`. */
export interface SkbFrag {
  readonly page: Pfn;
  readonly offset: number;
  readonly size: number;
}

/** Where the head came from, for kfree_skb. */
export type SkbHeadKind = 'kmalloc' | 'frag';

export class SkBuff {
  /** Start of the buffer. */
  readonly head: VirtAddr;
  /** Start of the data. */
  data: VirtAddr;
  /** Bytes of data in all: linear part plus fragments. */
  len = 0;
  /** Bytes in fragments (skb->data_len). */
  dataLen = 0;
  /** Bytes the head buffer holds from `head`. */
  readonly bufSize: number;
  readonly headKind: SkbHeadKind;
  readonly frags: SkbFrag[] = [];
  ipSummed = IpSummed.CHECKSUM_NONE;
  /** Offset of the checksummed area from `data` (skb_checksum_start_offset). */
  csumStart = 0;
  /** Offset of the checksum field within it. */
  csumOffset = 0;
  /** TSO: segment payload size (0: no GSO), and how many segments. */
  gsoSize = 0;
  gsoSegs = 0;
  /** skb->protocol (host order ethertype). */
  protocol = 0;
  /** skb->no_fcs. */
  noFcs = false;

  constructor(head: VirtAddr, bufSize: number, kind: SkbHeadKind) {
    this.head = head;
    this.data = head;
    this.bufSize = bufSize;
    this.headKind = kind;
  }

  /** skb_headlen: bytes in the linear part. */
  get headlen(): number {
    return this.len - this.dataLen;
  }

  /** skb_reserve: moves data (on an empty skb) `n` bytes into the buffer. */
  reserve(n: number): void {
    this.data = (this.data + n) as VirtAddr;
  }

  /** skb_put: extends the linear data by `n` bytes; @returns where they start. */
  put(n: number): VirtAddr {
    const at = (this.data + this.headlen) as VirtAddr;
    if (at + n > this.head + this.bufSize)
      throw new RangeError(`skb_put: ${n} bytes overrun the ${this.bufSize}-byte buffer`);
    this.len += n;
    return at;
  }

  /** skb_pull: drops `n` bytes from the front (e.g. the Ethernet header). */
  pull(n: number): void {
    this.data = (this.data + n) as VirtAddr;
    this.len -= n;
  }

  /** skb_add_rx_frag / skb_fill_page_desc: appends a page fragment of `size` bytes. */
  addFrag(page: Pfn, offset: number, size: number): void {
    this.frags.push({ page, offset, size });
    this.len += size;
    this.dataLen += size;
  }

  /** skb_is_gso. */
  get isGso(): boolean {
    return this.gsoSize > 0;
  }
}
