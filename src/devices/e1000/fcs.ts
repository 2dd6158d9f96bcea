/** The Ethernet frame check sequence: CRC-32 (IEEE 802.3 §3.2.9), reflected, sent LSB first. */

const TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf: Uint8Array, off = 0, len = buf.length - off): number {
  let c = 0xffffffff;
  for (let i = off; i < off + len; i++) {
    c = (TABLE[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** The four FCS bytes in the order they follow the frame on the wire (and in a receive buffer). */
export function fcsBytes(frame: Uint8Array): Uint8Array {
  const c = crc32(frame);
  return Uint8Array.of(c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24);
}
