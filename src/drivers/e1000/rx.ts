/**
 * The e1000 receive path (e1000_main.c): e1000_setup_rx_resources, e1000_setup_rctl,
 * e1000_configure_rx, e1000_alloc_rx_buffers (page fragments mapped DMA_FROM_DEVICE, then RDT),
 * e1000_clean_rx_irq (copybreak with dma_sync_single_for_cpu and buffer reuse, or build_skb and
 * dma_unmap_single), e1000_clean_rx_ring at down.
 */
import type { DmaAddr, VirtAddr } from '../../lib/addr.js';
import { DmaDataDirection } from '../../kernel/dma/direction.js';
import { NET_SKB_PAD, SKB_SHINFO_SIZE } from '../../kernel/net/skbuff.js';
import type { SkBuff } from '../../kernel/net/skbuff.js';
import { DESC_SIZE, readRxDesc, writeAddr } from '../../devices/e1000/descriptors.js';
import {
  RCTL,
  REG,
  RXCSUM,
  RXD_ERR,
  RXD_ERR_FRAME_ERR_MASK,
  RXD_STAT,
} from '../../devices/e1000/regs.js';
import type { E1000Adapter, RxBuffer } from './adapter.js';
import { check64kBound, descUnused, er32, ew32, freeRing, setupRing, zeroRing } from './adapter.js';

const FROM_DEVICE = DmaDataDirection.FROM_DEVICE;
/** Scratch for one descriptor and one buffer address (nothing here re-enters). */
const DESC = new Uint8Array(DESC_SIZE);
const ADDR = new Uint8Array(8);
/** E1000_RX_BUFFER_WRITE: refill after this many cleaned descriptors. */
const RX_BUFFER_WRITE = 16;
/** ETHERNET_FCS_SIZE. */
const FCS = 4;

/** E1000_HEADROOM: NET_SKB_PAD + NET_IP_ALIGN (0 on x86, 2 elsewhere). */
function headroom(a: E1000Adapter): number {
  return NET_SKB_PAD + (a.k.machine.profile.name === 'x86_64' ? 0 : 2);
}

/** e1000_frag_len: the buffer, its headroom and the shared info, each cache aligned. */
function fragLen(a: E1000Adapter): number {
  const skbs = a.k.skbs;
  return skbs.dataAlign(a.rxBufferLen + headroom(a)) + skbs.dataAlign(SKB_SHINFO_SIZE);
}

/** e1000_setup_rx_resources. @returns 0 or -ENOMEM */
export function setupRxResources(a: E1000Adapter): number {
  return setupRing(a, a.rxRing, 'Rx', () => ({ data: null, dma: 0 as DmaAddr }));
}

/** e1000_free_rx_resources. */
export function freeRxResources(a: E1000Adapter): void {
  cleanRxRing(a);
  freeRing(a, a.rxRing);
}

/** e1000_setup_rctl: broadcast, half-ring threshold, 2048-byte buffers, CRC kept. */
export function setupRctl(a: E1000Adapter): void {
  let rctl = er32(a, REG.RCTL);
  rctl &= ~(3 << 12);
  rctl |= RCTL.BAM | RCTL.RDMTS_HALF;
  rctl &= ~(RCTL.SBP | RCTL.LPE | RCTL.BSEX | RCTL.BSIZE_MASK | RCTL.SECRC);
  rctl |= RCTL.SZ_2048;
  ew32(a, REG.RCTL, rctl >>> 0);
}

/** e1000_configure_rx: receiver off, delays, ring registers, checksum offload, receiver on. */
export function configureRx(a: E1000Adapter): void {
  const r = a.rxRing;
  const rctl = er32(a, REG.RCTL);
  ew32(a, REG.RCTL, rctl & ~RCTL.EN);
  ew32(a, REG.RDTR, a.opts.rxIntDelay);
  ew32(a, REG.RADV, a.opts.rxAbsIntDelay);
  const itr = a.opts.interruptThrottleRate;
  ew32(a, REG.ITR, itr > 0 ? Math.floor(1e9 / (itr * 256)) : 0);
  ew32(a, REG.RDLEN, r.count * DESC_SIZE);
  ew32(a, REG.RDBAH, Math.floor(r.dma / 2 ** 32));
  ew32(a, REG.RDBAL, r.dma >>> 0);
  ew32(a, REG.RDT, 0);
  ew32(a, REG.RDH, 0);
  ew32(a, REG.RXCSUM, er32(a, REG.RXCSUM) | RXCSUM.TUOFL);
  ew32(a, REG.RCTL, (rctl | RCTL.EN) >>> 0);
}

