/**
 * The seed's ISA-style device that reaches only the first 16 MiB: dma_set_mask(DMA_BIT_MASK(24)),
 * buffers from ZONE_DMA through __get_dma_pages (the seed's dma_mem_alloc), a coherent
 * allocation the kernel places under the mask by itself, and a GFP_KERNEL buffer the device
 * cannot reach: its streaming map bounces or fails with the kernel's message.
 */
import { dmaBitMask } from '../kernel/device/dma-mask.js';
import type { Device } from '../kernel/device/device.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { DmaHandle } from '../kernel/dma/mapping.js';
import type { Kernel } from '../kernel/kernel.js';
import { GFP_KERNEL } from '../kernel/mm/gfp.js';
import { getOrder } from '../kernel/mm/page-frames.js';
import { hex } from '../lib/addr.js';
import type { DmaAddr, VirtAddr } from '../lib/addr.js';
import { KIB } from '../lib/units.js';
import { ARCH_NAMES } from '../machine/profile.js';
import type { Scenario, ScenarioEnv } from './scenario.js';

const TO_DEVICE = DmaDataDirection.TO_DEVICE;

/** The seed's helper, as it writes it: a virtual address from ZONE_DMA, or null (its 0). */
function dmaMemAlloc(k: Kernel, size: number): VirtAddr | null {
  const order = getOrder(size);
  return k.pages.getDmaPages(GFP_KERNEL, order);
}

/** "virt, phys, zone" of a linear-map address, for the narrative. */
function where(k: Kernel, va: VirtAddr): string {
  const phys = k.vm.virtToPhys(va);
  const zone = k.pages.pageZone(k.pages.physToPage(phys))?.name ?? '?';
  return `virt ${k.vm.format(va)}, phys ${hex(phys)} (ZONE_${zone.toUpperCase()})`;
}

function zoneOf(k: Kernel, va: VirtAddr): string {
  return k.pages.pageZone(k.pages.physToPage(k.vm.virtToPhys(va)))?.name ?? '?';
}

/** Maps `va` for the device; the map's result and the kernel's lines it printed. */
function tryMap(k: Kernel, dev: Device, va: VirtAddr, size: number) {
  const from = k.log.all.length;
  const dma: DmaAddr = k.dma.dmaMapSingle(dev, va, size, TO_DEVICE);
  const failed = k.dma.dmaMappingError(dev, dma);
  const log = k.log.all.slice(from).map((l) => l.text);
  if (!failed) k.dma.dmaUnmapSingle(dev, dma, size, TO_DEVICE);
  return { dma, failed, log };
}

/** Step 1: the mask; false when the platform cannot honour it (nothing more to do). */
function setMask(env: ScenarioEnv, k: Kernel, dev: Device, bits: number): boolean {
  const rc = k.dma.dmaSetMaskAndCoherent(dev, dmaBitMask(bits));
  const limit = k.machine.profile.zoneDmaLimit;
  env.say(
    `dma_set_mask_and_coherent(DMA_BIT_MASK(${bits})) = ${rc}; ZONE_DMA on ${k.machine.profile.name}: ` +
      (limit === null ? 'none' : `below ${hex(limit)}`),
  );
  env.count('dma_set_mask rc', rc);
  if (rc === 0) return true;
  const why: Record<string, string> = {
    arm64:
      'arm64 sizes ZONE_DMA from the dma-ranges (here all RAM below 4 GiB), and RAM starts at 1 GiB',
    arm32: 'this board has no ZONE_DMA and its RAM starts at 0x60000000',
  };
  env.say(
    `refused (-EIO): no RAM lies below ${hex(dmaBitMask(bits))} as the device sees it ` +
      `(${why[k.machine.profile.name] ?? 'the lowest zone is out of reach'}); the driver must fail its probe`,
  );
  return false;
}

