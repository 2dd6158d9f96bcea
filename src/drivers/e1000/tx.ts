/**
 * The e1000 transmit path (e1000_main.c): e1000_setup_tx_resources, e1000_configure_tx,
 * e1000_xmit_frame -> e1000_tso / e1000_tx_csum (tx-offload.ts) -> e1000_tx_map -> e1000_tx_queue
 * and the TDT doorbell. Completion is tx-clean.ts.
 */
import type { DmaAddr, VirtAddr } from '../../lib/addr.js';
import { DMA_MAPPING_ERROR } from '../../kernel/device/dma-range.js';
import { DmaDataDirection } from '../../kernel/dma/direction.js';
import { NetdevTx } from '../../kernel/net/netdevice.js';
import { IpSummed, MAX_SKB_FRAGS } from '../../kernel/net/skbuff.js';
import { cleanTxRing, unmapAndFree } from './tx-clean.js';
import { tso, txCsum } from './tx-offload.js';
import type { SkBuff } from '../../kernel/net/skbuff.js';
import { ETH_ZLEN } from '../../lib/net/frame-defs.js';
import { DESC_SIZE, writeTxDesc } from '../../devices/e1000/descriptors.js';
import { REG, TCTL, TXD_CMD, TXD_DTYP_D, TXD_POPTS } from '../../devices/e1000/regs.js';
import type { E1000Adapter, TxBuffer } from './adapter.js';
import { descUnused, ew32, freeRing, setupRing } from './adapter.js';

const TO_DEVICE = DmaDataDirection.TO_DEVICE;
/** E1000_MAX_TXD_PWR: 4096 bytes per data descriptor. */
const MAX_TXD_PWR = 12;
const MAX_DATA_PER_TXD = 1 << MAX_TXD_PWR;
/** Scratch for one descriptor (nothing here re-enters). */
const DESC = new Uint8Array(DESC_SIZE);
/** tx_flags. */
const TX_FLAGS_CSUM = 1;
const TX_FLAGS_TSO = 4;
const TX_FLAGS_IPV4 = 8;

function emptyTxBuffer(): TxBuffer {
  return {
    skb: null,
    dma: 0 as DmaAddr,
    length: 0,
    nextToWatch: 0,
    mappedAsPage: false,
    timeStamp: 0,
    cpuPhys: 0,
    segs: 0,
    bytecount: 0,
  };
}

/** e1000_setup_tx_resources. @returns 0 or -ENOMEM */
export function setupTxResources(a: E1000Adapter): number {
  return setupRing(a, a.txRing, 'Tx', emptyTxBuffer);
}

/** e1000_free_tx_resources. */
export function freeTxResources(a: E1000Adapter): void {
  cleanTxRing(a);
  freeRing(a, a.txRing);
}

/** e1000_configure_tx: ring registers, TIPG, delays, TCTL (TCTL.EN waits for the link). */
export function configureTx(a: E1000Adapter): void {
  const r = a.txRing;
  ew32(a, REG.TDLEN, r.count * DESC_SIZE);
  ew32(a, REG.TDBAH, Math.floor(r.dma / 2 ** 32));
  ew32(a, REG.TDBAL, r.dma >>> 0);
  ew32(a, REG.TDT, 0);
  ew32(a, REG.TDH, 0);
  // DEFAULT_82543_TIPG_IPGT_COPPER 8, IPGR1 8, IPGR2 6.
  ew32(a, REG.TIPG, 8 | (8 << 10) | (6 << 20));
  ew32(a, REG.TIDV, a.opts.txIntDelay);
  ew32(a, REG.TADV, a.opts.txAbsIntDelay);
  // CT 15, COLD 0x3f (full duplex), pad short packets, retransmit on late collision.
  ew32(a, REG.TCTL, TCTL.PSP | TCTL.RTLC | (0x0f << TCTL.CT_SHIFT) | (0x3f << TCTL.COLD_SHIFT));
  a.txdCmd = TXD_CMD.EOP | TXD_CMD.IFCS | TXD_CMD.RS | (a.opts.txIntDelay > 0 ? TXD_CMD.IDE : 0);
}

/**
 * e1000_xmit_frame (ndo_start_xmit).
 * @returns NETDEV_TX_OK when the skb was queued or dropped, NETDEV_TX_BUSY when the ring is full
 */
