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
    // The frame is ours (NetReceiver): swap the addresses in place and hand it back.
    for (let i = 0; i < 6; i++) {
      const d = frame[i] as number;
      frame[i] = frame[i + 6] as number;
      frame[i + 6] = d;
    }
    this.frames++;
    this.port.transmit(frame, 0, true);
  }
}
