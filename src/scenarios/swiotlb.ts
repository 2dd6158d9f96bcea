/**
 * SWIOTLB bounce buffering: a device with a 32-bit DMA mask on a machine with RAM above 4 GiB.
 * Its buffers land above 4 GiB, so dma-direct copies each one into a slot of the low pool and
 * hands the device the slot's address. With a pool too small for the buffers held at once, the
 * maps fail with the kernel's "swiotlb buffer is full" message and the driver must check them.
 */
import { dmaBitMask } from '../kernel/device/dma-mask.js';
import type { Device } from '../kernel/device/device.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import { IO_TLB_SIZE, isSwiotlbBuffer } from '../kernel/dma/swiotlb.js';
import type { Kernel } from '../kernel/kernel.js';
import { GFP_KERNEL } from '../kernel/mm/gfp.js';
import { getOrder } from '../kernel/mm/page-frames.js';
import { hex } from '../lib/addr.js';
import type { DmaAddr, VirtAddr } from '../lib/addr.js';
import { ConfigError } from '../lib/errors.js';
import { GIB, KIB } from '../lib/units.js';
import type { Scenario, ScenarioEnv } from './scenario.js';

/** RAM the run needs so that the page allocator hands out buffers above 4 GiB. */
const MIN_RAM = 6 * GIB;
const BIDI = DmaDataDirection.BIDIRECTIONAL;

/** One streaming buffer: where the CPU has it and what the device was given. */
interface Buffer {
  readonly va: VirtAddr;
  readonly phys: number;
  readonly order: number;
  readonly dma: DmaAddr;
  readonly failed: boolean;
}

/** Byte i of buffer n: distinct per buffer, so a copy from the wrong slot would show. */
function pattern(n: number, len: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (n * 31 + i) & 0xff);
}

/** Allocates, fills and maps buffer `n` (BIDIRECTIONAL: the bounce copies both ways). */
function mapOne(k: Kernel, dev: Device, n: number, size: number): Buffer {
  const order = getOrder(size);
  const va = k.pages.getFreePages(GFP_KERNEL, order);
  if (va === null) throw new ConfigError(`swiotlb: no memory for buffer ${n} (more --ram)`);
  k.vm.write(va, pattern(n, size), 0, size);
  const dma = k.dma.dmaMapSingle(dev, va, size, BIDI);
  const failed = k.dma.dmaMappingError(dev, dma);
  return { va, phys: k.vm.virtToPhys(va), order, dma, failed };
}

/** The device reads the CPU's bytes, checks them and writes their complement back. */
function deviceWork(dev: Device, b: Buffer, n: number, size: number): boolean {
  const port = dev.dmaPort;
  if (port === null) throw new ConfigError('swiotlb: the device has no bus-master port');
  const seen = new Uint8Array(size);
  port.read(b.dma, seen, 0, size);
  const want = pattern(n, size);
  const ok = seen.every((v, i) => v === want[i]);
  port.write(
    b.dma,
    seen.map((v) => v ^ 0xff),
    0,
    size,
  );
  return ok;
}

/** After the unmap: did the device's complement reach the CPU's buffer above 4 GiB? */
function cpuSeesReply(k: Kernel, b: Buffer, n: number, size: number): boolean {
  const got = new Uint8Array(size);
  k.vm.read(b.va, got, 0, size);
  const want = pattern(n, size);
  return got.every((v, i) => v === ((want[i] as number) ^ 0xff));
}

function logSince(k: Kernel, from: number): string[] {
  return k.log.all.slice(from).map((l) => l.text);
}

