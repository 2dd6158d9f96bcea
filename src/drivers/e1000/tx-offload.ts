/**
 * e1000 transmit offloads (e1000_main.c e1000_tso, e1000_tx_csum): the context descriptor a TSO
 * or checksum-offloaded packet needs, written at next_to_use ahead of its data descriptors.
 */
import type { VirtAddr } from '../../lib/addr.js';
import { IpSummed } from '../../kernel/net/skbuff.js';
import type { SkBuff } from '../../kernel/net/skbuff.js';
import { foldSum } from '../../lib/net/checksum.js';
import { pseudoHeaderSum } from '../../lib/net/frame-csum.js';
import { ETH_HLEN, IPPROTO_TCP } from '../../lib/net/frame-defs.js';
import { DESC_SIZE, writeContextDesc } from '../../devices/e1000/descriptors.js';
import { TXD_CMD } from '../../devices/e1000/regs.js';
import type { E1000Adapter, TxBuffer } from './adapter.js';

/** Scratch for one context descriptor. */
const DESC = new Uint8Array(DESC_SIZE);

/**
 * e1000_tso: the context descriptor of a TSO send, after zeroing the IP total length and checksum
 * and seeding the TCP checksum with the pseudo-header without length (the hardware adds each
 * segment's).
 */
export function tso(a: E1000Adapter, skb: SkBuff): boolean {
  const vm = a.k.vm;
  const ip = (skb.data + ETH_HLEN) as VirtAddr;
  const ihl = (vm.readU8(ip) & 0xf) * 4;
  const tcp = (ip + ihl) as VirtAddr;
  const hdrLen = ETH_HLEN + ihl + ((vm.readU8((tcp + 12) as VirtAddr) >> 4) & 0xf) * 4;
  const src = beU32(a, (ip + 12) as VirtAddr);
  const dst = beU32(a, (ip + 16) as VirtAddr);
  putBe16(a, (ip + 2) as VirtAddr, 0);
  putBe16(a, (ip + 10) as VirtAddr, 0);
  putBe16(a, (tcp + 16) as VirtAddr, foldSum(pseudoHeaderSum(src, dst, IPPROTO_TCP, 0)));
  const ipcss = ETH_HLEN;
  const tucss = ETH_HLEN + ihl;
  writeContext(a, {
    ipcss,
    ipcso: ipcss + 10,
    ipcse: tucss - 1,
    tucss,
    tucso: tucss + 16,
    tucse: 0,
    cmdAndLength:
      TXD_CMD.DEXT |
      TXD_CMD.TSE |
      TXD_CMD.IP |
      TXD_CMD.TCP |
      ((skb.len - hdrLen) & 0xfffff) |
      (a.txdCmd & TXD_CMD.IDE),
    status: 0,
    hdrLen,
    mss: skb.gsoSize,
  });
  return true;
}

/** e1000_tx_csum: a checksum-only context for CHECKSUM_PARTIAL. */
export function txCsum(a: E1000Adapter, skb: SkBuff): boolean {
  if (skb.ipSummed !== IpSummed.CHECKSUM_PARTIAL) return false;
  const proto = a.k.vm.readU8((skb.data + ETH_HLEN + 9) as VirtAddr);
  writeContext(a, {
    ipcss: 0,
    ipcso: 0,
    ipcse: 0,
    tucss: skb.csumStart,
    tucso: skb.csumStart + skb.csumOffset,
    tucse: 0,
    cmdAndLength:
      TXD_CMD.DEXT | (proto === IPPROTO_TCP ? TXD_CMD.TCP : 0) | (a.txdCmd & TXD_CMD.IDE),
    status: 0,
    hdrLen: 0,
    mss: 0,
  });
  return true;
}

function writeContext(a: E1000Adapter, d: Parameters<typeof writeContextDesc>[2]): void {
  const r = a.txRing;
  const b = DESC;
  writeContextDesc(b, 0, d);
  a.k.vm.write((r.desc + r.nextToUse * DESC_SIZE) as VirtAddr, b, 0, DESC_SIZE);
  const bi = r.buffers[r.nextToUse] as TxBuffer;
  bi.nextToWatch = r.nextToUse;
  r.nextToUse = (r.nextToUse + 1) % r.count;
}

function beU32(a: E1000Adapter, va: VirtAddr): number {
  const b = new Uint8Array(4);
  a.k.vm.read(va, b, 0, 4);
  return (
    (b[0] as number) * 2 ** 24 +
    ((b[1] as number) << 16) +
    ((b[2] as number) << 8) +
    (b[3] as number)
  );
}

function putBe16(a: E1000Adapter, va: VirtAddr, v: number): void {
  a.k.vm.write(va, Uint8Array.of((v >> 8) & 0xff, v & 0xff), 0, 2);
}
