/**
 * How a MAC meets the wire: a link hands each side a NetAttachment to transmit on and calls the
 * side's NetReceiver when a frame arrives. Frames are Ethernet frames from the destination MAC to
 * the end of the payload (padding included, no preamble and no FCS), as a pcap file holds them.
 */

/**
 * A MAC's (or peer's) receive side: called by the link at the simulated time the frame arrives.
 * The frame is the receiver's to keep or change.
 */
export interface NetReceiver {
  receive(frame: Uint8Array): void;
}

/** A MAC's transmit side on a link. */
export interface NetAttachment {
  /**
   * Queues a frame behind those already on the wire, starting no earlier than `notBefore` (ns;
   * default now), and returns the simulated time at which its last bit leaves. The frame is
   * copied, so the caller may reuse its buffer, unless `handOver` says the caller gives it up
   * (a frame built for this send and never touched again).
   */
  transmit(frame: Uint8Array, notBefore?: number, handOver?: boolean): number;
}
