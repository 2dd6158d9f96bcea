/**
 * Received traffic from a capture: the frames of a pcap file put on the wire by one side of a
 * link, keeping their spacing (the first frame goes `startNs` from now). Wall-clock captures
 * (years of seconds since 1970) replay the same: only the differences count.
 */
import type { Clock } from '../../machine/clock/clock.js';
import { readPcap } from '../../lib/net/pcap.js';

/**
 * Schedules every frame of `pcap` for `send` (e.g. a responder's sendFrame).
 * @returns how many frames were scheduled
 * @throws ConfigError naming the file and record when the capture is malformed (nothing is sent)
 */
export function replayPcap(
  pcap: Uint8Array,
  name: string,
  clock: Clock,
  send: (frame: Uint8Array) => void,
  startNs = 0,
): number {
  // Read it all first: a bad record must not leave half a capture on the wire.
  const recs = [...readPcap(pcap, name)];
  const first = recs[0];
  if (first === undefined) return 0;
  for (const r of recs) {
    const delay = startNs + Math.max(0, (r.tsSec - first.tsSec) * 1e9 + (r.tsNsec - first.tsNsec));
    clock.schedule(delay, () => {
      send(r.frame);
    });
  }
  return recs.length;
}