/**
 * e1000_alloc_rx_buffers: a mapped fragment for every slot without one (a copybreak slot keeps
 * its buffer), its bus address in the descriptor, then dma_wmb() and RDT.
 */
export function allocRxBuffers(a: E1000Adapter, cleanedCount: number): void {
  const r = a.rxRing;
  const b = ADDR;
  let i = r.nextToUse;
  for (let n = cleanedCount; n > 0; n--) {
    const bi = r.buffers[i] as RxBuffer;
    if (bi.data === null && !mapRxBuffer(a, bi)) break;
    writeAddr(b, 0, bi.dma);
    a.k.vm.write((r.desc + i * DESC_SIZE) as VirtAddr, b, 0, 8);
    i = (i + 1) % r.count;
  }
  if (r.nextToUse === i) return;
  r.nextToUse = i;
  a.k.machine.cpu.dmaWmb();
  ew32(a, REG.RDT, (i - 1 + r.count) % r.count);
}

/** e1000_alloc_frag + dma_map_single(data, rx_buffer_len, DMA_FROM_DEVICE). */
function mapRxBuffer(a: E1000Adapter, bi: RxBuffer): boolean {
  const data = allocRxData(a);
  if (data === null) {
    a.counters.allocRxBuffFailed++;
    return false;
  }
  const skbs = a.k.skbs;
  const dma = a.k.dma.dmaMapSingle(a.pdev, data, a.rxBufferLen, FROM_DEVICE);
  if (a.k.dma.dmaMappingError(a.pdev, dma)) {
    skbs.freeFrag((data - headroom(a)) as VirtAddr);
    a.counters.allocRxBuffFailed++;
    return false;
  }
  // Erratum 23 again: behind an IOMMU a buffer that did not cross can get an address that does.
  if (!check64kBound(a, dma, a.rxBufferLen)) {
    const at = dma.toString(16).padStart(16, '0');
    rxErr(a, `dma align check failed: ${a.rxBufferLen} bytes at ${at}`);
    a.k.dma.dmaUnmapSingle(a.pdev, dma, a.rxBufferLen, FROM_DEVICE);
    skbs.freeFrag((data - headroom(a)) as VirtAddr);
    a.counters.allocRxBuffFailed++;
    return false;
  }
  bi.data = data;
  bi.dma = dma;
  return true;
}

/**
 * e1000_alloc_frag and the first erratum-23 check: a buffer across 64 KiB is replaced once (the
 * first kept meanwhile so the second lands elsewhere).
 * @returns where the frame goes (after the headroom), or null
 */
function allocRxData(a: E1000Adapter): VirtAddr | null {
  const skbs = a.k.skbs;
  const hr = headroom(a);
  const first = skbs.netdevAllocFrag(fragLen(a));
  if (first === null || check64kBound(a, first + hr, a.rxBufferLen))
    return first === null ? null : ((first + hr) as VirtAddr);
  rxErr(
    a,
    `skb align check failed: ${a.rxBufferLen} bytes at ${a.k.vm.format((first + hr) as VirtAddr)}`,
  );
  const second = skbs.netdevAllocFrag(fragLen(a));
  skbs.freeFrag(first);
  if (second === null) return null;
  if (check64kBound(a, second + hr, a.rxBufferLen)) return (second + hr) as VirtAddr;
  skbs.freeFrag(second);
  return null;
}

function rxErr(a: E1000Adapter, msg: string): void {
  a.k.log.print('err', `e1000 ${a.pdev.name} ${a.netdev.name}: ${msg}`);
}

/**
 * e1000_clean_rx_irq: hands up every completed frame, at most `budget`.
 * @returns frames cleaned
 */
export function cleanRxIrq(a: E1000Adapter, budget: number): number {
  const r = a.rxRing;
  const desc = DESC;
  let i = r.nextToClean;
  let done = 0;
  let cleaned = 0;
  for (;;) {
    const at = (r.desc + i * DESC_SIZE) as VirtAddr;
    a.k.vm.read(at, desc, 0, DESC_SIZE);
    const d = readRxDesc(desc, 0);
    if ((d.status & RXD_STAT.DD) === 0 || done >= budget) break;
    a.k.machine.cpu.dmaRmb();
    done++;
    cleaned++;
    receiveOne(a, r.buffers[i] as RxBuffer, d);
    a.k.vm.writeU32((at + 12) as VirtAddr, 0);
    i = (i + 1) % r.count;
    if (cleaned >= RX_BUFFER_WRITE) {
      r.nextToClean = i;
      allocRxBuffers(a, cleaned);
      cleaned = 0;
    }
  }
  r.nextToClean = i;
  const unused = descUnused(r);
  if (unused > 0) allocRxBuffers(a, unused);
  return done;
}

