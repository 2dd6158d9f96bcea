/**
 * The e1000 driver's state (drivers/net/ethernet/intel/e1000/e1000.h): the adapter, its rings with
 * their buffer_info arrays, the module parameters that matter for DMA, and the options that break
 * the driver on purpose so the checkers have real mistakes to catch.
 */
import type { DmaAddr, VirtAddr } from '../../lib/addr.js';
import type { IrqLine } from '../../machine/bus/irq.js';
import type { PciDevice } from '../../kernel/device/pci.js';
import type { Kernel } from '../../kernel/kernel.js';
import { GFP_KERNEL } from '../../kernel/mm/gfp.js';
import { DESC_SIZE } from '../../devices/e1000/descriptors.js';
import type { KernelTimer } from '../../kernel/timer.js';
import type { Napi, NetDevice } from '../../kernel/net/netdevice.js';
import type { SkBuff } from '../../kernel/net/skbuff.js';

/** struct e1000_tx_buffer. */
export interface TxBuffer {
  skb: SkBuff | null;
  dma: DmaAddr;
  length: number;
  /** Index of the packet's EOP descriptor, in its first buffer. */
  nextToWatch: number;
  mappedAsPage: boolean;
  /** When it was mapped (jiffies in the kernel; simulated ns here), 0 when free. */
  timeStamp: number;
  /** MODEL: the buffer's physical address, kept only for the txPhysAddr mistake. */
  cpuPhys: number;
  segs: number;
  bytecount: number;
}

/** struct e1000_rx_buffer (the page-fragment variant of e1000_clean_rx_irq). */
export interface RxBuffer {
  /** rxbuf.data: the frame's first byte in the fragment, or null when the slot is empty. */
  data: VirtAddr | null;
  dma: DmaAddr;
}

/** struct e1000_tx_ring / e1000_rx_ring. */
export interface Ring<B> {
  /** CPU address of the descriptor array (dma_alloc_coherent). */
  desc: VirtAddr;
  /** Its bus address, written to xDBAL/xDBAH. */
  dma: DmaAddr;
  /** Bytes of the descriptor array. */
  size: number;
  count: number;
  nextToUse: number;
  nextToClean: number;
  buffers: B[];
  /** Register offsets of the ring's head and tail. */
  readonly headReg: number;
  readonly tailReg: number;
}

/** Ways to break the driver on purpose (each is a real class of DMA bug). */
export interface E1000Mistakes {
  /** e1000_copybreak reads the frame without dma_sync_single_for_cpu. */
  readonly skipRxSync?: boolean;
  /** e1000_tx_queue leaves out dma_wmb() and the tail is written with writel_relaxed(). */
  readonly skipTxBarrier?: boolean;
  /** e1000_clean_tx_irq frees the skb but never unmaps its buffers. */
  readonly forgetTxUnmap?: boolean;
  /** e1000_tx_map uses the handle without dma_mapping_error(). */
  readonly skipMapErrorCheck?: boolean;
  /**
   * TX descriptors get the buffer's physical address (virt_to_phys) instead of the DMA handle:
   * right by luck under dma-direct, wrong behind an IOMMU.
   */
  readonly txPhysAddr?: boolean;
}

/** Module parameters (e1000_param.c) and model options. */
export interface E1000Options {
  /** TxDescriptors / RxDescriptors: ring sizes (default 256; 48..4096, rounded up to 8). */
  readonly txDescriptors?: number;
  readonly rxDescriptors?: number;
  /** copybreak: frames up to this many bytes are copied and the buffer reused (default 256). */
  readonly copybreak?: number;
  /** TxIntDelay / TxAbsIntDelay / RxIntDelay / RxAbsIntDelay in 1.024 us units. */
  readonly txIntDelay?: number;
  readonly txAbsIntDelay?: number;
  readonly rxIntDelay?: number;
  readonly rxAbsIntDelay?: number;
  /**
   * InterruptThrottleRate: interrupts/s from 100 to 100000, 0 for off, or the dynamic modes 1, 3
   * (the default) and 4 (see param.ts). After checking, `opts` holds interrupts/s.
   */
  readonly interruptThrottleRate?: number;
  /**
   * After a copybreak, give the buffer back with dma_sync_single_for_device. e1000_main.c does not
   * (the DMA API asks for it); default false, as Linux.
   */
  readonly syncCopybreakForDevice?: boolean;
  /**
   * Erratum 23 of the 82545/82546 (no DMA across a 64 KiB boundary): e1000_check_64k_bound's
   * checks and retries for the rings and receive buffers; default off, as for the 82540.
   */
  readonly erratum23?: boolean;
  /** The errata workarounds of e1000_tx_map (4-byte sentinel descriptors); default on. */
  readonly txErrata?: boolean;
  readonly mistakes?: E1000Mistakes;
}

/** struct e1000_adapter, the part the DMA path uses. */
export interface E1000Adapter {
  readonly k: Kernel;
  readonly pdev: PciDevice;
  readonly netdev: NetDevice;
  readonly napi: Napi;
  readonly watchdog: KernelTimer;
  /** BAR0 as ioremap() gave it. */
  readonly hwAddr: VirtAddr;
  readonly irq: IrqLine;
  readonly opts: Required<Omit<E1000Options, 'mistakes'>> & { readonly mistakes: E1000Mistakes };
  txRing: Ring<TxBuffer>;
  rxRing: Ring<RxBuffer>;
  /** rx_buffer_len: 1522 (MAXIMUM_ETHERNET_VLAN_SIZE) for a 1500-byte MTU. */
  rxBufferLen: number;
  /** txd_cmd: EOP | IFCS | RS (| IDE with a TX interrupt delay). */
  txdCmd: number;
  /** e1000_tx_map's errata state: the previous packet was TSO. */
  lastTxTso: boolean;
  /** Dropping the rest of a frame that did not fit one buffer. */
  discarding: boolean;
  /** Set by the watchdog: the next TX clean checks for a hung transmitter. */
  detectTxHung: boolean;
  down: boolean;
  /** Statistics the driver keeps (rx_csum errors, allocation failures, DMA errors). */
  readonly counters: {
    allocRxBuffFailed: number;
    txDmaFailed: number;
    hwCsumErr: number;
    hwCsumGood: number;
    restartQueue: number;
    txTimeoutCount: number;
  };
}

