/**
 * A DMA domain: one I/O address space, Linux's `struct dmar_domain` and VT-d's domain id (DID),
 * with its second-level page tables when it translates.
 */
import { ConfigError } from '../../lib/errors.js';
import type { MemPort } from '../memory/port.js';
import type { IoPageTable, MapProt, Translation } from './pagetable.js';

export type DomainType = 'translated' | 'identity' | 'blocked';

export type DomainSpec =
  | {
      readonly type: 'translated';
      /** Returns a zeroed, 4 KiB-aligned physical page for a table. */
      readonly allocTable: () => number;
      /** The CPU's path to RAM, through which the kernel writes the tables. */
      readonly tableMem: MemPort;
    }
  | { readonly type: 'identity' | 'blocked' };

/** Made by `Iommu.createDomain`; the kernel maps and unmaps through it. */
export class IommuDomain {
  constructor(
    /** Domain id, the IOTLB tag (VT-d DID). */
    readonly id: number,
    readonly type: DomainType,
    /** The page tables; undefined for identity and blocked domains. */
    readonly pageTable: IoPageTable | undefined,
  ) {}

  /** Maps `size` bytes at `iova` to `phys`; see IoPageTable.map. */
  map(iova: number, phys: number, size: number, prot: MapProt): void {
    this.table('map').map(iova, phys, size, prot);
  }

  /** Unmaps; returns bytes unmapped (see IoPageTable.unmap). No IOTLB invalidation is implied. */
  unmap(iova: number, size: number): number {
    return this.table('unmap').unmap(iova, size);
  }

  /** Software walk of the tables; undefined when not mapped. */
  lookup(iova: number): Translation | undefined {
    return this.table('lookup').lookup(iova);
  }

  /** Physical address of `iova` by a software walk, or -1 when not mapped (no allocation). */
  physOf(iova: number): number {
    return this.table('lookup').physOf(iova);
  }

  private table(op: string): IoPageTable {
    if (this.pageTable === undefined) {
      throw new ConfigError(
        `iommu ${op}: domain ${this.id} is ${this.type} and has no page tables; use a translated domain`,
      );
    }
    return this.pageTable;
  }
}
