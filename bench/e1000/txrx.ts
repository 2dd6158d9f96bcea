/**
 * `e1000/txrx`: 1514-byte frames through the whole e1000 path each way, per second of wall time:
 * skb → e1000_xmit_frame → dma_map_single → descriptors → TDT → the device fetching and reading by
 * DMA through a strict IOMMU and the cache model → the 1 Gbit/s link → a reflector peer → back
 * into the device's RX FIFO → DMA into a page fragment → interrupt → NAPI → unmap and refill →
 * the skb up. Target ≥ 82 000 frames/s each way (1 Gbit/s of 1500-byte frames in real time) with no
 * checker; `e1000/txrx-checked` is the same with dma-debug, the coherence checker and the IOMMU
 * exposure checker attached (reported, no target).
 */
import { CoherenceChecker } from '../../src/check/coherence.js';
import { DmaDebug } from '../../src/check/dma-debug.js';
import { chainDmaDebugHooks } from '../../src/check/hooks-chain.js';
import { IommuExposure } from '../../src/check/iommu-exposure.js';
import type { Kernel } from '../../src/kernel/kernel.js';
import { parseMac } from '../../src/lib/net/frame-defs.js';
import { MIB } from '../../src/lib/units.js';
import { e1000Net, HOST_MAC, PEER_MAC } from '../../src/scenarios/e1000-net.js';
import type { BenchResult } from '../types.js';
import { steadyRate } from '../timing.js';

/** Frames queued per burst: the TX ring takes them, the clock then runs until all are back. */
const BURST = 64;
/** 1514 bytes + FCS, preamble and gap at 1 Gbit/s. */
const WIRE_NS = 12_304;

function framesPerSecond(checked: boolean): number {
  const dbg = new DmaDebug();
  const coh = new CoherenceChecker({ log: false });
  const iox = new IommuExposure({ log: false });
  const n = e1000Net({
    machine: { iommu: true, ramSize: 512 * MIB },
    kernel: {
      cmdline: 'intel_iommu=on iommu.strict=1',
      ...(checked ? { dmaDebug: chainDmaDebugHooks(dbg, coh, iox) } : {}),
    },
    peer: 'reflector',
    ...(checked
      ? {
          onBoot: (k: Kernel) => {
            dbg.attach(k);
            coh.attach(k);
            iox.attach(k);
          },
        }
      : {}),
  });
  const clock = n.k.machine.clock;
  clock.run(clock.now + 5e6); // link up
  const frame = new Uint8Array(1514);
  frame.set(parseMac(PEER_MAC), 0);
  frame.set(parseMac(HOST_MAC), 6);
  frame[12] = 0x88; // IEEE 802 local experimental ethertype 0x88b5
  frame[13] = 0xb5;
  const dev = n.adapter.netdev;
  let received = 0;
  dev.rx = (skb) => {
    received++;
    n.k.skbs.kfreeSkb(skb);
  };
  let sent = 0;
  const rate = steadyRate(
    (count) => {
      for (let i = 0; i < count; i++) {
        const skb = n.k.skbs.fromBytes(frame);
        if (skb === null) throw new Error('e1000/txrx: out of memory');
        dev.queueXmit(skb);
      }
      sent += count;
      clock.run(clock.now + count * WIRE_NS + 200_000);
    },
    { batch: BURST },
  );
  if (received !== sent) throw new Error(`e1000/txrx: ${sent} frames sent, ${received} came back`);
  // Sub-page exposure is where kmalloc put the skb heads, not a mistake.
  const found = [dbg, coh, iox].flatMap((c) => c.findings.all);
  if (found.some((f) => f.kind !== 'iommu-subpage-exposure'))
    throw new Error('e1000/txrx-checked: the checkers found something in a correct run');
  return rate;
}

export function benchE1000TxRx(): BenchResult {
  return {
    name: 'e1000/txrx',
    value: framesPerSecond(false),
    unit: 'frames/s each way',
    target: 82_000,
    note: '1514-byte frames out and back through a reflector, strict IOMMU, x86_64',
  };
}

export function benchE1000TxRxChecked(): BenchResult {
  return {
    name: 'e1000/txrx-checked',
    value: framesPerSecond(true),
    unit: 'frames/s each way',
  };
}
