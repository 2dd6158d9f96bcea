/**
 * Kernel stacks, one per CPU (the task running there): in the vmalloc area with VMAP_STACK
 * (x86-64, arm64), else THREAD_SIZE bytes of lowmem from the page allocator (arm32, ppc32). The
 * DMA layer refuses buffers on a stack (dma-api-howto.rst "What memory is DMA'able?"), so the
 * model can tell a stack address; drivers get stack buffers from here to make that mistake.
 */
import type { PhysAddr, VirtAddr } from '../../lib/addr.js';
import { ConfigError } from '../../lib/errors.js';
import type { VaLayout } from '../arch/layout.js';
import type { LinearMap } from './linear-map.js';
import type { Vmap } from './vmap.js';

export interface StackDeps {
  readonly layout: VaLayout;
  readonly vmap: Vmap;
  readonly linear: LinearMap;
  /** Physically contiguous, THREAD_SIZE-aligned lowmem for a non-VMAP stack, or null. */
  readonly allocContiguous: (bytes: number) => PhysAddr | null;
}

export class KernelStacks {
  /** Lowest address of each CPU's stack. */
  private readonly bases: VirtAddr[] = [];
  readonly size: number;

  constructor(nCpus: number, d: StackDeps) {
    this.size = d.layout.threadSize;
    for (let cpu = 0; cpu < nCpus; cpu++) this.bases.push(allocStack(d, cpu));
  }

  /** The stack of `cpu`: [base, base + size). */
  base(cpu: number): VirtAddr {
    const b = this.bases[cpu];
    if (b === undefined) throw new ConfigError(`no kernel stack for cpu ${cpu}`);
    return b;
  }

  /** object_is_on_stack for the task on `cpu`. */
  objectIsOnStack(va: VirtAddr, cpu: number): boolean {
    const b = this.base(cpu);
    return va >= b && va < b + this.size;
  }

  /** True if `va` lies on any CPU's kernel stack. */
  isStackAddr(va: VirtAddr): boolean {
    return this.bases.some((b) => va >= b && va < b + this.size);
  }
}

function allocStack(d: StackDeps, cpu: number): VirtAddr {
  if (d.layout.vmapStack) {
    const va = d.vmap.vmalloc(d.layout.threadSize, true);
    if (va !== null) return va;
  } else {
    const phys = d.allocContiguous(d.layout.threadSize);
    if (phys !== null) return d.linear.physToVirt(phys);
  }
  throw new ConfigError(`cannot allocate the kernel stack of cpu ${cpu}: RAM is too small`);
}