/** Step 2: dma_mem_alloc and its streaming map. */
function zoneDmaBuffer(env: ScenarioEnv, k: Kernel, dev: Device, size: number): void {
  const va = dmaMemAlloc(k, size);
  if (va === null) {
    env.say(`dma_mem_alloc(${size}) = NULL: ZONE_DMA has no ${size} bytes free`);
    env.count('dma_mem_alloc phys', 'none');
    return;
  }
  const m = tryMap(k, dev, va, size);
  env.say(
    `dma_mem_alloc(${size}) = __get_dma_pages(GFP_KERNEL, ${getOrder(size)}): ${where(k, va)}`,
  );
  env.say(`  dma_map_single: ${m.failed ? 'FAILED' : `bus ${hex(m.dma)}`}`);
  for (const l of m.log) env.say(`  kernel: ${l}`);
  env.count('dma_mem_alloc phys', hex(k.vm.virtToPhys(va)));
  env.count('dma_mem_alloc zone', zoneOf(k, va));
  env.count('dma_mem_alloc map failed', m.failed ? 1 : 0);
  k.pages.freePages(va, getOrder(size));
}

/** Step 3: dma_alloc_coherent with plain GFP_KERNEL; the coherent mask picks the zone. */
function coherentBuffer(env: ScenarioEnv, k: Kernel, dev: Device, size: number): void {
  const h: DmaHandle = { dma: 0 as DmaAddr };
  const va = k.dma.dmaAllocCoherent(dev, size, h, GFP_KERNEL);
  if (va === null) {
    env.say(`dma_alloc_coherent(${size}, GFP_KERNEL) = NULL`);
    env.count('coherent dma', 'none');
    return;
  }
  env.say(`dma_alloc_coherent(${size}, GFP_KERNEL): dma ${hex(h.dma)}, ${where(k, va)}`);
  env.count('coherent dma', hex(h.dma));
  env.count('coherent zone', zoneOf(k, va));
  k.dma.dmaFreeCoherent(dev, size, va, h.dma);
}

/** Step 4: the mistake: GFP_KERNEL memory handed to the 24-bit device. */
function highBuffer(env: ScenarioEnv, k: Kernel, dev: Device, size: number): void {
  const order = getOrder(size);
  const va = k.pages.getFreePages(GFP_KERNEL, order);
  if (va === null) return;
  const m = tryMap(k, dev, va, size);
  env.say(`without GFP_DMA: __get_free_pages(GFP_KERNEL, ${order}): ${where(k, va)}`);
  env.say(
    `  dma_map_single: ${m.failed ? 'DMA_MAPPING_ERROR' : `bus ${hex(m.dma)} (a bounce slot)`}`,
  );
  for (const l of m.log) env.say(`  kernel: ${l}`);
  if (m.failed && m.log.length === 0)
    env.say('  (no new kernel line: the overflow warning is once only)');
  env.count('GFP_KERNEL phys', hex(k.vm.virtToPhys(va)));
  env.count('GFP_KERNEL zone', zoneOf(k, va));
  env.count('failed maps', m.failed ? 1 : 0);
  k.pages.freePages(va, order);
}

export const masksScenario: Scenario = {
  name: 'masks',
  summary:
    'an ISA-style 24-bit device: dma_set_mask, GFP_DMA / ZONE_DMA, and what fails without it',
  archs: ARCH_NAMES,
  params: [
    {
      name: 'bits',
      description: 'the device mask, DMA_BIT_MASK(bits)',
      kind: 'int',
      min: 16,
      max: 64,
      default: 24,
    },
    {
      name: 'size',
      description: 'bytes per buffer',
      kind: 'size',
      min: 1,
      max: 1024 * KIB,
      default: 8 * KIB,
    },
  ],
  examples: [
    'dmasim run masks',
    'dmasim run masks --arch arm64',
    'dmasim run masks --swiotlb force',
  ],
  run(env: ScenarioEnv): void {
    const k = env.boot();
    // An ISA card's DMA goes through a bus master of its own here, so the mask alone decides.
    const dev = k.devices.isaDeviceAdd({ name: 'isa_dma', busMaster: true });
    const size = env.int('size');
    if (!setMask(env, k, dev, env.int('bits'))) return;
    zoneDmaBuffer(env, k, dev, size);
    coherentBuffer(env, k, dev, size);
    highBuffer(env, k, dev, size);
    if (k.machine.profile.busOffset !== 0)
      env.say(
        `on ${k.machine.profile.name} the bridge adds ${hex(k.machine.profile.busOffset)} to every physical address, ` +
          'so in this model no bus address fits 24 bits and even ZONE_DMA memory cannot be mapped',
      );
  },
};
