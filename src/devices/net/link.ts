/**
 * A full-duplex point-to-point Ethernet link (a cable between two MACs) on the machine's clock.
 * Each direction serialises its frames at the line rate: IEEE 802.3 puts a preamble + SFD
 * (8 bytes) before and an FCS (4) after each frame, pads it to the minimum frame size, and keeps
 * an inter-frame gap (12 byte times) before the next.
 */
import { ConfigError } from '../../lib/errors.js';
import type { Clock } from '../../machine/clock/clock.js';
import { ETH_FCS_LEN, ETH_ZLEN } from '../../lib/net/frame-defs.js';
import type { NetAttachment, NetReceiver } from './port.js';

/** Preamble (7) + start frame delimiter (1): 802.3 clause 3.2.1. */
export const ETH_PREAMBLE_LEN = 8;
/** Minimum inter-packet gap, 96 bit times: 802.3 clause 4.4.2. */
export const ETH_IFG_LEN = 12;

/** Which attachment a frame came from: 0 for the first attach(), 1 for the second. */
export type LinkSide = 0 | 1;

export type CaptureListener = (timeNs: number, frame: Uint8Array, fromSide: LinkSide) => void;

export interface LinkOptions {
  /** Bits per second, default 1e9. */
  readonly rateBps?: number;
  /** Propagation delay in ns, default 0 (about 5 ns per metre of cable). */
  readonly propagationNs?: number;
}

export interface LinkCounters {
  frames: number;
  /** Frame bytes as given to transmit (no preamble, padding or FCS). */
  bytes: number;
}

/** Bytes a frame of `len` occupies on the wire up to its last FCS bit (padded, with preamble). */
export function frameWireBytes(len: number): number {
  return ETH_PREAMBLE_LEN + Math.max(len, ETH_ZLEN) + ETH_FCS_LEN;
}

/** Byte times a frame holds its direction of the link, the gap to the next frame included. */
export function frameSlotBytes(len: number): number {
  return frameWireBytes(len) + ETH_IFG_LEN;
}

interface Direction {
  /** When this direction's transmitter may start the next frame (after the gap). */
  freeAt: number;
  readonly counters: LinkCounters;
}

export class Link {
  readonly rateBps: number;
  readonly propagationNs: number;
  private readonly nsPerByte: number;
  private readonly receivers: NetReceiver[] = [];
  private readonly dirs: [Direction, Direction] = [
    { freeAt: 0, counters: { frames: 0, bytes: 0 } },
    { freeAt: 0, counters: { frames: 0, bytes: 0 } },
  ];
  private readonly taps: CaptureListener[] = [];

  constructor(
    private readonly clock: Clock,
    opts: LinkOptions = {},
  ) {
    this.rateBps = opts.rateBps ?? 1e9;
    this.propagationNs = opts.propagationNs ?? 0;
    if (!(this.rateBps > 0) || !Number.isFinite(this.rateBps)) {
      throw new ConfigError(`link: rate ${this.rateBps} bit/s must be positive`);
    }
    if (!(this.propagationNs >= 0) || !Number.isFinite(this.propagationNs)) {
      throw new ConfigError(`link: propagation delay ${this.propagationNs} ns must be >= 0`);
    }
    this.nsPerByte = 8e9 / this.rateBps;
  }

  /** Plugs in one end; a link has exactly two. Frames sent while the peer is absent are lost. */
  attach(receiver: NetReceiver): NetAttachment {
    const side = this.receivers.length;
    if (side !== 0 && side !== 1) throw new ConfigError('link: both ends are already attached');
    this.receivers.push(receiver);
    return {
      transmit: (frame, notBefore, handOver) =>
        this.transmit(side, frame, notBefore ?? 0, handOver === true),
    };
  }

  /**
   * Calls `listener` for every frame in either direction, at the time its last bit leaves the
   * sender, before the peer receives it. The frame must not be modified, and is the receiver's
   * once the listener returns: copy what you keep (PcapWriter does). Returns a remover.
   */
  capture(listener: CaptureListener): () => void {
    this.taps.push(listener);
    return () => {
      const i = this.taps.indexOf(listener);
      if (i >= 0) this.taps.splice(i, 1);
    };
  }

  /** Frames and bytes sent from `side` (a snapshot). */
  counters(fromSide: LinkSide): LinkCounters {
    return { ...this.dirs[fromSide].counters };
  }

  /** When the transmitter of `side` can start its next frame. */
  freeAt(side: LinkSide): number {
    return Math.max(this.clock.now, this.dirs[side].freeAt);
  }

  /** Simulated ns for `bytes` byte times at this link's rate. */
  byteTimeNs(bytes: number): number {
    return bytes * this.nsPerByte;
  }

  private transmit(
    side: LinkSide,
    frame: Uint8Array,
    notBefore: number,
    handOver: boolean,
  ): number {
    if (frame.length === 0) throw new ConfigError('link: cannot transmit an empty frame');
    const copy = handOver ? frame : frame.slice();
    const dir = this.dirs[side];
    const start = Math.max(this.freeAt(side), notBefore);
    const lastBit = start + this.byteTimeNs(frameWireBytes(copy.length));
    dir.freeAt = start + this.byteTimeNs(frameSlotBytes(copy.length));
    dir.counters.frames++;
    dir.counters.bytes += copy.length;
    this.clock.schedule(lastBit - this.clock.now, () => {
      this.sent(side, copy);
    });
    return lastBit;
  }

  /** The last bit has left `side`: show it to the taps, then to the peer after propagation. */
  private sent(side: LinkSide, frame: Uint8Array): void {
    for (const tap of this.taps) tap(this.clock.now, frame, side);
    const peer = this.receivers[side === 0 ? 1 : 0];
    if (peer === undefined) return;
    if (this.propagationNs === 0) peer.receive(frame);
    else
      this.clock.schedule(this.propagationNs, () => {
        peer.receive(frame);
      });
  }
}
