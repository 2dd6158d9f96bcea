/**
 * Recycled frame buffers. A NIC model makes a new frame for every packet it sends and drops one
 * for every packet it has stored; allocating a fresh 1.5 KiB typed array costs more than the
 * frame's DMA (about 2 µs here, most of it garbage-collector work), so frames up to 2 KiB live in
 * 2 KiB blocks that go round. A block comes back only from whoever owns the frame last (a
 * receiver, NetReceiver), and holds stale bytes: takeFrame's caller fills all of it.
 */

/** Bytes of a block: an Ethernet frame with VLAN tag and FCS fits. */
const BLOCK = 2048;
/** Blocks kept at most (1 MiB). */
const MAX_FREE = 512;

const free: ArrayBuffer[] = [];

/** A frame of `len` bytes whose contents the caller overwrites entirely. */
export function takeFrame(len: number): Uint8Array {
  if (len > BLOCK) return new Uint8Array(len);
  return new Uint8Array(free.pop() ?? new ArrayBuffer(BLOCK), 0, len);
}

/** Gives a frame's block back; the caller must be its last user. Other frames are left alone. */
export function giveFrame(frame: Uint8Array): void {
  const b = frame.buffer;
  // Only a whole block from takeFrame: a view into someone else's bytes (a pcap file) is not ours.
  if (b instanceof ArrayBuffer && b.byteLength === BLOCK && frame.byteOffset === 0)
    if (free.length < MAX_FREE) free.push(b);
}
