/**
 * The statistics block (SDM §13.7): counters that saturate at all-ones and clear when read. For
 * the 64-bit octet counters, reading the high half clears both halves and reading the low half
 * clears nothing, so the low-then-high read Linux does returns a consistent pair (as QEMU).
 */
import type { RegFile } from './regfile.js';
import { STAT, STATS_BASE, STATS_END } from './regs.js';

const MAX32 = 0xffff_ffff;
const TWO32 = 0x1_0000_0000;
/** Ethernet FCS bytes, counted in every octet counter and size bin (SDM §13.7). */
export const FCS_LEN = 4;

/** High half → low half of the 64-bit counters. */
const HIGH_HALVES = new Map<number, number>([
  [STAT.GORCH, STAT.GORCL],
  [STAT.GOTCH, STAT.GOTCL],
  [STAT.TORH, STAT.TORL],
  [STAT.TOTH, STAT.TOTL],
]);
const LOW_HALVES = new Set(HIGH_HALVES.values());

export function isStat(off: number): boolean {
  return off >= STATS_BASE && off < STATS_END;
}

/** Reads a counter with its clear-on-read side effect. */
export function readStat(regs: RegFile, off: number): number {
  const v = regs.get(off);
  if (LOW_HALVES.has(off)) return v;
  const low = HIGH_HALVES.get(off);
  if (low !== undefined) regs.set(low, 0);
  regs.set(off, 0);
  return v;
}

export function inc(regs: RegFile, off: number, n = 1): void {
  regs.set(off, Math.min(MAX32, regs.get(off) + n));
}

/** Adds to a 64-bit counter kept in (low, low + 4), saturating. */
export function add64(regs: RegFile, low: number, n: number): void {
  const v = regs.get(low + 4) * TWO32 + regs.get(low) + n;
  if (v >= TWO32 * TWO32) {
    regs.set(low, MAX32);
    regs.set(low + 4, MAX32);
    return;
  }
  regs.set(low + 4, Math.floor(v / TWO32));
  regs.set(low, v % TWO32);
}

const RX_BINS = [STAT.PRC64, STAT.PRC127, STAT.PRC255, STAT.PRC511, STAT.PRC1023, STAT.PRC1522];
const TX_BINS = [STAT.PTC64, STAT.PTC127, STAT.PTC255, STAT.PTC511, STAT.PTC1023, STAT.PTC1522];

/** Size bin 64, 65-127, 128-255, 256-511, 512-1023, 1024+ of a length that includes the FCS. */
function bin(wireLen: number): number {
  if (wireLen <= 64) return 0;
  return Math.min(5, 31 - Math.clz32(wireLen) - 5);
}

export type DestKind = 'uni' | 'multi' | 'broad';

export function destKind(frame: Uint8Array): DestKind {
  if (((frame[0] ?? 0) & 1) === 0) return 'uni';
  for (let i = 0; i < 6; i++) if (frame[i] !== 0xff) return 'multi';
  return 'broad';
}

/** A frame of `length` bytes (no FCS) to a `k` address reached the wire. */
export function countTx(regs: RegFile, length: number, k: DestKind): void {
  const wire = length + FCS_LEN;
  inc(regs, STAT.TPT);
  inc(regs, STAT.GPTC);
  add64(regs, STAT.GOTCL, wire);
  add64(regs, STAT.TOTL, wire);
  inc(regs, TX_BINS[bin(wire)] as number);
  if (k === 'broad') inc(regs, STAT.BPTC);
  else if (k === 'multi') inc(regs, STAT.MPTC);
}

/** A frame arrived at the MAC (counted whatever becomes of it); `frame` excludes the FCS. */
export function countRxArrival(regs: RegFile, frame: Uint8Array): void {
  inc(regs, STAT.TPR);
  add64(regs, STAT.TORL, frame.length + FCS_LEN);
}

/** A frame passed the filters and was stored in host memory. */
export function countRxGood(regs: RegFile, frame: Uint8Array): void {
  const wire = frame.length + FCS_LEN;
  inc(regs, STAT.GPRC);
  add64(regs, STAT.GORCL, wire);
  inc(regs, RX_BINS[bin(wire)] as number);
  const k = destKind(frame);
  if (k === 'broad') inc(regs, STAT.BPRC);
  else if (k === 'multi') inc(regs, STAT.MPRC);
}
