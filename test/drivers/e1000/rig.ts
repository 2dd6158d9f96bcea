/** The e1000 host of src/scenarios/e1000-net.ts with the three checkers attached at boot. */
import { CoherenceChecker } from '../../../src/check/coherence.js';
import { DmaDebug } from '../../../src/check/dma-debug.js';
import type { Finding } from '../../../src/check/findings.js';
import { chainDmaDebugHooks } from '../../../src/check/hooks-chain.js';
import { IommuExposure } from '../../../src/check/iommu-exposure.js';
import type { E1000Options } from '../../../src/drivers/e1000/adapter.js';
import { MIB } from '../../../src/lib/units.js';
import { parseIp } from '../../../src/lib/net/frame-defs.js';
import type { MachineConfig } from '../../../src/machine/machine.js';
import { e1000Net, PEER_IP } from '../../../src/scenarios/e1000-net.js';
import type { E1000Net } from '../../../src/scenarios/e1000-net.js';

export interface Setup {
  readonly name: string;
  readonly machine: MachineConfig;
  readonly cmdline: string;
  /** Non-coherent DMA: stale data is possible. */
  readonly stale?: boolean;
}

export const SETUPS: readonly Setup[] = [
  { name: 'x86_64', machine: {}, cmdline: '' },
  { name: 'arm64 non-coherent', machine: { arch: 'arm64' }, cmdline: '', stale: true },
  { name: 'arm32 non-coherent', machine: { arch: 'arm32' }, cmdline: '', stale: true },
  { name: 'PReP big-endian', machine: { arch: 'prep' }, cmdline: '', stale: true },
  { name: 'IOMMU strict', machine: { iommu: true }, cmdline: 'intel_iommu=on iommu.strict=1' },
  { name: 'IOMMU lazy', machine: { iommu: true }, cmdline: 'intel_iommu=on' },
  { name: 'swiotlb=force', machine: {}, cmdline: 'swiotlb=force' },
];

export interface CheckedNet extends E1000Net {
  readonly dbg: DmaDebug;
  readonly coh: CoherenceChecker;
  readonly iox: IommuExposure;
  /** Findings of the three checkers but sub-page exposure (where kmalloc put a buffer). */
  findings(): Finding[];
  /** Runs the clock `ns` further. */
  wait(ns: number): void;
  /** `count` pings of `size` bytes 10 ms apart; @returns replies that came back intact */
  ping(count: number, size: number | ((seq: number) => number)): number;
  /** ifdown, then the driver unbinds (dma-debug's leak check). */
  unload(): void;
}

export function checkedNet(s: Setup, driver: E1000Options = {}, seed = 1): CheckedNet {
  const dbg = new DmaDebug({ allErrors: true });
  const coh = new CoherenceChecker({ log: false });
  const iox = new IommuExposure({ log: false });
  const n = e1000Net({
    machine: { ramSize: 256 * MIB, seed, ...s.machine },
    kernel: { cmdline: s.cmdline, dmaDebug: chainDmaDebugHooks(dbg, coh, iox) },
    driver,
    onBoot: (k) => {
      dbg.attach(k);
      coh.attach(k);
      iox.attach(k);
    },
  });
  const clock = n.k.machine.clock;
  const wait = (ns: number): void => {
    clock.run(clock.now + ns);
  };
  wait(5e6); // the watchdog brings the link up
  return {
    ...n,
    dbg,
    coh,
    iox,
    wait,
    findings: () =>
      [...dbg.findings.all, ...coh.findings.all, ...iox.findings.all].filter(
        (f) => f.kind !== 'iommu-subpage-exposure',
      ),
    ping: (count, size) => {
      const before = n.host.received.length;
      for (let seq = 1; seq <= count; seq++) {
        n.host.ping(parseIp(PEER_IP), typeof size === 'number' ? size : size(seq), 7, seq);
        wait(10e6);
      }
      return n.host.received
        .slice(before)
        .filter((r) => r.kind === 'echo-reply' && intact(r.payload, r.seq)).length;
    },
    unload: () => {
      n.adapter.netdev.close();
      const drv = n.pdev.driver;
      if (drv !== null) n.k.devices.driverUnregister(drv);
    },
  };
}

/** The payload InetHost.ping sent with sequence `seq`. */
function intact(p: Uint8Array, seq: number): boolean {
  return p.every((b, i) => b === ((i + seq) & 0xff));
}

export function kinds(fs: readonly Finding[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const f of fs) c[f.kind] = (c[f.kind] ?? 0) + 1;
  return c;
}
