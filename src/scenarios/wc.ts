/**
 * `dmasim run wc`: dma_alloc_wc versus dma_alloc_coherent (the seed's dma_alloc_writecombine
 * contrast). The CPU writes a descriptor into a buffer of each kind and the device reads it at
 * once, as it would right after a relaxed doorbell. Write-combining stores wait in the CPU's WC
 * buffer until a barrier drains them, so without wmb() the device reads the old bytes.
 */
import type { Device } from '../kernel/device/device.js';
import type { DmaHandle } from '../kernel/dma/mapping.js';
import type { Kernel } from '../kernel/kernel.js';
import { GFP_KERNEL } from '../kernel/mm/gfp.js';
import type { DmaAddr, VirtAddr } from '../lib/addr.js';
import { ConfigError } from '../lib/errors.js';
import { attrName } from '../machine/memory/attr.js';
import { ARCH_NAMES } from '../machine/profile.js';
import type { Scenario, ScenarioEnv } from './scenario.js';

/** One descriptor: recognisable text, so stale bytes (zeros) show in the narrative. */
const DESC = new TextEncoder().encode('desc#1 buf=0x1000 len=1514 EOP  '.repeat(2));
const SIZE = 4096;

/** What the device saw in one buffer. */
interface Seen {
  readonly kind: 'coherent' | 'wc';
  /** The memory type of the CPU's alias (cacheable, uncached, wc). */
  readonly attr: string;
  readonly bytes: Uint8Array;
  readonly fresh: boolean;
  /** After a late wmb(): what the device reads then. */
  readonly freshAfterWmb: boolean;
}

function devRead(dev: Device, dma: DmaAddr): Uint8Array {
  const b = new Uint8Array(DESC.length);
  dev.dmaPort?.read(dma, b, 0, b.length);
  return b;
}

/** Allocates, writes the descriptor, maybe drains, lets the device read, then frees. */
function publish(k: Kernel, dev: Device, kind: Seen['kind'], barrier: boolean): Seen {
  const h: DmaHandle = { dma: 0 as DmaAddr };
  const va =
    kind === 'wc'
      ? k.dma.dmaAllocWc(dev, SIZE, h, GFP_KERNEL)
      : k.dma.dmaAllocCoherent(dev, SIZE, h, GFP_KERNEL);
  if (va === null) throw new ConfigError(`wc: dma_alloc_${kind} failed (more --ram)`);
  k.machine.cpu.wmb(); // the allocator's zeroing is done: only the descriptor is in flight
  k.vm.resolve(va);
  const attr = attrName(k.vm.lastAttr);
  k.vm.write(va, DESC, 0, DESC.length);
  if (barrier) k.machine.cpu.wmb();
  const bytes = devRead(dev, h.dma);
  k.machine.cpu.wmb(); // the fix, late: what the device would have read with it
  const freshAfterWmb = equal(devRead(dev, h.dma), DESC);
  free(k, dev, kind, va, h.dma);
  return { kind, attr, bytes, fresh: equal(bytes, DESC), freshAfterWmb };
}

function free(k: Kernel, dev: Device, kind: Seen['kind'], va: VirtAddr, dma: DmaAddr): void {
  if (kind === 'wc') k.dma.dmaFreeWc(dev, SIZE, va, dma);
  else k.dma.dmaFreeCoherent(dev, SIZE, va, dma);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function ascii(b: Uint8Array, n = 24): string {
  return Array.from(b.subarray(0, n), (v) =>
    v >= 0x20 && v < 0x7f ? String.fromCharCode(v) : '.',
  ).join('');
}

/** Why the device saw what it saw, from the alias's memory type. */
function why(s: Seen): string {
  if (s.fresh) return 'fresh';
  return s.attr === 'wc'
    ? 'STALE (the old zeros): the stores are still in the write-combining buffer'
    : 'STALE (the old zeros): the stores are still posted in the store buffer (weak ordering)';
}

function tell(env: ScenarioEnv, s: Seen, barrier: boolean): void {
  const how = barrier ? 'wmb(), then the device reads' : 'no barrier, the device reads at once';
  env.say(`dma_alloc_${s.kind}: the CPU alias is ${s.attr}; CPU writes the descriptor, ${how}`);
  env.say(`   device saw "${ascii(s.bytes)}..." ${why(s)}`);
  if (!s.fresh)
    env.say(`   after a late wmb() the device reads ${s.freshAfterWmb ? 'fresh' : 'STALE'} bytes`);
  env.count(`${s.kind}: cpu mapping`, s.attr);
  env.count(`${s.kind}: device saw`, s.fresh ? 'fresh' : 'stale');
}

function conclude(env: ScenarioEnv, seen: readonly Seen[], barrier: boolean): void {
  const stale = seen.filter((s) => !s.fresh).length;
  env.count('stale reads', stale);
  if (seen.every((s) => s.attr === 'cacheable') && stale === 0)
    env.say(
      'Both aliases are cacheable: for a coherent device dma_pgprot ignores ' +
        'DMA_ATTR_WRITE_COMBINE, and this CPU orders its stores, so nothing waits for a barrier' +
        (barrier
          ? '.'
          : ' and the missing one goes unseen here (it still breaks weakly ordered CPUs).'),
    );
  else if (stale > 0)
    env.say(
      'The device read memory before the stores reached it. Fix: wmb() (or dma_wmb()) after ' +
        'filling the buffer, or ring the doorbell with writel(), which carries the barrier, ' +
        'instead of writel_relaxed().',
    );
  else env.say('With the barrier every store reached memory before the device looked: all fresh.');
}

/** `dmasim run wc`: what a device reads from WC and coherent buffers, with or without wmb(). */
export const wcScenario: Scenario = {
  name: 'wc',
  summary: 'dma_alloc_wc vs dma_alloc_coherent: write-combined stores wait for a barrier',
  archs: ARCH_NAMES,
  params: [
    {
      name: 'mistake',
      description: "the driver's mistake: none (wmb() before the device reads) or no-barrier",
      kind: 'choice',
      choices: ['none', 'no-barrier'],
      default: 'none',
    },
  ],
  examples: [
    'dmasim run wc --arch arm32 --mistake no-barrier',
    'dmasim run wc --arch arm64 --mistake no-barrier --json',
    'dmasim run wc --arch x86_64',
  ],
  run(env: ScenarioEnv): void {
    const barrier = env.str('mistake') === 'none';
    const k = env.boot();
    const dev = env.addDevice(k);
    env.say(
      `${dev.name} is ${dev.dmaCoherent ? 'coherent (snoops the caches)' : 'non-coherent'} ` +
        `on ${k.machine.profile.name}`,
    );
    const seen = (['coherent', 'wc'] as const).map((kind) => publish(k, dev, kind, barrier));
    for (const s of seen) tell(env, s, barrier);
    conclude(env, seen, barrier);
    env.count('device', dev.name);
    env.count('coherent device', dev.dmaCoherent ? 'yes' : 'no');
    env.count('descriptor bytes', DESC.length);
    env.count('simulated ns', k.machine.clock.now);
  },
};
