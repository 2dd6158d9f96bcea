/**
 * e1000 transmit completion (e1000_main.c): e1000_clean_tx_irq unmapping every packet whose EOP
 * descriptor has DD, the hung-transmitter check, and e1000_clean_tx_ring at down.
 */
import type { DmaAddr, VirtAddr } from '../../lib/addr.js';
import { DmaDataDirection } from '../../kernel/dma/direction.js';
import { DESC_SIZE } from '../../devices/e1000/descriptors.js';
import { REG, STATUS, TXD_STAT } from '../../devices/e1000/regs.js';
import type { E1000Adapter, TxBuffer } from './adapter.js';
import { descUnused, er32, info, zeroRing } from './adapter.js';

const TO_DEVICE = DmaDataDirection.TO_DEVICE;
/** Scratch for a descriptor's upper dword. */
const UPPER = new Uint8Array(4);
const UPPER_VIEW = new DataView(UPPER.buffer);
/** TX_WAKE_THRESHOLD. */
const TX_WAKE_THRESHOLD = 32;

/**
 * e1000_clean_tx_irq: every packet whose EOP descriptor has DD is unmapped and freed.
 * @returns true when the ring was cleaned completely (fewer than `count` descriptors done)
 */
export function cleanTxIrq(a: E1000Adapter): boolean {
  const r = a.txRing;
  let i = r.nextToClean;
  let eop = (r.buffers[i] as TxBuffer).nextToWatch;
  let count = 0;
  let packets = 0;
  let bytes = 0;
  while (count < r.count && (descUpper(a, eop) & TXD_STAT.DD) !== 0) {
    a.k.machine.cpu.dmaRmb();
    for (let cleaned = false; !cleaned; count++) {
      cleaned = i === eop;
      const bi = r.buffers[i] as TxBuffer;
      if (cleaned) {
        packets += bi.segs;
        bytes += bi.bytecount;
      }
      unmapAndFree(a, bi);
      a.k.vm.writeU32((r.desc + i * DESC_SIZE + 12) as VirtAddr, 0);
      i = (i + 1) % r.count;
    }
    eop = (r.buffers[i] as TxBuffer).nextToWatch;
  }
  r.nextToClean = i;
  if (a.detectTxHung) detectTxHung(a, eop);
  a.netdev.stats.txPackets += packets;
  a.netdev.stats.txBytes += bytes;
  if (
    packets > 0 &&
    a.netdev.queueStopped &&
    a.netdev.carrierOk &&
    descUnused(r) >= TX_WAKE_THRESHOLD
  ) {
    a.netdev.netifWakeQueue();
    a.counters.restartQueue++;
  }
  return count < r.count;
}

/**
 * The hung-transmitter check of e1000_clean_tx_irq: a packet waiting longer than a second
 * (tx_timeout_factor * HZ at 1000 Mb/s) while the MAC is not paused.
 */
function detectTxHung(a: E1000Adapter, eop: number): void {
  a.detectTxHung = false;
  const r = a.txRing;
  const b = r.buffers[eop] as TxBuffer;
  const now = a.k.machine.clock.now;
  if (b.timeStamp === 0 || now <= b.timeStamp + 1e9 || (er32(a, REG.STATUS) & STATUS.TXOFF) !== 0)
    return;
  const h = (v: number): string => `<${v.toString(16)}>`;
  const lines = [
    'Detected Tx Unit Hang',
    `  Tx Queue             <0>`,
    `  TDH                  ${h(er32(a, REG.TDH))}`,
    `  TDT                  ${h(er32(a, REG.TDT))}`,
    `  next_to_use          ${h(r.nextToUse)}`,
    `  next_to_clean        ${h(r.nextToClean)}`,
    'buffer_info[next_to_clean]',
    `  time_stamp           ${h(Math.floor(b.timeStamp / 1e6))}`,
    `  next_to_watch        ${h(eop)}`,
    `  jiffies              ${h(Math.floor(now / 1e6))}`,
    `  next_to_watch.status ${h(descUpper(a, eop) & 0xff)}`,
  ];
  info(a, 'err', lines.join('\n'));
  a.counters.txTimeoutCount++;
  a.netdev.netifStopQueue();
}

/** le32_to_cpu(tx_desc->upper.data): descriptors are little-endian whatever the CPU. */
function descUpper(a: E1000Adapter, i: number): number {
  a.k.vm.read((a.txRing.desc + i * DESC_SIZE + 12) as VirtAddr, UPPER, 0, 4);
  return UPPER_VIEW.getUint32(0, true);
}

/** e1000_unmap_and_free_tx_resource. */
export function unmapAndFree(a: E1000Adapter, b: TxBuffer): void {
  if (b.dma !== 0 && a.opts.mistakes.forgetTxUnmap !== true) {
    if (b.mappedAsPage) a.k.dma.dmaUnmapPage(a.pdev, b.dma, b.length, TO_DEVICE);
    else a.k.dma.dmaUnmapSingle(a.pdev, b.dma, b.length, TO_DEVICE);
  }
  b.dma = 0 as DmaAddr;
  b.timeStamp = 0;
  if (b.skb !== null) a.netdev.free(b.skb);
  b.skb = null;
  b.length = 0;
}

/** e1000_clean_tx_ring: unmap and free everything, zero the ring, TDH = TDT = 0. */
export function cleanTxRing(a: E1000Adapter): void {
  const r = a.txRing;
  if (r.size === 0) return;
  for (const b of r.buffers) unmapAndFree(a, b);
  zeroRing(a, r);
}
