/**
 * `dmasim run iommu-security`: what an IOMMU does and does not protect. A driver maps a 64-byte
 * kmalloc buffer; the IOMMU maps whole 4 KiB pages, so the device also reaches the kernel objects
 * sharing that page. After the unmap, lazy invalidation (iommu.strict=0) leaves the translation in
 * the IOTLB until the flush queue runs, and a rogue device still writes through it; strict
 * invalidation (iommu.strict=1) makes the same write fault.
 */
import { IommuExposure } from '../check/iommu-exposure.js';
import type { RogueReport } from '../check/iommu-exposure-report.js';
import type { Device } from '../kernel/device/device.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { Kernel } from '../kernel/kernel.js';
import { GFP_KERNEL } from '../kernel/mm/gfp.js';
import { hex } from '../lib/addr.js';
import type { DmaAddr, VirtAddr } from '../lib/addr.js';
import { ConfigError } from '../lib/errors.js';
import { DmaStatus } from '../machine/events.js';
import type { Scenario, ScenarioEnv } from './scenario.js';

const BIDI = DmaDataDirection.BIDIRECTIONAL;
const SECRET = new TextEncoder().encode('session key 7f3a9c');
const EVIL = new TextEncoder().encode('rogue DMA was here');
/** When the driver unmaps, and how long after it the rogue device writes (ns). */
const UNMAP_AT = 5000;
const LATE_BY = 1000;

interface Rig {
  readonly k: Kernel;
  readonly dev: Device;
  /** A private exposure checker: the scenario needs its reports, not only its findings. */
  readonly x: IommuExposure;
}

/**
 * Boots x86_64 with the IOMMU on whatever the shared --iommu says: the scenario is about the
 * IOMMU, so --mode picks lazy or strict. The run's checkers are attached as env.boot does.
 */
function bootWithIommu(env: ScenarioEnv, mode: 'lazy' | 'strict'): Rig {
  // A private exposure checker: its reports are this scenario's output, whatever --checkers says.
  const x = new IommuExposure({ log: false });
  const k = env.boot('', { options: { arch: 'x86_64', iommu: mode }, checkers: [x] });
  env.count('kernel cmdline', k.params.cmdline);
  const dev = env.addDevice(k);
  return { k, dev, x };
}

function kmalloc64(k: Kernel): VirtAddr {
  const va = k.kmalloc.kmalloc(64, GFP_KERNEL);
  if (va === null) throw new ConfigError('iommu-security: kmalloc failed (more --ram)');
  return va;
}

function ascii(b: Uint8Array): string {
  return Array.from(b, (v) => (v >= 0x20 && v < 0x7f ? String.fromCharCode(v) : '.')).join('');
}

/** The mapped buffer and its neighbour: what the IOMMU page exposes (the checker names them). */
function exposeNeighbours(env: ScenarioEnv, r: Rig, buf: VirtAddr, dma: DmaAddr): void {
  const m = r.x.exposure().mappings[0];
  const others = m?.others ?? [];
  env.say(
    `dma_map_single(${r.dev.name}, ${r.k.vm.format(buf)}, 64, DMA_BIDIRECTIONAL) = ${hex(dma)}: ` +
      `the IOMMU maps the whole page ${hex(m?.iovaStart ?? 0)}-${hex((m?.iovaEnd ?? 1) - 1)}`,
  );
  env.say(
    `   exposed: ${m?.exposedBytes ?? 0} bytes besides the buffer, ${others.length} live ` +
      `neighbour object(s): ${others.map((o) => `${o.name} ${o.vaddr ?? hex(o.phys)}`).join(', ')}`,
  );
  env.count('exposed bytes', m?.exposedBytes ?? 0);
  env.count('neighbour objects', others.length);
}

/** The device reads outside its buffer, inside the mapped page: the neighbour's secret. */
function peekNeighbour(env: ScenarioEnv, r: Rig, dma: DmaAddr, delta: number): void {
  const b = new Uint8Array(SECRET.length);
  const st = r.dev.dmaPort?.read(dma + delta, b, 0, b.length);
  env.say(
    `   the device reads ${hex(dma + delta)} (the neighbour, ${Math.abs(delta)} bytes ` +
      `${delta < 0 ? 'below' : 'above'} its buffer): ` +
      `"${ascii(b)}" (${st === DmaStatus.OK ? 'allowed: same IOMMU page' : 'faulted'})`,
  );
  env.count('neighbour read', st === DmaStatus.OK && ascii(b) === ascii(SECRET) ? 'secret' : 'no');
}

function tellScan(env: ScenarioEnv, s: RogueReport, when: string): number {
  const stale = s.reach.filter((x) => x.via === 'stale-iotlb');
  env.say(
    `rogue-device scan ${when}: ${s.reach.length} range(s), ${s.bytes} bytes reachable ` +
      `(${s.domain} domain), ${stale.length} through stale IOTLB entries`,
  );
  for (const x of s.reach)
    env.say(
      `   ${hex(x.dmaAddr)} +${x.len} ${x.rights} via ${x.via}` +
        (x.mapping === null ? ' (no live mapping)' : ''),
    );
  return stale.length;
}