/** E1000_DESC_UNUSED: free descriptors, always leaving one slot empty. */
export function descUnused<B>(r: Ring<B>): number {
  return (r.nextToClean > r.nextToUse ? 0 : r.count) + r.nextToClean - r.nextToUse - 1;
}

/** An empty ring descriptor before e1000_setup_*_resources fills it. */
export function emptyRing<B>(count: number, headReg: number, tailReg: number): Ring<B> {
  return {
    desc: 0 as VirtAddr,
    dma: 0 as DmaAddr,
    size: 0,
    count,
    nextToUse: 0,
    nextToClean: 0,
    buffers: [],
    headReg,
    tailReg,
  };
}

/**
 * e1000_check_64k_bound: 82545/82546 parts (erratum 23) must not DMA across a 64 KiB boundary;
 * every other part passes.
 */
export function check64kBound(a: E1000Adapter, start: number, len: number): boolean {
  if (!a.opts.erratum23) return true;
  return Math.floor(start / 0x10000) === Math.floor((start + len - 1) / 0x10000);
}

/**
 * The common part of e1000_setup_tx_resources / e1000_setup_rx_resources: the buffer_info array
 * and the descriptor ring, count * 16 bytes rounded up to 4 KiB, from dma_alloc_coherent, zeroed;
 * on an erratum-23 part a ring across 64 KiB is allocated once more (keeping the first, so the
 * second lands elsewhere) and given up on if that one crosses too.
 * @returns 0 or -ENOMEM
 */
export function setupRing<B>(
  a: E1000Adapter,
  r: Ring<B>,
  what: 'Tx' | 'Rx',
  empty: () => B,
): number {
  r.buffers = Array.from({ length: r.count }, empty);
  r.size = Math.ceil((r.count * DESC_SIZE) / 4096) * 4096;
  const handle = { dma: 0 as DmaAddr };
  const dev = a.pdev;
  let desc = a.k.dma.dmaAllocCoherent(dev, r.size, handle, GFP_KERNEL);
  const ring = what === 'Tx' ? 'transmit' : 'receive';
  const fail = (msg: string): number => {
    r.buffers = [];
    r.size = 0;
    a.k.log.print('err', `e1000 ${dev.name}: ${msg}`);
    return -12;
  };
  if (desc === null) return fail(`Unable to allocate memory for the ${ring} descriptor ring`);
  if (!check64kBound(a, desc, r.size)) {
    const [oldDesc, oldDma] = [desc, handle.dma];
    const tag = what === 'Tx' ? 'txdr' : 'rxdr';
    a.k.log.print(
      'err',
      `e1000 ${dev.name}: ${tag} align check failed: ${r.size} bytes at ${a.k.vm.format(desc)}`,
    );
    desc = a.k.dma.dmaAllocCoherent(dev, r.size, handle, GFP_KERNEL);
    a.k.dma.dmaFreeCoherent(dev, r.size, oldDesc, oldDma);
    if (desc === null) return fail(`Unable to allocate memory for the ${ring} descriptor ring`);
    if (!check64kBound(a, desc, r.size)) {
      a.k.dma.dmaFreeCoherent(dev, r.size, desc, handle.dma);
      return fail(`Unable to allocate aligned memory for the ${ring} descriptor ring`);
    }
  }
  a.k.vm.memset(desc, 0, r.size);
  r.desc = desc;
  r.dma = handle.dma;
  r.nextToUse = 0;
  r.nextToClean = 0;
  return 0;
}

/** The common part of e1000_free_tx_resources / e1000_free_rx_resources. */
export function freeRing<B>(a: E1000Adapter, r: Ring<B>): void {
  if (r.size > 0) a.k.dma.dmaFreeCoherent(a.pdev, r.size, r.desc, r.dma);
  r.buffers = [];
  r.size = 0;
}

/** The end of e1000_clean_tx_ring / e1000_clean_rx_ring: descriptors zeroed, head = tail = 0. */
export function zeroRing<B>(a: E1000Adapter, r: Ring<B>): void {
  a.k.vm.memset(r.desc, 0, r.size);
  r.nextToUse = 0;
  r.nextToClean = 0;
  ew32(a, r.headReg, 0);
  ew32(a, r.tailReg, 0);
  flush(a);
}

/** er32: a register read (readl on hw_addr + reg). */
export function er32(a: E1000Adapter, reg: number): number {
  return a.k.io.readl((a.hwAddr + reg) as VirtAddr);
}

/** ew32: a register write (writel). */
export function ew32(a: E1000Adapter, reg: number, value: number): void {
  a.k.io.writel(value, (a.hwAddr + reg) as VirtAddr);
}

/** E1000_WRITE_FLUSH: a read of STATUS pushes posted writes out. */
export function flush(a: E1000Adapter): void {
  er32(a, 8);
}

/** The driver's dev_info/pr_* prefix: "e1000 0000:00:01.0 eth0: ". */
export function info(a: E1000Adapter, level: 'info' | 'err' | 'warn', text: string): void {
  a.k.log.print(level, `e1000 ${a.pdev.name} ${a.netdev.name}: ${text}`);
}