export const swiotlbScenario: Scenario = {
  name: 'swiotlb',
  summary:
    'a 32-bit device above 4 GiB: streaming maps bounce through SWIOTLB, and a small pool fills',
  archs: ['x86_64', 'arm64'],
  params: [
    {
      name: 'buffers',
      description: 'streaming buffers mapped at once',
      kind: 'int',
      min: 1,
      max: 4096,
      default: 16,
    },
    {
      name: 'size',
      description: 'bytes per buffer (at most 256K, the largest SWIOTLB mapping)',
      kind: 'size',
      min: 1,
      max: 256 * KIB,
      default: 16 * KIB,
    },
  ],
  examples: [
    'dmasim run swiotlb',
    'dmasim run swiotlb --swiotlb-size 512K --buffers 48 --size 16K',
    'dmasim run swiotlb --arch arm64 --json',
  ],
  run(env: ScenarioEnv): void {
    const ramSize = Math.max(env.options.ramSize, MIN_RAM);
    // The pool size is the shared --swiotlb-size (the kernel's 64 MiB without it).
    const k = env.boot('', { options: { ramSize } });
    const mem = k.swiotlb;
    const count = env.int('buffers');
    const size = env.int('size');
    const dev = k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e });
    // The driver of a 32-bit device: the mask is what makes RAM above 4 GiB unreachable.
    const rc = k.dma.dmaSetMaskAndCoherent(dev, dmaBitMask(32));
    env.say(
      `${k.machine.profile.name}, ${ramSize / GIB} GiB of RAM (up to ${hex(k.dma.dmaGetRequiredMask(dev))}); ` +
        `dma_set_mask_and_coherent(DMA_BIT_MASK(32)) = ${rc}; SWIOTLB pool: ` +
        (mem === null
          ? 'none'
          : `${mem.nslabs} slots of ${IO_TLB_SIZE} bytes at ${hex(mem.defpool.start)}`),
    );
    const logFrom = k.log.all.length;
    const bufs = Array.from({ length: count }, (_, n) => mapOne(k, dev, n, size));
    const live = bufs.filter((b) => !b.failed);
    // Both archs here map bus 1:1 to physical, so a DMA address inside the pool is a slot.
    const bounced = live.filter((b) => isSwiotlbBuffer(mem, b.dma));
    const above4g = bufs.filter((b) => b.phys >= 4 * GIB).length;
    const usedWhileMapped = mem?.totalUsed ?? 0;
    const first = live[0];
    if (first !== undefined)
      env.say(
        `buffer 0: virt ${k.vm.format(first.va)}, phys ${hex(first.phys)}; ` +
          `dma_map_single gave the device ${hex(first.dma)}` +
          (isSwiotlbBuffer(mem, first.dma) ? ' (a SWIOTLB slot below 4 GiB)' : ''),
      );
    const failedMaps = bufs.length - live.length;
    let deviceOk = 0;
    let cpuOk = 0;
    k.machine.cpu.wmb(); // the driver's doorbell writel(): stores reach memory first
    bufs.forEach((b, n) => {
      if (b.failed) return;
      if (deviceWork(dev, b, n, size)) deviceOk++;
      k.dma.dmaUnmapSingle(dev, b.dma, size, BIDI);
      if (cpuSeesReply(k, b, n, size)) cpuOk++;
    });
    for (const b of bufs) k.pages.freePages(b.va, b.order);
    const log = logSince(k, logFrom).filter((l) => l.includes('swiotlb'));
    env.say(
      `${count} maps of ${size} bytes held at once: ${bounced.length} bounced, ${failedMaps} failed; ` +
        `${usedWhileMapped} slots in use, high-water ${mem?.usedHiwater ?? 0}`,
    );
    env.say(
      `the device read the right bytes from ${deviceOk} of ${live.length} mapped buffers; ` +
        `after dma_unmap_single the CPU saw the device's reply in ${cpuOk}`,
    );
    for (const l of new Set(log)) {
      const times = log.filter((x) => x === l).length;
      env.say(`kernel: ${l}`);
      if (times > 1) env.say(`  (printed ${times} times; printk rate-limits the rest)`);
    }
    if (failedMaps > 0)
      env.say(
        'each failed map returned DMA_MAPPING_ERROR: a driver that skips dma_mapping_error() would hand the device address -1',
      );
    env.count('buffers', count);
    env.count('buffers above 4 GiB', above4g);
    env.count('bounced maps', bounced.length);
    env.count('failed maps', failedMaps);
    env.count('pool slots', mem?.nslabs ?? 0);
    env.count('slots used', usedWhileMapped);
    env.count('slots high-water', mem?.usedHiwater ?? 0);
    env.count('device read right bytes', deviceOk);
    env.count('cpu saw device reply', cpuOk);
    env.count('swiotlb full messages', log.filter((l) => l.includes('buffer is full')).length);
  },
};
