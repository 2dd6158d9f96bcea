/** Fixtures for the page allocator and kmalloc tests: a machine, its linear map, log and memory. */
import { CpuMemOps } from '../../../src/kernel/arch/mem.js';
import { Kmalloc } from '../../../src/kernel/mm/kmalloc.js';
import { LinearMap } from '../../../src/kernel/mm/linear-map.js';
import { PageAllocator } from '../../../src/kernel/mm/page-alloc.js';
import type { PhysRange } from '../../../src/kernel/mm/zone.js';
import { KernelLog } from '../../../src/kernel/printk.js';
import { Machine } from '../../../src/machine/machine.js';
import type { ArchName, ArchProfile } from '../../../src/machine/profile.js';

export interface RigOptions {
  readonly ramSize?: number;
  /** Free ranges; default all RAM banks. */
  readonly free?: readonly PhysRange[];
  readonly memory?: readonly PhysRange[];
  readonly cpus?: number;
  readonly minFreeKbytes?: number;
  /** A variant of the machine's profile for the kernel side (e.g. another kmalloc minimum). */
  readonly profile?: ArchProfile;
}

export interface Rig {
  readonly m: Machine;
  readonly log: KernelLog;
  readonly lm: LinearMap;
  readonly pa: PageAllocator;
  readonly km: Kmalloc;
}

export function rig(arch: ArchName, o: RigOptions = {}): Rig {
  const m = new Machine({ arch, ramSize: o.ramSize ?? 64 * 2 ** 20, cpus: o.cpus ?? 2 });
  const banks = m.physmap.ramBanks;
  const first = banks[0]!;
  const last = banks[banks.length - 1]!;
  const profile = o.profile ?? m.profile;
  const lm = new LinearMap(profile, first.base, last.base + last.size);
  const log = new KernelLog(m.clock);
  const pa = new PageAllocator({
    profile,
    free: o.free ?? banks.map((b) => ({ base: b.base, size: b.size })),
    ...(o.memory === undefined ? {} : { memory: o.memory }),
    linearMap: lm,
    mem: new CpuMemOps(m),
    log,
    cpu: () => m.currentCpu,
    nCpus: m.cpus.length,
    ...(o.minFreeKbytes === undefined ? {} : { minFreeKbytes: o.minFreeKbytes }),
  });
  const km = new Kmalloc({
    pages: pa,
    mem: new CpuMemOps(m),
    log,
    cpu: () => m.currentCpu,
    nCpus: m.cpus.length,
  });
  return { m, log, lm, pa, km };
}

/** The log lines as text. */
export function lines(log: KernelLog): string[] {
  return log.all.map((l) => l.text);
}
