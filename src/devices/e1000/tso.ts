/**
 * TCP segmentation (SDM §3.5): one large TCP (or UDP) packet becomes frames of the header plus at
 * most MSS payload bytes, each with its IP length, IP identification, TCP sequence number, flags
 * and checksums fixed up (SDM §3.5.9.1-3). Also the per-packet checksum offload of a non-TSO
 * packet, which uses the same context fields (SDM §3.3.5).
 */
import type { ContextDesc } from './descriptors.js';
import { addToField, insertChecksum } from './offload.js';
import { TXD_CMD, TXD_EXT_LEN_MASK, TXD_POPTS } from './regs.js';

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const IPV6_HLEN = 40;

function get16(b: Uint8Array, off: number): number {
  return ((b[off] ?? 0) << 8) | (b[off + 1] ?? 0);
}

function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

function get32(b: Uint8Array, off: number): number {
  return get16(b, off) * 0x10000 + get16(b, off + 2);
}

function put32(b: Uint8Array, off: number, v: number): void {
  put16(b, off, Math.floor(v / 0x10000) & 0xffff);
  put16(b, off + 2, v & 0xffff);
}

function isTcp(ctx: ContextDesc): boolean {
  return (ctx.cmdAndLength & TXD_CMD.TCP) !== 0;
}

/** IXSM / TXSM insertion over the context's ranges (POPTS of the packet's first descriptor). */
export function applyChecksums(pkt: Uint8Array, ctx: ContextDesc, popts: number): void {
  if ((popts & TXD_POPTS.IXSM) !== 0) insertChecksum(pkt, ctx.ipcss, ctx.ipcso, ctx.ipcse);
  if ((popts & TXD_POPTS.TXSM) !== 0) {
    insertChecksum(pkt, ctx.tucss, ctx.tucso, ctx.tucse, !isTcp(ctx));
  }
}

/**
 * Splits a TSO packet (header + payload as gathered from its data descriptors) into frames; null
 * when the context cannot describe it (MSS 0, header longer than the packet), which the hardware
 * counts in TSCTFC.
 * MODEL: the hardware streams the payload through its FIFO; here the whole packet is gathered
 * first, which gives the same frames. The payload is PAYLEN bytes, or fewer if the descriptors
 * carried fewer.
 */
export function tsoSegments(pkt: Uint8Array, ctx: ContextDesc, popts: number): Uint8Array[] | null {
  const hdr = ctx.hdrLen;
  const mss = ctx.mss;
  if (mss === 0 || hdr === 0 || hdr > pkt.length) return null;
  const payLen = Math.min(ctx.cmdAndLength & TXD_EXT_LEN_MASK, pkt.length - hdr);
  const n = Math.max(1, Math.ceil(payLen / mss));
  const frames: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const sent = i * mss;
    const len = Math.min(mss, payLen - sent);
    const f = new Uint8Array(hdr + len);
    f.set(pkt.subarray(0, hdr));
    f.set(pkt.subarray(hdr + sent, hdr + sent + len), hdr);
    fixHeaders(f, ctx, i, sent, i === n - 1);
    if ((popts & TXD_POPTS.TXSM) !== 0) addToField(f, ctx.tucso, f.length - ctx.tucss);
    applyChecksums(f, ctx, popts);
    frames.push(f);
  }
  return frames;
}

/** Per-frame header fields (SDM §3.5.9.1-3). */
function fixHeaders(f: Uint8Array, ctx: ContextDesc, i: number, sent: number, last: boolean): void {
  const ip = ctx.ipcss;
  if ((ctx.cmdAndLength & TXD_CMD.IP) !== 0) {
    put16(f, ip + 2, f.length - ip);
    put16(f, ip + 4, (get16(f, ip + 4) + i) & 0xffff);
  } else {
    put16(f, ip + 4, f.length - ip - IPV6_HLEN);
  }
  const l4 = ctx.tucss;
  if (isTcp(ctx)) {
    put32(f, l4 + 4, (get32(f, l4 + 4) + sent) % 0x1_0000_0000);
    if (!last) f[l4 + 13] = (f[l4 + 13] ?? 0) & ~(TCP_FIN | TCP_PSH);
  } else {
    put16(f, l4 + 4, f.length - l4);
  }
}
