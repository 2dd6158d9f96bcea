/**
 * A first driver against the library: one receive buffer on a non-coherent arm64 machine, done
 * wrong (no dma_sync_single_for_cpu) and then right. The checkers name the missing call.
 * test/examples.test.ts runs it; in your own project import from 'dmasim' instead of ../src.
 */
import {
  CoherenceChecker,
  DmaDataDirection,
  DmaDebug,
  GFP_KERNEL,
  Kernel,
  Machine,
  chainDmaDebugHooks,
} from '../src/index.js';

export function firstDma(): { stale: string; fresh: string; findings: string[] } {
  // A 256 MiB arm64 machine whose devices do not snoop the CPU cache.
  const dbg = new DmaDebug();
  const coh = new CoherenceChecker();
  const machine = new Machine({ arch: 'arm64', ramSize: 256 << 20 });
  const k = new Kernel(machine, { dmaDebug: chainDmaDebugHooks(dbg, coh) });
  dbg.attach(k);
  coh.attach(k);
  const dev = k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e, coherent: false });
  const port = dev.dmaPort;
  if (port === null) throw new Error('no bus-master port');

  const receive = (syncForCpu: boolean): string => {
    const buf = k.kmalloc.kmalloc(64, GFP_KERNEL);
    if (buf === null) throw new Error('out of memory');
    k.vm.write(buf, new TextEncoder().encode('old bytes.......'), 0, 16); // the CPU touched it
    const dma = k.dma.dmaMapSingle(dev, buf, 64, DmaDataDirection.FROM_DEVICE);
    if (k.dma.dmaMappingError(dev, dma)) throw new Error('dma_map_single failed');
    port.write(dma, new TextEncoder().encode('packet from wire'), 0, 16); // the device's DMA
    if (syncForCpu) k.dma.dmaSyncSingleForCpu(dev, dma, 64, DmaDataDirection.FROM_DEVICE);
    const seen = new Uint8Array(16);
    k.vm.read(buf, seen, 0, 16); // the driver looks at the packet
    k.dma.dmaUnmapSingle(dev, dma, 64, DmaDataDirection.FROM_DEVICE);
    k.kmalloc.kfree(buf);
    return new TextDecoder().decode(seen);
  };

  const stale = receive(false); // the bug: reads before giving the buffer back to the CPU
  const fresh = receive(true);
  const findings = coh.findings.all.map((f) => `${f.kind}: ${f.fix ?? f.message}`);
  return { stale, fresh, findings };
}
