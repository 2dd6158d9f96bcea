/**
 * The machine's event stream: every CPU access, cache maintenance, write-back, DMA access, IOTLB
 * lookup and MMIO access, for observers (checkers, visualizer, trace writer). Emitters test
 * `events.on` before building an event, so with no observer the data path pays one branch.
 */
import type { DmaAddr, Iova, PhysAddr } from '../lib/addr.js';
import type { MemAttr } from './memory/attr.js';
import { Observers } from '../lib/observers.js';

/** What kind of CPU access; `fill` and `evict` are the cache's own traffic to RAM. */
export type CpuOp = 'load' | 'store';
export type MaintOp = 'clean' | 'inval' | 'clean-inval';
export type BarrierKind = 'mb' | 'rmb' | 'wmb' | 'dma_wmb' | 'dma_rmb';

export type MachineEvent =
  | {
      kind: 'cpu';
      t: number;
      cpu: number;
      op: CpuOp;
      phys: PhysAddr;
      len: number;
      attr: MemAttr;
    }
  | { kind: 'cache-maint'; t: number; cpu: number; op: MaintOp; phys: PhysAddr; len: number }
  /** A dirty line reached RAM: by eviction, by a clean, or because a coherent device snooped it. */
  | {
      kind: 'writeback';
      t: number;
      phys: PhysAddr;
      len: number;
      cause: 'evict' | 'clean' | 'snoop';
    }
  /** Posted CPU stores (write-combining or a weakly ordered store buffer) reached memory. */
  | { kind: 'drain'; t: number; cpu: number; buffer: 'wc' | 'store'; phys: PhysAddr; len: number }
  | { kind: 'barrier'; t: number; cpu: number; barrier: BarrierKind }
  | {
      kind: 'dma';
      t: number;
      device: string;
      op: 'read' | 'write';
      bus: DmaAddr;
      /** Physical address of this piece; -1 when it never reached memory. */
      phys: PhysAddr;
      len: number;
      /** Whether the device snooped the CPU cache for this piece. */
      coherent: boolean;
      status: DmaStatus;
    }
  | { kind: 'iotlb'; t: number; op: 'hit' | 'miss'; domain: number; iova: Iova; phys: PhysAddr }
  | {
      kind: 'iotlb-inval';
      t: number;
      scope: 'page' | 'range' | 'domain' | 'all';
      domain: number;
      iova: Iova;
      len: number;
    }
  | { kind: 'iommu-fault'; t: number; fault: IommuFault }
  | {
      kind: 'mmio';
      t: number;
      cpu: number;
      op: CpuOp;
      phys: PhysAddr;
      width: number;
      value: number;
      region: string;
    };

/** Outcome of one device memory access (QEMU's MemTxResult, with the IOMMU's reason). */
export const enum DmaStatus {
  OK = 0,
  /** Nothing answers at that physical address (master abort / unsupported request). */
  DECODE_ERROR = 1,
  /** The IOMMU blocked the access; details are in the fault record. */
  IOMMU_FAULT = 2,
}

/** One recorded IOMMU fault, in the terms of the VT-d fault recording registers. */
export interface IommuFault {
  /** Simulated time in ns. */
  readonly t: number;
  /** PCI requester id (bus << 8 | devfn) of the faulting device. */
  readonly requesterId: number;
  readonly device: string;
  readonly iova: Iova;
  readonly write: boolean;
  /** VT-d fault reason code (e.g. 0x06 "PTE Read access is not set"). */
  readonly reason: number;
  /** The kernel's one-line report of the fault (drivers/iommu/intel/dmar.c wording). */
  readonly message: string;
}

export type EventListener = (e: MachineEvent) => void;

/** The machine's observers: `events.on` is tested before an event is built. */
export class EventBus extends Observers<MachineEvent> {}
