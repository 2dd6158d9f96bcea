/**
 * DOC: the IOMMU, an Intel VT-d remapping unit in legacy (non-scalable) mode. A device's request
 * carries its PCI requester id; the unit finds the device's domain, looks the IOVA up in the IOTLB
 * and on a miss walks the domain's second-level tables in RAM (pagetable.ts). A request the tables
 * do not allow is blocked and recorded as a fault with a VT-d fault reason (spec ch. 7) and the
 * message drivers/iommu/intel/dmar.c (Linux 6.12) prints for it.
 *
 * MODEL: there are no root or context tables in RAM and no context cache: the requester-id →
 * domain binding is held in this object and takes effect at once. Identity (pass-through) and
 * blocked domains stand for context entries with TT=10b and with the present bit clear.
 */
import { hex, iova as toIova, phys as toPhys } from '../../lib/addr.js';
import { ConfigError } from '../../lib/errors.js';
import type { Rng } from '../../lib/rng.js';
import type { Clock } from '../clock/clock.js';
import type { EventBus, IommuFault } from '../events.js';
import type { MemPort } from '../memory/port.js';
import { Iotlb, REPLACEMENTS, type Replacement } from './iotlb.js';
import {
  IoPageTable,
  PAGE_SIZE,
  PTE_R,
  PTE_W,
  PageWalker,
  WALK_RESERVED,
  levelsFor,
  type MapProt,
  type Translation,
} from './pagetable.js';

/** What the interconnect needs: one translation per page, no allocation. */
export interface IommuTranslator {
  /** Physical address for `iova` from device `requesterId`, or -1 when the IOMMU blocks it. */
  translate(requesterId: number, iova: number, write: boolean): number;
  /** Bytes valid from the last translated IOVA to the end of its page or block. */
  readonly span: number;
}

export interface IommuConfig {
  /** Adjusted guest address width in bits: 39, 48 or 57 (3, 4 or 5 table levels). */
  readonly addressWidth?: 39 | 48 | 57;
  readonly iotlbEntries?: number;
  readonly iotlbWays?: number;
  readonly replacement?: Replacement;
}

export interface IommuDeps {
  /** The unit's own path to RAM, for page walks. */
  readonly walker: MemPort;
  readonly rng: Rng;
  readonly events: EventBus;
  readonly clock: Clock;
}

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

/** VT-d fault reasons (spec ch. 7, fault reason encodings) and the strings dmar.c prints. */
export const FAULT_CONTEXT_NOT_PRESENT = 0x02;
export const FAULT_BEYOND_MGAW = 0x04;
export const FAULT_PTE_WRITE = 0x05;
export const FAULT_PTE_READ = 0x06;
export const FAULT_PTE_RESERVED = 0x0c;
const FAULT_TEXT: ReadonlyMap<number, string> = new Map([
  [FAULT_CONTEXT_NOT_PRESENT, 'Present bit in context entry is clear'],
  [FAULT_BEYOND_MGAW, 'Access beyond MGAW'],
  [FAULT_PTE_WRITE, 'PTE Write access is not set'],
  [FAULT_PTE_READ, 'PTE Read access is not set'],
  [FAULT_PTE_RESERVED, 'non-zero reserved fields in PTE'],
]);

/**
 * Fault records kept before further faults are only counted.
 * MODEL: hardware has cap.NFR recording registers (a handful) and sets PFO when they are full;
 * 256 leaves room for a run's worth of faults between `clearFaults` calls.
 */
export const MAX_FAULT_RECORDS = 256;
const ADDR_LIMIT = 2 ** 52;
const ADDRESS_WIDTHS = [39, 48, 57];

/** A DMA domain: one I/O address space (Linux's `struct dmar_domain`, VT-d's DID). */
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

  private table(op: string): IoPageTable {
    if (this.pageTable === undefined) {
      throw new ConfigError(
        `iommu ${op}: domain ${this.id} is ${this.type} and has no page tables; use a translated domain`,
      );
    }
    return this.pageTable;
  }
}

interface Binding {
  readonly device: string;
  readonly domain: IommuDomain;
}

/** How the selected requester's requests are handled. */
const enum Mode {
  UNBOUND,
  TRANSLATED,
  IDENTITY,
  BLOCKED,
}

const MODE_OF: Readonly<Record<DomainType, Mode>> = {
  translated: Mode.TRANSLATED,
  identity: Mode.IDENTITY,
  blocked: Mode.BLOCKED,
};

/** Formats a requester id (bus << 8 | dev << 3 | fn) as the kernel's `%02x:%02x.%d`. */
export function formatBdf(requesterId: number): string {
  const h2 = (n: number): string => n.toString(16).padStart(2, '0');
  return `${h2(requesterId >> 8)}:${h2((requesterId >> 3) & 0x1f)}.${requesterId & 7}`;
}

