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
import { iova as toIova, phys as toPhys } from '../../lib/addr.js';
import { ConfigError, assert } from '../../lib/errors.js';
import type { Rng } from '../../lib/rng.js';
import type { Clock } from '../clock/clock.js';
import type { EventBus, IommuFault } from '../events.js';
import type { MemPort } from '../memory/port.js';
import { IommuDomain, type DomainSpec } from './domain.js';
import {
  FAULT_BEYOND_MGAW,
  FAULT_CONTEXT_NOT_PRESENT,
  FAULT_PTE_READ,
  FAULT_PTE_RESERVED,
  FAULT_PTE_WRITE,
  faultMessage,
  formatBdf,
} from './fault.js';
import {
  IOTLB_DENIED,
  IOTLB_MISS,
  Iotlb,
  MAX_DOMAIN_ID,
  REPLACEMENTS,
  type Replacement,
} from './iotlb.js';
import {
  IoPageTable,
  PAGE_SIZE,
  PTE_R,
  PTE_W,
  PageWalker,
  WALK_RESERVED,
  levelsFor,
} from './pagetable.js';

export { IommuDomain, type DomainSpec, type DomainType } from './domain.js';

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
  /** CPU time one invalidation request costs, submission to completion; see INVALIDATION_NS. */
  readonly invalidationNs?: number;
}

/**
 * Default cost of one IOTLB invalidation request: the difference between an unmap (0.6 µs) and a
 * map (0.1 µs) of 4 KiB with one thread, measured with dma_map_benchmark on an SMMUv3 (Mostafa
 * Saleh, IOMMU debug-pagealloc series, facts §9.3). The posting does not name the invalidation
 * mode; arm64 defaults to strict (drivers/iommu/Kconfig, unverified). MODEL: no VT-d or AMD-Vi
 * figure was found; every scope (page, range, domain, global) costs the same and the time is
 * charged to a counter, not to the simulated clock (CPU work takes no simulated time).
 */
export const INVALIDATION_NS = 500;

export interface IommuDeps {
  /** The unit's own path to RAM, for page walks. */
  readonly walker: MemPort;
  readonly rng: Rng;
  readonly events: EventBus;
  readonly clock: Clock;
}

/**
 * Fault records kept before further faults are only counted.
 * MODEL: hardware has cap.NFR recording registers (a handful) and sets PFO when they are full;
 * 256 leaves room for a run's worth of faults between `clearFaults` calls.
 */
export const MAX_FAULT_RECORDS = 256;
const ADDR_LIMIT = 2 ** 52;
const ADDRESS_WIDTHS = [39, 48, 57];

interface Binding {
  readonly device: string;
  readonly domain: IommuDomain;
}

export class Iommu implements IommuTranslator {
  /** Of the last translate: bytes valid from the IOVA to the end of its page or block. */
  span = 0;
  readonly addressWidth: number;
  readonly levels: number;
  readonly iotlb: Iotlb;
  /** Invalidation requests the driver issued, by scope (VT-d: the descriptors qi_submit sends). */
  readonly invalidationRequests = { page: 0, range: 0, domain: 0, all: 0 };
  /** CPU time the invalidation requests cost, at `invalidationNs` each. */
  invalidationWaitNs = 0;
  readonly invalidationNs: number;
  private readonly limit: number;
  private readonly walker: PageWalker;
  private readonly domains = new Map<number, IommuDomain>();
  private readonly bindings = new Map<number, Binding>();
  private nextDomainId = 1;
  // The requester the last translate was for, and its binding, unpacked for the hot path.
  private lastRid = -1;
  private selected: IommuDomain | undefined;
  /** Id of the selected domain if it is translated, else 0. */
  private domainId = 0;
  private root = 0;
  private readonly events: EventBus;
  private readonly clock: Clock;
  private readonly faultList: IommuFault[] = [];
  /**
   * The fault event interrupt: called for every recorded fault (the kernel's dmar_fault handler
   * reads the record and logs it). Null: faults are only recorded.
   */
  onFault: ((f: IommuFault) => void) | null = null;
  private nDropped = 0;

