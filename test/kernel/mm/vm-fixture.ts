/** A kernel virtual-memory stack on a fresh machine, with a bump page source (no buddy needed). */
import type { PhysAddr, VirtAddr } from '../../../src/lib/addr.js';
import { CpuMemOps } from '../../../src/kernel/arch/mem.js';
import { vaLayout } from '../../../src/kernel/arch/layout.js';
import { KernelVm } from '../../../src/kernel/mm/kmem.js';
import { LinearMap } from '../../../src/kernel/mm/linear-map.js';
import { vaFromBigint } from '../../../src/kernel/mm/va.js';
import { VmallocSpace } from '../../../src/kernel/mm/vmalloc.js';
import { Vmap } from '../../../src/kernel/mm/vmap.js';
import { KernelLog } from '../../../src/kernel/printk.js';
import { Machine } from '../../../src/machine/machine.js';
import type { MachineConfig } from '../../../src/machine/machine.js';

export interface VmFixture {
  m: Machine;
  vm: KernelVm;
  vmap: Vmap;
  log: KernelLog;
  freed: PhysAddr[];
  va: (full: bigint) => VirtAddr;
}

export function vmFixture(cfg: MachineConfig = {}, kernelRamEnd?: number): VmFixture {
  const m = new Machine(cfg);
  const p = m.profile;
  const bank = m.physmap.ramBanks[0]!;
  const ramEnd = kernelRamEnd ?? bank.base + bank.size;
  const linear = new LinearMap(p, bank.base, ramEnd);
  const lowmemEndVa = p.pageOffset + BigInt(linear.lowmemEnd - bank.base);
  const layout = vaLayout(p.name, lowmemEndVa);
  const va = (full: bigint): VirtAddr => vaFromBigint(p, full, 'test');
  const space = new VmallocSpace(va(layout.vmallocStart), va(layout.vmallocEnd - 1n), p.pageSize);
  const mem = new CpuMemOps(m);
  const vm = new KernelVm(
    p,
    linear,
    space,
    layout,
    (bank.base + layout.imagePhysOffset) as PhysAddr,
    mem,
  );
  const log = new KernelLog(m.clock);
  let next = bank.base + 0x0200_0000; // pages handed out from 32 MiB into RAM
  const freed: PhysAddr[] = [];
  const vmap = new Vmap({
    space,
    vm,
    log,
    pageSize: p.pageSize,
    pages: {
      allocPage: () => ((next += p.pageSize) - p.pageSize) as PhysAddr,
      freePage: (ph) => freed.push(ph),
    },
    isKernelRam: (ph, size) => ph < ramEnd && ph + size > bank.base,
  });
  return { m, vm, vmap, log, freed, va };
}