export class Iommu implements IommuTranslator {
  /** Of the last translate: bytes valid from the IOVA to the end of its page or block. */
  span = 0;
  readonly addressWidth: number;
  readonly levels: number;
  readonly iotlb: Iotlb;
  /** Fault records in order, at most MAX_FAULT_RECORDS. */
  readonly faults: IommuFault[] = [];
  /** Faults that found the record list full. */
  faultsDropped = 0;
  private readonly limit: number;
  private readonly walker: PageWalker;
  private readonly domains = new Map<number, IommuDomain>();
  private readonly bindings = new Map<number, Binding>();
  private nextDomainId = 1;
  // The requester the last translate was for, and its binding, unpacked for the hot path.
  private lastRid = -1;
  private mode = Mode.UNBOUND;
  private domainId = 0;
  private root = 0;

  constructor(
    config: IommuConfig,
    private readonly deps: IommuDeps,
  ) {
    const aw: number = config.addressWidth ?? 48;
    if (!ADDRESS_WIDTHS.includes(aw)) {
      throw new ConfigError(
        `iommu: addressWidth ${String(aw)} is not supported; use 39, 48 or 57 (3, 4 or 5 levels)`,
      );
    }
    const policy: string = config.replacement ?? 'lru';
    if (!REPLACEMENTS.includes(policy as Replacement)) {
      throw new ConfigError(
        `iommu: replacement '${policy}' is not supported; use ${REPLACEMENTS.join(', ')}`,
      );
    }
    this.addressWidth = aw;
    this.levels = levelsFor(aw);
    this.limit = 2 ** aw;
    this.walker = new PageWalker(deps.walker);
    const entries = config.iotlbEntries ?? 64;
    this.iotlb = new Iotlb(entries, config.iotlbWays ?? 8, policy as Replacement, deps.rng);
  }

  /** Creates a domain; ids count up from 1. A translated domain gets its root table now. */
  createDomain(spec: DomainSpec): IommuDomain {
    const id = this.nextDomainId++;
    const table =
      spec.type === 'translated'
        ? new IoPageTable({ levels: this.levels, mem: spec.tableMem, allocTable: spec.allocTable })
        : undefined;
    const domain = new IommuDomain(id, spec.type, table);
    this.domains.set(id, domain);
    return domain;
  }

  /** Routes requests of `requesterId` (bus << 8 | devfn) to `domain`, replacing any binding. */
  attach(requesterId: number, deviceName: string, domain: IommuDomain): void {
    if (!Number.isInteger(requesterId) || requesterId < 0 || requesterId > 0xffff) {
      throw new ConfigError(
        `iommu attach ${deviceName}: requester id ${String(requesterId)} is not 0..0xffff (bus << 8 | dev << 3 | fn)`,
      );
    }
    if (this.domains.get(domain.id) !== domain) {
      throw new ConfigError(
        `iommu attach ${deviceName}: domain ${domain.id} belongs to another IOMMU`,
      );
    }
    this.bindings.set(requesterId, { device: deviceName, domain });
    this.lastRid = -1;
  }

  /** Removes the binding; later requests fault (reason 0x02). Returns false if none existed. */
  detach(requesterId: number): boolean {
    this.lastRid = -1;
    return this.bindings.delete(requesterId);
  }

  /** The domain `requesterId` is attached to, if any. */
  domainOf(requesterId: number): IommuDomain | undefined {
    return this.bindings.get(requesterId)?.domain;
  }

  /**
   * Translates one request (the hot path; allocates nothing unless it faults or events are on).
   * @returns the physical address, with `span` set; or -1 when blocked, with a fault recorded
   *   and `span` set to the rest of the 4 KiB page, so a caller that carries on can skip it.
   */
  translate(requesterId: number, iova: number, write: boolean): number {
    if (requesterId !== this.lastRid) this.select(requesterId);
    if (this.mode !== Mode.TRANSLATED || iova >= this.limit) {
      return this.untranslated(requesterId, iova, write);
    }
    const iotlb = this.iotlb;
    const phys = iotlb.lookup(this.domainId, iova);
    if (phys < 0) return this.miss(requesterId, iova, write);
    if ((iotlb.perm & (write ? PTE_W : PTE_R)) === 0)
      return this.permFault(requesterId, iova, write);
    this.span = iotlb.span;
    if (this.deps.events.on) this.emitLookup('hit', iova, phys);
    return phys;
  }

  /** Page-selective invalidation of the 4 KiB page of `iova`; returns entries dropped. */
  invalidatePage(domain: IommuDomain, iova: number): number {
    this.emitInval('page', domain.id, iova, PAGE_SIZE);
    return this.iotlb.invalidatePage(domain.id, iova);
  }