/** A DMA write from the device; counts the faults the IOMMU raises. */
function rogueWrite(r: Rig, dma: DmaAddr, faults: { n: number }): DmaStatus {
  const st = r.dev.dmaPort?.write(dma, EVIL, 0, EVIL.length) ?? DmaStatus.IOMMU_FAULT;
  if (st === DmaStatus.IOMMU_FAULT) faults.n++;
  return st;
}

/** Unmap, kfree, a new owner of the memory, and the rogue write LATE_BY ns after the unmap. */
function afterUnmap(
  env: ScenarioEnv,
  r: Rig,
  buf: VirtAddr,
  dma: DmaAddr,
  faults: { n: number },
): void {
  const { k } = r;
  k.machine.clock.advance(Math.max(0, UNMAP_AT - k.machine.clock.now));
  k.dma.dmaUnmapSingle(r.dev, dma, 64, BIDI);
  k.kmalloc.kfree(buf);
  const reuse = kmalloc64(k); // slab reuse: the freed object goes to the next kmalloc(64)
  k.vm.write(reuse, new Uint8Array(EVIL.length), 0, EVIL.length);
  env.say(
    `t=${UNMAP_AT}ns: dma_unmap_single, kfree; ` +
      `kmalloc(64) gives ${k.vm.format(reuse)} to a new owner`,
  );
  env.count('stale iotlb entries', tellScan(env, r.x.rogueScan(r.dev), 'after the unmap'));
  k.machine.clock.advance(LATE_BY);
  const st = rogueWrite(r, dma, faults);
  const now = new Uint8Array(EVIL.length);
  k.vm.read(reuse, now, 0, now.length);
  const landed = ascii(now) === ascii(EVIL);
  env.say(
    `t=${k.machine.clock.now}ns: the device writes "${ascii(EVIL)}" to ${hex(dma)}: ` +
      (st === DmaStatus.OK
        ? 'it succeeds through the stale IOTLB entry' +
          (landed ? " and corrupts the new owner's object" : '')
        : 'DMAR fault: the unmap invalidated the IOTLB'),
  );
  env.count('late access', st === DmaStatus.OK ? 'succeeded' : 'faulted');
  env.count('new owner corrupted', landed ? 'yes' : 'no');
}

/** Lets the flush queue run, tries again, and reports the window the stale entry was open. */
function afterFlush(env: ScenarioEnv, r: Rig, dma: DmaAddr, faults: { n: number }): void {
  r.k.machine.clock.run();
  const st = rogueWrite(r, dma, faults);
  const w = r.x.staleWindows()[0];
  const windowNs = w?.windowNs ?? 0;
  env.say(
    `t=${r.k.machine.clock.now}ns, once the pending IOTLB flushes ran: the same write ` +
      (st === DmaStatus.OK ? 'still succeeds' : 'faults') +
      (w === undefined ? '' : `; the stale window was ${windowNs} ns (unmap to IOTLB flush)`),
  );
  env.count('stale window ns', windowNs);
}

function conclude(env: ScenarioEnv, mode: 'lazy' | 'strict'): void {
  env.say(
    'The IOMMU isolates pages, not buffers: give the device whole pages (alloc_pages, ' +
      'dma_alloc_coherent, a page pool) to keep other kernel objects out of its reach. ' +
      (mode === 'lazy'
        ? 'Lazy invalidation trades this window for speed; iommu.strict=1 closes it.'
        : 'Strict invalidation closed the window at the unmap, at an IOTLB flush per unmap.'),
  );
}

/** `dmasim run iommu-security`: sub-page exposure and the lazy IOTLB window, x86_64 with VT-d. */
export const iommuSecurityScenario: Scenario = {
  name: 'iommu-security',
  summary: 'IOMMU limits: a 64-byte map exposes its page; lazy unmap leaves a stale IOTLB window',
  archs: ['x86_64'],
  params: [
    {
      name: 'mode',
      description:
        'IOTLB invalidation: lazy (iommu.strict=0, flush queue) or strict (iommu.strict=1)',
      kind: 'choice',
      choices: ['lazy', 'strict'],
      default: 'lazy',
    },
  ],
  examples: ['dmasim run iommu-security', 'dmasim run iommu-security --mode strict --json'],
  run(env: ScenarioEnv): void {
    const mode = env.str('mode') === 'strict' ? 'strict' : 'lazy';
    const r = bootWithIommu(env, mode);
    const neighbour = kmalloc64(r.k);
    const buf = kmalloc64(r.k);
    r.k.vm.write(neighbour, SECRET, 0, SECRET.length);
    const dma = r.k.dma.dmaMapSingle(r.dev, buf, 64, BIDI);
    if (r.k.dma.dmaMappingError(r.dev, dma)) throw new ConfigError('iommu-security: map failed');
    exposeNeighbours(env, r, buf, dma);
    peekNeighbour(env, r, dma, neighbour - buf);
    tellScan(env, r.x.rogueScan(r.dev), 'while mapped');
    const faults = { n: 0 };
    afterUnmap(env, r, buf, dma, faults);
    afterFlush(env, r, dma, faults);
    env.count('faults', faults.n);
    env.count('mode', mode);
    conclude(env, mode);
  },
};