  constructor(config: IommuConfig, deps: IommuDeps) {
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
    const inv = config.invalidationNs ?? INVALIDATION_NS;
    if (!Number.isSafeInteger(inv) || inv < 0) {
      throw new ConfigError(
        `iommu: invalidationNs ${String(inv)} is not a time; give a whole number of ns >= 0`,
      );
    }
    this.invalidationNs = inv;
    this.addressWidth = aw;
    this.levels = levelsFor(aw);
    // MODEL: IOVAs are plain numbers below 2^52 (DESIGN.md "Addresses"), so a 57-bit width
    // cannot be used above that.
    this.limit = Math.min(2 ** aw, ADDR_LIMIT);
    this.walker = new PageWalker(deps.walker);
    this.events = deps.events;
    this.clock = deps.clock;
    const entries = config.iotlbEntries ?? 64;
    this.iotlb = new Iotlb(entries, config.iotlbWays ?? 8, policy as Replacement, deps.rng);
  }

  /** Fault records in order, at most MAX_FAULT_RECORDS. */
  get faults(): readonly IommuFault[] {
    return this.faultList;
  }

  /** Faults that found the record list full (not cleared by clearFaults). */
  get faultsDropped(): number {
    return this.nDropped;
  }

  /** Creates a domain; ids count up from 1. A translated domain gets its root table now. */
  createDomain(spec: DomainSpec): IommuDomain {
    if (this.nextDomainId > MAX_DOMAIN_ID) {
      throw new ConfigError(
        `iommu: more than ${MAX_DOMAIN_ID} domains; VT-d domain ids are 16 bits`,
      );
    }
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
    if (requesterId === this.lastRid && this.domainId !== 0 && !this.events.on) {
      const phys = this.iotlb.lookup(this.domainId, iova, write ? PTE_W : PTE_R);
      if (phys >= 0) {
        this.span = this.iotlb.span;
        return phys;
      }
      return this.afterLookup(requesterId, iova, write, phys);
    }
    return this.translateSlow(requesterId, iova, write);
  }

  /** translate for a new requester, an untranslated domain, or with observers listening. */
  private translateSlow(requesterId: number, iova: number, write: boolean): number {
    if (requesterId !== this.lastRid) this.select(requesterId);
    if (this.domainId === 0) return this.untranslated(requesterId, iova, write);
    // No MGAW check before the lookup: only walks that passed it fill the IOTLB.
    return this.afterLookup(
      requesterId,
      iova,
      write,
      this.iotlb.lookup(this.domainId, iova, write ? PTE_W : PTE_R),
    );
  }

  /** Page-selective invalidation of the 4 KiB page of `iova`; returns entries dropped. */
  invalidatePage(domain: IommuDomain, iova: number): number {
    this.emitInval('page', domain.id, iova, PAGE_SIZE);
    this.walker.invalidateCache();
    return this.iotlb.invalidatePage(domain.id, iova);
  }

  /**
   * Invalidates the entries of `domain` overlapping [iova, iova + len).
   * MODEL: the range is exact; a VT-d descriptor names 2^AM naturally aligned pages, and Linux
   * rounds the range up to one, which may drop more entries.
   */
  invalidateRange(domain: IommuDomain, iova: number, len: number): number {
    this.emitInval('range', domain.id, iova, len);
    this.walker.invalidateCache();
    return this.iotlb.invalidateRange(domain.id, iova, len);
  }

  /** Domain-selective invalidation; returns entries dropped. */
  invalidateDomain(domain: IommuDomain): number {
    this.emitInval('domain', domain.id, 0, 0);
    this.walker.invalidateCache();
    return this.iotlb.invalidateDomain(domain.id);
  }

  /** Global invalidation; returns entries dropped. */
  invalidateAll(): number {
    this.emitInval('all', 0, 0, 0);
    this.walker.invalidateCache();
    return this.iotlb.invalidateAll();
  }