  /**
   * Invalidates the entries of `domain` overlapping [iova, iova + len).
   * MODEL: the range is exact; a VT-d descriptor names 2^AM naturally aligned pages, and Linux
   * rounds the range up to one, which may drop more entries.
   */
  invalidateRange(domain: IommuDomain, iova: number, len: number): number {
    this.emitInval('range', domain.id, iova, len);
    return this.iotlb.invalidateRange(domain.id, iova, len);
  }

  /** Domain-selective invalidation; returns entries dropped. */
  invalidateDomain(domain: IommuDomain): number {
    this.emitInval('domain', domain.id, 0, 0);
    return this.iotlb.invalidateDomain(domain.id);
  }

  /** Global invalidation; returns entries dropped. */
  invalidateAll(): number {
    this.emitInval('all', 0, 0, 0);
    return this.iotlb.invalidateAll();
  }

  /** Empties the fault records, as the kernel's fault handler clears the F bits. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  private select(requesterId: number): void {
    const b = this.bindings.get(requesterId);
    this.lastRid = requesterId;
    this.mode = b === undefined ? Mode.UNBOUND : MODE_OF[b.domain.type];
    this.domainId = b?.domain.id ?? 0;
    this.root = b?.domain.pageTable?.root ?? 0;
  }

  private untranslated(requesterId: number, iova: number, write: boolean): number {
    if (this.mode === Mode.IDENTITY) {
      this.span = ADDR_LIMIT - iova;
      return iova;
    }
    const reason = this.mode === Mode.TRANSLATED ? FAULT_BEYOND_MGAW : FAULT_CONTEXT_NOT_PRESENT;
    return this.fault(requesterId, iova, write, reason);
  }

  private miss(requesterId: number, iova: number, write: boolean): number {
    const w = this.walker;
    const rights = w.walk(this.root, this.levels, iova);
    if (rights === WALK_RESERVED || (rights & (write ? PTE_W : PTE_R)) === 0) {
      if (this.deps.events.on) this.emitLookup('miss', iova, -1);
      if (rights === WALK_RESERVED) return this.fault(requesterId, iova, write, FAULT_PTE_RESERVED);
      return this.permFault(requesterId, iova, write);
    }
    // Only translations that succeed are cached (a not-present entry never is: spec ch. 6).
    this.iotlb.fill(this.domainId, iova, w.pageBase, w.pageSize, rights);
    const off = iova % w.pageSize;
    this.span = w.pageSize - off;
    const phys = w.pageBase + off;
    if (this.deps.events.on) this.emitLookup('miss', iova, phys);
    return phys;
  }

  private permFault(requesterId: number, iova: number, write: boolean): number {
    return this.fault(requesterId, iova, write, write ? FAULT_PTE_WRITE : FAULT_PTE_READ);
  }

  private fault(requesterId: number, iova: number, write: boolean, reason: number): number {
    this.span = PAGE_SIZE - (iova % PAGE_SIZE);
    const full = this.faults.length >= MAX_FAULT_RECORDS;
    if (full) this.faultsDropped++;
    if (full && !this.deps.events.on) return -1;
    const bdf = formatBdf(requesterId);
    // The fault recording register holds the page address (FI = bits 63:12), so that is printed.
    const page = iova - (iova % PAGE_SIZE);
    const rec: IommuFault = {
      t: this.deps.clock.now,
      requesterId,
      device: this.bindings.get(requesterId)?.device ?? `0000:${bdf}`,
      iova: toIova(iova),
      write,
      reason,
      message:
        `DMAR: [DMA ${write ? 'Write' : 'Read'} NO_PASID] Request device [${bdf}] ` +
        `fault addr ${hex(page)} [fault reason 0x${reason.toString(16).padStart(2, '0')}] ` +
        (FAULT_TEXT.get(reason) ?? 'Unknown'),
    };
    if (!full) this.faults.push(rec);
    if (this.deps.events.on) this.deps.events.emit({ kind: 'iommu-fault', t: rec.t, fault: rec });
    return -1;
  }

  private emitLookup(op: 'hit' | 'miss', iova: number, phys: number): void {
    this.deps.events.emit({
      kind: 'iotlb',
      t: this.deps.clock.now,
      op,
      domain: this.domainId,
      iova: toIova(iova),
      phys: toPhys(phys),
    });
  }

  private emitInval(
    scope: 'page' | 'range' | 'domain' | 'all',
    domain: number,
    iova: number,
    len: number,
  ): void {
    if (!this.deps.events.on) return;
    this.deps.events.emit({
      kind: 'iotlb-inval',
      t: this.deps.clock.now,
      scope,
      domain,
      iova: toIova(iova),
      len,
    });
  }
}
