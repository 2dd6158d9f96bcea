/**
 * One buffer, three addresses: the kernel virtual address the CPU uses, the physical address the
 * memory controller sees, and the bus address the device must be given. On a PC they differ only
 * by the linear-map offset; on PReP the bridge adds 0x80000000 (physical 0 is bus 0x80000000 and
 * virtual 0xC0000000). Behind an IOMMU the bus address is an IOVA the DMA API makes up, and a
 * device told virt_to_bus's answer faults.
 */
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { Device } from '../kernel/device/device.js';
import { GFP_KERNEL } from '../kernel/mm/gfp.js';
import { hex } from '../lib/addr.js';
import type { DmaAddr, VirtAddr } from '../lib/addr.js';
import { ConfigError } from '../lib/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { DmaStatus } from '../machine/events.js';
import { ARCH_NAMES } from '../machine/profile.js';
import type { Scenario, ScenarioEnv } from './scenario.js';

const TO_DEVICE = DmaDataDirection.TO_DEVICE;
const MESSAGE = new TextEncoder().encode('three names, one byte');

function pciDev(k: Kernel): Device {
  return k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e });
}

/** What the device reads at `bus`: whether the read went through and matched `want`. */
function deviceReads(dev: Device, bus: number, want: Uint8Array): { ok: boolean; st: DmaStatus } {
  const got = new Uint8Array(want.length);
  const st = dev.dmaPort?.read(bus, got, 0, want.length) ?? DmaStatus.DECODE_ERROR;
  return { ok: st === DmaStatus.OK && got.every((v, i) => v === want[i]), st };
}

/** A page holding MESSAGE: its virtual and physical address. */
function messagePage(k: Kernel): { va: VirtAddr; phys: number } {
  const va = k.pages.getFreePage(GFP_KERNEL);
  if (va === null) throw new ConfigError('addresses: no free page (more --ram)');
  k.vm.write(va, MESSAGE, 0, MESSAGE.length);
  // What the driver's doorbell writel() does: weakly ordered CPUs (PReP, Arm) hold stores back.
  k.machine.cpu.wmb();
  return { va, phys: k.vm.virtToPhys(va) };
}

/** dma_map_single with the dma_mapping_error check every driver owes. */
function mapChecked(k: Kernel, dev: Device, va: VirtAddr): DmaAddr {
  const dma = k.dma.dmaMapSingle(dev, va, MESSAGE.length, TO_DEVICE);
  if (k.dma.dmaMappingError(dev, dma)) throw new ConfigError('addresses: dma_map_single failed');
  return dma;
}

/** The first page of RAM under its three names, read by the CPU and by the device. */
function firstPage(env: ScenarioEnv, k: Kernel, dev: Device): void {
  const phys = k.machine.physmap.ramBanks[0]?.base ?? 0;
  const va = k.linear.physToVirt(phys);
  const bus = k.vm.virtToBus(va);
  const cpu = new Uint8Array(16);
  k.vm.read(va, cpu, 0, cpu.length);
  const seen = deviceReads(dev, bus, cpu);
  env.say(
    `first page of RAM: phys ${hex(phys)} = virt ${k.vm.format(va)} (linear map) = bus ${hex(bus)} (virt_to_bus)`,
  );
  env.say(`  the device reading bus ${hex(bus)} sees the CPU's bytes at that virt: ${seen.ok}`);
  env.say('  (no DMA API call mapped that page, so the checkers report the access as unowned)');
  env.count('first page phys', hex(phys));
  env.count('first page virt', `0x${k.vm.format(va)}`);
  env.count('first page bus', hex(bus));
  env.count('first page device agrees', seen.ok ? 1 : 0);
}

/** A buffer mapped with the DMA API on the direct path: dma_map_single and virt_to_bus agree. */
function directBuffer(env: ScenarioEnv, k: Kernel, dev: Device): void {
  const { va, phys } = messagePage(k);
  const dma = mapChecked(k, dev, va);
  const bus = k.vm.virtToBus(va);
  const seen = deviceReads(dev, dma, MESSAGE);
  env.say(
    `buffer: virt ${k.vm.format(va)}, phys ${hex(phys)}, virt_to_bus ${hex(bus)}, dma_map_single ${hex(dma)}`,
  );
  env.say(`  the device reads the buffer at the DMA address: ${seen.ok}`);
  env.count('buffer virt', `0x${k.vm.format(va)}`);
  env.count('buffer phys', hex(phys));
  env.count('buffer virt_to_bus', hex(bus));
  env.count('buffer dma', hex(dma));
  env.count('dma equals virt_to_bus', dma === bus ? 1 : 0);
  k.dma.dmaUnmapSingle(dev, dma, MESSAGE.length, TO_DEVICE);
  k.pages.freePages(va, 0);
}

/** A kernel with the IOMMU on, whatever --iommu said (strict unless a mode was chosen). */
function bootIommu(env: ScenarioEnv): Kernel {
  const iommu = env.options.iommu === 'off' ? 'strict' : env.options.iommu;
  return env.boot('iommu', { options: { iommu } });
}

/** The legacy helper under an IOMMU: the device is told a physical address it cannot reach. */
function iommuHalf(env: ScenarioEnv): void {
  const k = bootIommu(env);
  const dev = pciDev(k);
  const { va, phys } = messagePage(k);
  const dma = mapChecked(k, dev, va);
  const bus = k.vm.virtToBus(va);
  const viaDma = deviceReads(dev, dma, MESSAGE);
  const from = k.log.all.length;
  const viaLegacy = deviceReads(dev, bus, MESSAGE);
  const faults = k.machine.iommu?.faults.length ?? 0;
  env.say(
    `with the IOMMU on (${k.iommu.domainOf(dev)?.type ?? 'no'} domain): phys ${hex(phys)}, ` +
      `dma_map_single ${hex(dma)} (an IOVA), virt_to_bus ${hex(bus)}`,
  );
  env.say(`  the device at the IOVA reads the buffer: ${viaDma.ok}`);
  env.say(`  the device at virt_to_bus's address reads it: ${viaLegacy.ok}`);
  for (const l of k.log.all.slice(from)) env.say(`  kernel: ${l.text}`);
  if (faults > 0)
    env.say(
      '  the IOMMU maps only what the DMA API mapped, at the IOVA it chose: virt_to_bus is wrong here',
    );
  env.count('iommu dma', hex(dma));
  env.count('iommu virt_to_bus', hex(bus));
  env.count('iommu device reads at dma', viaDma.ok ? 1 : 0);
  env.count('iommu device reads at virt_to_bus', viaLegacy.ok ? 1 : 0);
  env.count('iommu faults', faults);
  k.dma.dmaUnmapSingle(dev, dma, MESSAGE.length, TO_DEVICE);
}

export const addressesScenario: Scenario = {
  name: 'addresses',
  summary:
    'virtual, physical and bus addresses of one buffer; PReP offsets; virt_to_bus under an IOMMU',
  archs: ['prep', ...ARCH_NAMES.filter((a) => a !== 'prep')],
  params: [],
  examples: ['dmasim run addresses', 'dmasim run addresses --arch x86_64 --iommu lazy'],
  run(env: ScenarioEnv): void {
    const k = env.boot();
    const dev = pciDev(k);
    firstPage(env, k, dev);
    directBuffer(env, k, dev);
    // The model's IOMMU is VT-d; only the PC has one in reality, so the half runs there.
    if (k.machine.profile.name === 'x86_64') iommuHalf(env);
  },
};