export function xmitFrame(a: E1000Adapter, skb: SkBuff): NetdevTx {
  const r = a.txRing;
  if (skb.len <= 0) {
    a.netdev.free(skb);
    return NetdevTx.OK;
  }
  if (skb.len < ETH_ZLEN && !padTo(a, skb, ETH_ZLEN)) return NetdevTx.OK;
  const mss = skb.gsoSize;
  const maxPerTxd = mss > 0 ? Math.min(mss << 2, MAX_DATA_PER_TXD) : MAX_DATA_PER_TXD;
  let count = descsFor(skb.headlen, maxPerTxd);
  if (mss > 0 || skb.ipSummed === IpSummed.CHECKSUM_PARTIAL) count++;
  for (const f of skb.frags) count += descsFor(f.size, maxPerTxd);
  if (descUnused(r) < count + 2) {
    a.netdev.netifStopQueue();
    return NetdevTx.BUSY;
  }
  const first = r.nextToUse;
  let flags = TX_FLAGS_IPV4;
  if (mss > 0) flags |= tso(a, skb) ? TX_FLAGS_TSO : 0;
  else if (txCsum(a, skb)) flags |= TX_FLAGS_CSUM;
  const n = txMap(a, skb, first, maxPerTxd);
  if (n === 0) {
    a.netdev.free(skb);
    r.nextToUse = first;
    return NetdevTx.OK;
  }
  txQueue(a, n, flags);
  if (descUnused(r) < MAX_SKB_FRAGS + 7) a.netdev.netifStopQueue();
  doorbell(a, r.nextToUse);
  return NetdevTx.OK;
}

/** The TDT write: writel orders it after the descriptors; the broken variant does not. */
function doorbell(a: E1000Adapter, tail: number): void {
  const va = (a.hwAddr + REG.TDT) as VirtAddr;
  if (a.opts.mistakes.skipTxBarrier === true) a.k.io.writelRelaxed(tail, va);
  else a.k.io.writel(tail, va);
}

function descsFor(len: number, max: number): number {
  return Math.ceil(len / max);
}

/** skb_put_padto: zero bytes up to `len` in the linear part; on failure the skb is freed. */
function padTo(a: E1000Adapter, skb: SkBuff, len: number): boolean {
  const n = len - skb.len;
  if (skb.frags.length > 0 || skb.data + skb.headlen + n > skb.head + skb.bufSize) {
    a.netdev.stats.txDropped++;
    a.netdev.free(skb);
    return false;
  }
  a.k.vm.memset(skb.put(n), 0, n);
  return true;
}

/**
 * e1000_tx_map: dma_map_single per chunk of the linear part, a page map per chunk of each
 * fragment; on a mapping error everything mapped so far is unmapped.
 * @returns descriptors used, 0 on failure
 */
function txMap(a: E1000Adapter, skb: SkBuff, first: number, maxPerTxd: number): number {
  const r = a.txRing;
  const dev = a.pdev;
  let i = r.nextToUse;
  let count = 0;
  const erratum = (len: number, size: number, isLast: boolean): number => {
    if (!a.opts.txErrata) return size;
    // Erratum: a linear non-TSO packet after a TSO one is written back early; keep 4 bytes back.
    if (skb.dataLen === 0 && a.lastTxTso && !skb.isGso) {
      a.lastTxTso = false;
      return size - 4;
    }
    // Premature write-back in TSO mode: a 4-byte sentinel descriptor.
    if (skb.gsoSize > 0 && skb.frags.length === 0 && size === len && size > 8 && isLast)
      return size - 4;
    return size;
  };
  let len = skb.headlen;
  let offset = 0;
  while (len > 0) {
    const size = erratum(len, Math.min(len, maxPerTxd), true);
    const dma = a.k.dma.dmaMapSingle(dev, (skb.data + offset) as VirtAddr, size, TO_DEVICE);
    if (!mapOk(a, dma)) return unwind(a, i, count);
    const phys = a.k.vm.virtToPhys((skb.data + offset) as VirtAddr);
    setBuffer(a, r.buffers[i] as TxBuffer, dma, size, i, false, phys);
    len -= size;
    offset += size;
    count++;
    if (len > 0) i = (i + 1) % r.count;
  }
  for (const f of skb.frags) {
    let fl = f.size;
    let foff = f.offset;
    while (fl > 0) {
      i = (i + 1) % r.count;
      const size = Math.min(fl, maxPerTxd);
      const dma = a.k.dma.dmaMapPage(dev, f.page, foff, size, TO_DEVICE);
      if (!mapOk(a, dma)) return unwind(a, i, count);
      setBuffer(
        a,
        r.buffers[i] as TxBuffer,
        dma,
        size,
        i,
        true,
        a.k.pages.pageToPhys(f.page) + foff,
      );
      fl -= size;
      foff += size;
      count++;
    }
  }
  const last = r.buffers[i] as TxBuffer;
  last.skb = skb;
  last.segs = skb.isGso ? skb.gsoSegs : 1;
  last.bytecount = skb.len;
  (r.buffers[first] as TxBuffer).nextToWatch = i;
  if (skb.isGso) a.lastTxTso = true;
  return count;
}

