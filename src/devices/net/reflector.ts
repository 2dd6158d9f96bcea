/**
 * A peer that sends every frame straight back with the addresses swapped, like a hardware
 * loopback tester: it costs next to nothing per frame, so a throughput run measures the NIC,
 * its driver and the DMA path rather than a protocol stack.
 */
import { ConfigError } from '../../lib/errors.js';
import type { NetAttachment, NetReceiver } from './port.js';

export class NetReflector implements NetReceiver {
  private port: NetAttachment | undefined;
  /** Frames reflected. */
  frames = 0;

  connect(link: { attach(r: NetReceiver): NetAttachment }): void {
    if (this.port !== undefined) throw new ConfigError('reflector: already connected');
    this.port = link.attach(this);
  }

  receive(frame: Uint8Array): void {
    if (this.port === undefined || frame.length < 12) return;
    // A capture tap may hold the frame it saw: the reply is a copy.
    const out = frame.slice();
    out.set(frame.subarray(6, 12), 0);
    out.set(frame.subarray(0, 6), 6);
    this.frames++;
    this.port.transmit(out, 0, true);
  }
}