  /** Empties the fault records, as the kernel's fault handler clears the F bits. */
  clearFaults(): void {
    this.faultList.length = 0;
  }

  private select(requesterId: number): void {
    const domain = this.bindings.get(requesterId)?.domain;
    this.lastRid = requesterId;
    this.selected = domain;
    this.domainId = domain?.pageTable === undefined ? 0 : domain.id;
    this.root = domain?.pageTable?.root ?? 0;
  }

  /** The rest of translate for a miss, a denied hit, or a hit to report. */
  private afterLookup(requesterId: number, iova: number, write: boolean, phys: number): number {
    if (phys === IOTLB_MISS) return this.miss(requesterId, iova, write);
    if (phys === IOTLB_DENIED) return this.permFault(requesterId, iova, write);
    this.span = this.iotlb.span;
    this.emitLookup('hit', iova, phys);
    return phys;
  }

  private untranslated(requesterId: number, iova: number, write: boolean): number {
    if (this.selected?.type === 'identity') {
      this.span = ADDR_LIMIT - iova;
      return iova;
    }
    return this.fault(requesterId, iova, write, FAULT_CONTEXT_NOT_PRESENT);
  }

  private miss(requesterId: number, iova: number, write: boolean): number {
    assert(
      Number.isSafeInteger(iova) && iova >= 0,
      () => `iommu: translate of IOVA ${String(iova)}`,
    );
    if (iova >= this.limit) return this.fault(requesterId, iova, write, FAULT_BEYOND_MGAW);
    const w = this.walker;
    const rights = w.walk(this.root, this.levels, iova);
    if (rights === WALK_RESERVED || (rights & (write ? PTE_W : PTE_R)) === 0) {
      if (this.events.on) this.emitLookup('miss', iova, -1);
      if (rights === WALK_RESERVED) return this.fault(requesterId, iova, write, FAULT_PTE_RESERVED);
      return this.permFault(requesterId, iova, write);
    }
    // Only translations that succeed are cached (a not-present entry never is: spec ch. 6).
    this.iotlb.fill(this.domainId, iova, w.pageBase, w.pageSize, rights);
    const off = iova & (w.pageSize - 1); // `&`, not `%`: no fmod call on addresses >= 2^31
    this.span = w.pageSize - off;
    const phys = w.pageBase + off;
    if (this.events.on) this.emitLookup('miss', iova, phys);
    return phys;
  }

  private permFault(requesterId: number, iova: number, write: boolean): number {
    return this.fault(requesterId, iova, write, write ? FAULT_PTE_WRITE : FAULT_PTE_READ);
  }

  private fault(requesterId: number, iova: number, write: boolean, reason: number): number {
    this.span = PAGE_SIZE - (iova % PAGE_SIZE);
    const full = this.faultList.length >= MAX_FAULT_RECORDS;
    if (full) this.nDropped++;
    if (full && !this.events.on) return -1;
    const rec: IommuFault = {
      t: this.clock.now,
      requesterId,
      device: this.bindings.get(requesterId)?.device ?? `0000:${formatBdf(requesterId)}`,
      iova: toIova(iova),
      write,
      reason,
      message: faultMessage(requesterId, iova - (iova % PAGE_SIZE), write, reason),
    };
    if (!full) this.faultList.push(rec);
    this.onFault?.(rec);
    if (this.events.on) this.events.emit({ kind: 'iommu-fault', t: rec.t, fault: rec });
    return -1;
  }

  private emitLookup(op: 'hit' | 'miss', iova: number, phys: number): void {
    this.events.emit({
      kind: 'iotlb',
      t: this.clock.now,
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
    this.invalidationRequests[scope]++;
    this.invalidationWaitNs += this.invalidationNs;
    if (!this.events.on) return;
    this.events.emit({
      kind: 'iotlb-inval',
      t: this.clock.now,
      scope,
      domain,
      iova: toIova(iova),
      len,
    });
  }
}