function mapOk(a: E1000Adapter, dma: DmaAddr): boolean {
  if (a.opts.mistakes.skipMapErrorCheck === true) return dma !== DMA_MAPPING_ERROR;
  if (!a.k.dma.dmaMappingError(a.pdev, dma)) return true;
  a.k.log.print('err', `e1000 ${a.pdev.name}: TX DMA map failed`);
  a.counters.txDmaFailed++;
  return false;
}

function setBuffer(
  a: E1000Adapter,
  b: TxBuffer,
  dma: DmaAddr,
  len: number,
  i: number,
  page: boolean,
  cpuPhys: number,
): void {
  b.dma = dma;
  b.cpuPhys = cpuPhys;
  b.length = len;
  b.timeStamp = a.k.machine.clock.now;
  b.nextToWatch = i;
  b.mappedAsPage = page;
}

/** The dma_error path of e1000_tx_map: unmap back to the packet's first buffer. */
function unwind(a: E1000Adapter, failed: number, count: number): number {
  const r = a.txRing;
  (r.buffers[failed] as TxBuffer).dma = 0 as DmaAddr;
  let i = failed;
  for (let n = count; n > 0; n--) {
    i = (i - 1 + r.count) % r.count;
    unmapAndFree(a, r.buffers[i] as TxBuffer);
  }
  return 0;
}

/** e1000_tx_queue: the data descriptors, txd_cmd on the last, then dma_wmb(). */
function txQueue(a: E1000Adapter, count: number, flags: number): void {
  const r = a.txRing;
  let lower = TXD_CMD.IFCS;
  let upper = 0;
  if ((flags & TX_FLAGS_TSO) !== 0) {
    lower |= TXD_CMD.DEXT | TXD_DTYP_D | TXD_CMD.TSE;
    upper |= TXD_POPTS.TXSM << 8;
    if ((flags & TX_FLAGS_IPV4) !== 0) upper |= TXD_POPTS.IXSM << 8;
  }
  if ((flags & TX_FLAGS_CSUM) !== 0) {
    lower |= TXD_CMD.DEXT | TXD_DTYP_D;
    upper |= TXD_POPTS.TXSM << 8;
  }
  const b = DESC;
  let i = r.nextToUse;
  for (let n = 0; n < count; n++) {
    const bi = r.buffers[i] as TxBuffer;
    const last = n === count - 1;
    writeTxDesc(b, 0, {
      bufferAddr: descAddr(a, bi),
      lower: (lower | bi.length | (last ? a.txdCmd : 0)) >>> 0,
      upper,
    });
    a.k.vm.write((r.desc + i * DESC_SIZE) as VirtAddr, b, 0, DESC_SIZE);
    i = (i + 1) % r.count;
  }
  // Descriptors before the tail: the device may fetch as soon as TDT moves.
  if (a.opts.mistakes.skipTxBarrier !== true) a.k.machine.cpu.dmaWmb();
  r.nextToUse = i;
}

/** The address a TX descriptor gets: the DMA handle (or, broken, the CPU's physical address). */
function descAddr(a: E1000Adapter, b: TxBuffer): number {
  return a.opts.mistakes.txPhysAddr === true ? b.cpuPhys : b.dma;
}
