/**
 * Receive address filtering (SDM §3.2.1, §13.4.22): broadcast with RCTL.BAM, all multicast with
 * MPE, all unicast with UPE, exact matches against the valid RAL/RAH pairs, then the 4096-bit
 * multicast hash (MTA, bits chosen by RCTL.MO); and the VLAN stage: with CTRL.VME a tag whose
 * type equals VET is stripped into the descriptor, and with RCTL.VFE its VLAN id must be set in
 * VFTA.
 */
import type { RegFile } from './regfile.js';
import { CTRL, MTA, RAH, RAH_AV, RAL, RAR_ENTRIES, RCTL, REG, VFTA } from './regs.js';

function isBroadcast(f: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (f[i] !== 0xff) return false;
  return true;
}

function matchesRar(regs: RegFile, f: Uint8Array): boolean {
  const lo = ((f[0] ?? 0) | ((f[1] ?? 0) << 8) | ((f[2] ?? 0) << 16) | ((f[3] ?? 0) << 24)) >>> 0;
  const hi = (f[4] ?? 0) | ((f[5] ?? 0) << 8);
  for (let n = 0; n < RAR_ENTRIES; n++) {
    const rah = regs.get(RAH(n));
    if ((rah & RAH_AV) !== 0 && regs.get(RAL(n)) === lo && (rah & 0xffff) === hi) return true;
  }
  return false;
}

/** Right shift of the last two address bytes for RCTL.MO = 0..3. */
const MO_SHIFTS = [4, 3, 2, 0];

/** The MTA bit a destination address hashes to (SDM §13.5.1): 12 bits picked by RCTL.MO. */
export function mtaHash(dst: Uint8Array, rctl: number): number {
  const mo = (rctl & RCTL.MO_MASK) >>> RCTL.MO_SHIFT;
  const v = ((dst[5] ?? 0) << 8) | (dst[4] ?? 0);
  return (v >>> (MO_SHIFTS[mo] ?? 0)) & 0xfff;
}

function mtaHit(regs: RegFile, f: Uint8Array, rctl: number): boolean {
  const h = mtaHash(f, rctl);
  return ((regs.get(MTA(h >>> 5)) >>> (h & 31)) & 1) !== 0;
}

/** Whether the address filter accepts the frame. */
export function acceptAddress(regs: RegFile, f: Uint8Array): boolean {
  const rctl = regs.get(REG.RCTL);
  if (isBroadcast(f) && (rctl & RCTL.BAM) !== 0) return true;
  const multicast = ((f[0] ?? 0) & 1) !== 0;
  if (multicast && (rctl & RCTL.MPE) !== 0) return true;
  if (!multicast && (rctl & RCTL.UPE) !== 0) return true;
  if (matchesRar(regs, f)) return true;
  return multicast && mtaHit(regs, f, rctl);
}

export interface VlanResult {
  /** The frame without its tag (or the frame itself). */
  frame: Uint8Array;
  /** The tag control information, when a tag was stripped. */
  tci: number | null;
  /** False when the VLAN filter rejects the frame. */
  accept: boolean;
}

/** The 802.1Q stage; the tag is only recognised (and filtered) when CTRL.VME is set. */
export function vlanStage(regs: RegFile, f: Uint8Array): VlanResult {
  const type = ((f[12] ?? 0) << 8) | (f[13] ?? 0);
  const vme = (regs.get(REG.CTRL) & CTRL.VME) !== 0;
  if (!vme || f.length < 18 || type !== (regs.get(REG.VET) & 0xffff)) {
    return { frame: f, tci: null, accept: true };
  }
  const tci = ((f[14] ?? 0) << 8) | (f[15] ?? 0);
  const vid = tci & 0xfff;
  const filtered = (regs.get(REG.RCTL) & RCTL.VFE) !== 0;
  const accept = !filtered || ((regs.get(VFTA(vid >>> 5)) >>> (vid & 31)) & 1) !== 0;
  const out = new Uint8Array(f.length - 4);
  out.set(f.subarray(0, 12));
  out.set(f.subarray(16), 12);
  return { frame: out, tci, accept };
}