/** One completed descriptor: copybreak or build_skb, frame checks, FCS off, checksum, up. */
function receiveOne(a: E1000Adapter, bi: RxBuffer, d: ReturnType<typeof readRxDesc>): void {
  const length = d.length;
  const skb = copybreak(a, bi, length) ?? buildRxSkb(a, bi);
  if (skb === null) return;
  if ((d.status & RXD_STAT.EOP) === 0) a.discarding = true;
  if (a.discarding) {
    if ((d.status & RXD_STAT.EOP) !== 0) a.discarding = false;
    a.netdev.free(skb);
    return;
  }
  if ((d.errors & RXD_ERR_FRAME_ERR_MASK) !== 0) {
    a.netdev.stats.rxErrors++;
    a.netdev.free(skb);
    return;
  }
  a.netdev.stats.rxPackets++;
  a.netdev.stats.rxBytes += length - FCS;
  const frame = length - FCS;
  if (skb.headKind === 'frag') skb.put(frame);
  else skb.len = frame; // skb_trim of the copybreak copy
  rxChecksum(a, d.status, d.errors);
  a.netdev.receive(skb);
}

/**
 * e1000_copybreak: a small frame is copied into a new skb after dma_sync_single_for_cpu; the
 * buffer stays mapped for the next frame.
 */
function copybreak(a: E1000Adapter, bi: RxBuffer, length: number): SkBuff | null {
  if (length > a.opts.copybreak || bi.data === null) return null;
  const skb = a.k.skbs.netdevAllocSkb(length);
  if (skb === null) return null;
  if (a.opts.mistakes.skipRxSync !== true)
    a.k.dma.dmaSyncSingleForCpu(a.pdev, bi.dma, length, FROM_DEVICE);
  const bytes = new Uint8Array(length);
  a.k.vm.read(bi.data, bytes, 0, length);
  a.k.vm.write(skb.put(length), bytes, 0, length);
  // MODEL option: e1000_main.c gives the buffer back to the device without this sync.
  if (a.opts.syncCopybreakForDevice)
    a.k.dma.dmaSyncSingleForDevice(a.pdev, bi.dma, length, FROM_DEVICE);
  return skb;
}

/** napi_build_skb around the fragment, then dma_unmap_single; the slot is refilled later. */
function buildRxSkb(a: E1000Adapter, bi: RxBuffer): SkBuff | null {
  if (bi.data === null) return null;
  const hr = headroom(a);
  const skb = a.k.skbs.buildSkb((bi.data - hr) as VirtAddr, fragLen(a));
  skb.reserve(hr);
  a.k.dma.dmaUnmapSingle(a.pdev, bi.dma, a.rxBufferLen, FROM_DEVICE);
  bi.dma = 0 as DmaAddr;
  bi.data = null;
  return skb;
}

/** e1000_rx_checksum: counts what the hardware verified. */
function rxChecksum(a: E1000Adapter, status: number, errors: number): void {
  if ((status & RXD_STAT.IXSM) !== 0) return;
  if ((errors & RXD_ERR.TCPE) !== 0) a.counters.hwCsumErr++;
  else if ((status & (RXD_STAT.TCPCS | RXD_STAT.UDPCS)) !== 0) a.counters.hwCsumGood++;
}

/** e1000_clean_rx_ring: unmap and free every buffer, zero the ring, RDH = RDT = 0. */
export function cleanRxRing(a: E1000Adapter): void {
  const r = a.rxRing;
  if (r.size === 0) return;
  for (const bi of r.buffers) {
    if (bi.data !== null) {
      a.k.dma.dmaUnmapSingle(a.pdev, bi.dma, a.rxBufferLen, FROM_DEVICE);
      a.k.skbs.freeFrag((bi.data - headroom(a)) as VirtAddr);
    }
    bi.data = null;
    bi.dma = 0 as DmaAddr;
  }
  a.discarding = false;
  zeroRing(a, r);
}
