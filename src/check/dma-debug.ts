/**
 * DOC: dma-debug (kernel/dma/debug.c, Linux 6.12; Documentation/core-api/dma-api.rst Part III).
 *
 * The kernel's DMA-API debugging as a checker: it implements the DmaDebugHooks the mapping layer
 * calls, keeps an entry per live mapping (dma-debug-entries.ts) and reports misuse with the
 * kernel's wording as a Finding and, within the error limit and the driver filter, as the
 * kernel's WARN: `DMA-API: <driver> <device>: <message>`, the `WARNING:` line and `Mapped at:`.
 * Build it before the kernel, hand it over as `dmaDebug`, then attach it:
 *
 *   const dbg = new DmaDebug();
 *   const k = new Kernel(machine, { dmaDebug: dbg });
 *   dbg.attach(k);
 *
 * Until attached it is the kernel's dma_debug_initialized == false: every hook does nothing.
 * MODEL: `%p` prints the raw address (no_hash_pointers); the saved stack trace is the name of the
 * API call that mapped; no CONFIG_DMA_API_DEBUG_SG unless `sgChecks` is set, as in a default config.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../lib/addr.js';
import type { Device } from '../kernel/device/device.js';
import { DMA_MAPPING_ERROR } from '../kernel/device/dma-range.js';
import { DMA_ATTR_SKIP_CPU_SYNC } from '../kernel/dma/attrs.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { DmaDebugHooks } from '../kernel/dma/hooks.js';
import { isSwiotlbActive } from '../kernel/dma/swiotlb.js';
import type { Kernel } from '../kernel/kernel.js';
import { forEachSg } from '../kernel/lib/scatterlist.js';
import type { Scatterlist } from '../kernel/lib/scatterlist.js';
import { SWAPPER, warnHeader } from '../kernel/mm/report.js';
import type { VmArea } from '../kernel/mm/vmalloc.js';
import {
  ACTIVE_CACHELINE_MAX_OVERLAP,
  ActiveCachelines,
  CachelineInsert,
  DebugEntry,
  EntryHash,
  EntryPool,
  MapErr,
} from './dma-debug-entries.js';
import { checkSync, checkUnmap } from './dma-debug-checks.js';
import type { Reporter } from './dma-debug-checks.js';
import { devAddr, dirName, dumpLine, pa } from './dma-debug-format.js';
import { FindingList } from './findings.js';
import type { Finding, FindingsJson } from './findings.js';

export interface DmaDebugOptions {
  /** num_errors at boot: how many errors are printed (default 1). */
  readonly numErrors?: number;
  /** all_errors: print every error (default false). */
  readonly allErrors?: boolean;
  /** dma_debug_driver=: report only for this driver. */
  readonly driverFilter?: string;
  /** dma_debug=off: the checker stays silent and keeps no entries. */
  readonly disabled?: boolean;
  /** dma_debug_entries=: entries preallocated (default 65536). */
  readonly entries?: number;
  /** CONFIG_DMA_API_DEBUG_SG: segment length and boundary checks at dma_map_sg. */
  readonly sgChecks?: boolean;
}

/** PREALLOC_DMA_DEBUG_ENTRIES: nr_prealloc_entries unless dma_debug_entries= says otherwise. */
const PREALLOC_ENTRIES = 1 << 16;
/** NAME_MAX_LEN - 1: the longest driver filter. */
const FILTER_MAX = 63;

/** The "Mapped at:" names: the API call that made an entry. */
const MAP_PAGE = 'dma_map_page_attrs';
const MAP_SG = 'dma_map_sg_attrs';
const MAP_RESOURCE = 'dma_map_resource';
const ALLOC = 'dma_alloc_attrs';

/** The detail fields a finding carries besides its text. */
type Details = Partial<Pick<Finding, 'dmaAddr' | 'phys' | 'vaddr' | 'size'>>;

/** The kernel facilities the checks use, taken from the kernel at attach. */
interface Env {
  readonly k: Kernel;
  readonly physBytes: number;
  /** DMA_BOUNCE_UNALIGNED_KMALLOC with a SWIOTLB pool: overlaps are bounced, not reported. */
  readonly bouncesUnaligned: boolean;
  readonly pageSize: number;
  /** The physical range whose linear-map alias is the kernel image ([0, 0) when none is). */
  readonly imageAliasLo: number;
  readonly imageAliasHi: number;
}

export class DmaDebug implements DmaDebugHooks {
  /** Everything reported, printed or not. */
  readonly findings = new FindingList();
  /** error_count: errors found, printed or not. */
  errorCount = 0;
  /** num_errors: how many more errors will be printed (debugfs, writable). */
  numErrors: number;
  /** all_errors: print every error (debugfs, writable). */
  allErrors: boolean;
  /** global_disable: set by dma_debug=off (or `disabled`); never cleared. */
  disabled: boolean;
  /** nr_prealloc_entries: from `entries`, dma_debug_entries= or the default. */
  private prealloc = PREALLOC_ENTRIES;
  /** min_free_entries: the low-water mark of free entries. */
  minFreeEntries = PREALLOC_ENTRIES;

  private filter = '';
  private env: Env | null = null;
  private readonly hash = new EntryHash();
  private readonly pool = new EntryPool();
  /** The `ref` an unmap or sync compares against (never stored). */
  private readonly scratch = new DebugEntry();
  private cachelines: ActiveCachelines | null = null;
  private overlapWarned = false;
  /** stackPages() of the last CPU asked about, with the vmalloc area that backs them. */
  private stackCache: {
    readonly areas: readonly VmArea[];
    readonly cpu: number;
    readonly pages: readonly number[];
  } | null = null;
  private readonly reporter: Reporter = {
    error: (dev, entry, kind, msg, where, details) => {
      this.errPrintk(dev, entry, kind, msg, where, details);
    },
    pa: (phys) => pa(phys, this.env?.physBytes ?? 8),
  };

  constructor(private readonly opts: DmaDebugOptions = {}) {
    this.numErrors = opts.numErrors ?? 1;
    this.allErrors = opts.allErrors ?? false;
    this.disabled = opts.disabled ?? false;
  }

  /**
   * dma_debug_init and dma_debug_add_bus: starts checking `k` (the kernel this was given to as
   * `dmaDebug`), prints the boot lines and listens for drivers unbinding (leaks).
   */
  attach(k: Kernel): void {
    const boot = k.params.dmaDebug;
    this.disabled ||= boot.off;
    if (this.disabled) {
      this.print(k, 'info', 'DMA-API: debugging disabled on kernel command line');
      return;
    }
    const profile = k.machine.profile;
    // check_for_illegal_area meets the image only where the linear map aliases it.
    const lin = k.linear;
    const aliasLo = k.vm.imageStart - (lin.physToVirt(lin.physOffset) - lin.physOffset);
    this.env = {
      k,
      physBytes: profile.physAddrBits > 32 ? 8 : 4,
      bouncesUnaligned: profile.name === 'arm64' && isSwiotlbActive(k.swiotlb),
      pageSize: profile.pageSize,
      imageAliasLo: aliasLo,
      imageAliasHi: aliasLo + k.layout.imageSize,
    };
    this.cachelines = new ActiveCachelines(profile.lineSize);
    this.prealloc = this.opts.entries ?? boot.entries ?? PREALLOC_ENTRIES;
    this.minFreeEntries = this.prealloc;
    const filter = this.opts.driverFilter ?? boot.driver ?? '';
    if (filter !== '') {
      this.filter = filter.slice(0, FILTER_MAX);
      this.print(k, 'info', `DMA-API: enable driver filter for driver [${this.filter}]`);
    }
    this.print(k, 'info', `DMA-API: preallocated ${this.prealloc} debug entries`);
    this.print(k, 'info', 'DMA-API: debugging enabled by kernel config');
    k.devices.busRegisterNotifier((event, dev) => {
      if (event === 'unbound-driver') this.deviceUnbound(dev);
    });
  }

  /** The driver_filter debugfs file: the name reports are restricted to, '' when off. */
  get driverFilter(): string {
    return this.filter;
  }

  /**
   * Writes the driver_filter debugfs file: the first token names the driver; text that does not
   * start with a letter or digit switches the filter off.
   */
  setDriverFilter(text: string): void {
    const env = this.env;
    const buf = text.slice(0, FILTER_MAX);
    if (!/^[A-Za-z0-9]/.test(buf)) {
      if (this.filter !== '' && env !== null)
        this.print(env.k, 'info', 'DMA-API: switching off dma-debug driver filter');
      this.filter = '';
      return;
    }
    this.filter = /^\S*/.exec(buf)?.[0] ?? '';
    if (env !== null)
      this.print(env.k, 'info', `DMA-API: enable driver filter for driver [${this.filter}]`);
  }

  /** nr_total_entries. MODEL: the pool grows in steps of the initial size, not by a page. */
  get nrTotalEntries(): number {
    return Math.max(1, Math.ceil(this.hash.nLive / this.prealloc)) * this.prealloc;
  }

  /** num_free_entries. */
  get numFreeEntries(): number {
    return this.nrTotalEntries - this.hash.nLive;
  }

  /** Live mappings (entries in the hash). */
  get nActive(): number {
    return this.hash.nLive;
  }

  /** The debugfs `dump` file: one line per live mapping, in hash order. */
  dump(): string[] {
    const env = this.env;
    const cls = this.cachelines;
    if (env === null || cls === null) return [];
    return [...this.hash.walk()].map(([idx, e]) =>
      dumpLine(idx, e, cls.cacheline(e.phys), env.physBytes),
    );
  }

  /** debug_dma_dump_mappings(dev): the dump lines of `dev` (of all with null) via dev_info. */
  dumpMappings(dev: Device | null): void {
    const env = this.env;
    const cls = this.cachelines;
    if (env === null || cls === null) return;
    for (const [idx, e] of this.hash.walk()) {
      if (dev !== null && e.dev !== dev) continue;
      const line = dumpLine(idx, e, cls.cacheline(e.phys), env.physBytes);
      this.print(env.k, 'info', line.slice(line.indexOf(' ') + 1).replace(/ /, ': '));
    }
  }

  /** The report as one JSON document. */
  toJSON(): FindingsJson & { readonly errorCount: number } {
    return { ...this.findings.toJSON(), errorCount: this.errorCount };
  }

  // The hooks, in kernel/dma/debug.h order.

  mapPhys(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    dmaAddr: DmaAddr,
    attrs: number,
  ): void {
    const env = this.env;
    if (env === null || dmaAddr === DMA_MAPPING_ERROR) return;
    const e = this.pool
      .alloc()
      .set(dev, 'single', phys, dmaAddr, size, dir, MapErr.NOT_CHECKED, MAP_PAGE);
    this.checkForStack(env, dev, phys);
    this.checkForIllegalArea(env, dev, phys, size);
    this.addEntry(env, e, attrs);
  }

  mapSingle(dev: Device, ptr: VirtAddr, size: number): void {
    const env = this.env;
    if (env === null) return;
    const { vm, machine } = env.k;
    // x86's virt_addr_valid accepts the kernel image mapping as well as the linear map.
    const invalid =
      !vm.virtAddrValid(ptr) && !(machine.profile.name === 'x86_64' && vm.isKernelImage(ptr));
    const vmalloc = vm.isVmallocAddr(ptr);
    if (!invalid && !vmalloc) return;
    const at = `[addr=${vm.format(ptr)}] [len=${size}]`;
    const details = { vaddr: vm.format(ptr), size };
    if (invalid)
      this.errPrintk(
        dev,
        null,
        'map-invalid-area',
        `device driver maps memory from invalid area ${at}`,
        'debug_dma_map_single',
        details,
      );
    if (vmalloc)
      this.errPrintk(
        dev,
        null,
        'map-vmalloc',
        `device driver maps memory from vmalloc area ${at}`,
        'debug_dma_map_single',
        details,
      );
  }

  unmapPhys(dev: Device, dmaAddr: DmaAddr, size: number, dir: DmaDataDirection): void {
    if (this.env === null) return;
    this.unmap(this.scratch.set(dev, 'single', 0 as PhysAddr, dmaAddr, size, dir));
  }

  mapResource(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    dmaAddr: DmaAddr,
    attrs: number,
  ): void {
    const env = this.env;
    if (env === null) return;
    const e = this.pool
      .alloc()
      .set(dev, 'resource', phys, dmaAddr, size, dir, MapErr.NOT_CHECKED, MAP_RESOURCE);
    this.addEntry(env, e, attrs);
  }

  unmapResource(dev: Device, dmaAddr: DmaAddr, size: number, dir: DmaDataDirection): void {
    if (this.env === null) return;
    this.unmap(this.scratch.set(dev, 'resource', 0 as PhysAddr, dmaAddr, size, dir));
  }

  mappingError(dev: Device, dmaAddr: DmaAddr): void {
    if (this.env !== null) this.hash.markChecked(dev, dmaAddr);
  }

  syncSingleForCpu(dev: Device, dmaAddr: DmaAddr, size: number, dir: DmaDataDirection): void {
    if (this.env === null) return;
    checkSync(
      this.hash,
      this.reporter,
      this.scratch.set(dev, 'single', 0 as PhysAddr, dmaAddr, size, dir),
      true,
    );
  }

  syncSingleForDevice(dev: Device, dmaAddr: DmaAddr, size: number, dir: DmaDataDirection): void {
    if (this.env === null) return;
    const r = this.scratch.set(dev, 'single', 0 as PhysAddr, dmaAddr, size, dir);
    checkSync(this.hash, this.reporter, r, false);
  }

  syncSgForCpu(dev: Device, sgl: Scatterlist, nelems: number, dir: DmaDataDirection): void {
    this.syncSg(dev, sgl, nelems, dir, true);
  }

  syncSgForDevice(dev: Device, sgl: Scatterlist, nelems: number, dir: DmaDataDirection): void {
    this.syncSg(dev, sgl, nelems, dir, false);
  }

  mapSg(
    dev: Device,
    sgl: Scatterlist,
    nents: number,
    ents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    const env = this.env;
    if (env === null) return;
    for (const s of forEachSg(sgl, nents)) {
      const phys = this.sgPhys(env, s);
      this.checkForStack(env, dev, phys);
      this.checkForIllegalArea(env, dev, phys, s.length);
    }
    for (const s of forEachSg(sgl, ents)) {
      const phys = this.sgPhys(env, s);
      const e = this.pool
        .alloc()
        .set(dev, 'scatter-gather', phys, s.dmaAddress, s.dmaLength, dir)
        .sg(nents, ents);
      e.mappedAt = MAP_SG;
      if (this.opts.sgChecks === true) this.checkSgSegment(dev, s);
      this.addEntry(env, e, attrs);
    }
  }

  unmapSg(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    const env = this.env;
    if (env === null) return;
    let mapped = 0;
    let i = 0;
    for (const s of forEachSg(sgl, nents)) {
      const r = this.sgRef(dev, this.sgPhys(env, s), s, dir, nents);
      if (mapped !== 0 && i >= mapped) break;
      if (i === 0) mapped = this.hash.findExact(r)?.sgMappedEnts ?? 0;
      this.unmap(r);
      i++;
    }
  }

  allocCoherent(dev: Device, size: number, dmaAddr: DmaAddr, vaddr: VirtAddr, attrs: number): void {
    const env = this.env;
    if (env === null) return;
    const phys = coherentPhys(env, vaddr);
    if (phys === null) return;
    const bidi = DmaDataDirection.BIDIRECTIONAL;
    const e = this.pool
      .alloc()
      .set(dev, 'coherent', phys, dmaAddr, size, bidi, MapErr.CHECK_NOT_APPLICABLE, ALLOC);
    this.addEntry(env, e, attrs);
  }

  freeCoherent(dev: Device, size: number, vaddr: VirtAddr | null, dmaAddr: DmaAddr): void {
    const env = this.env;
    if (env === null || vaddr === null) return;
    const phys = coherentPhys(env, vaddr);
    if (phys === null) return;
    const bidi = DmaDataDirection.BIDIRECTIONAL;
    this.unmap(this.scratch.set(dev, 'coherent', phys, dmaAddr, size, bidi));
  }

  /** check_unmap, then the entry goes (dma_entry_free). */
  private unmap(r: DebugEntry): void {
    const e = checkUnmap(this.hash, this.reporter, r);
    if (e === null) return;
    this.hash.remove(e);
    this.cachelines?.remove(e);
    this.pool.release(e);
  }

  /** debug_dma_sync_sg_for_cpu / _for_device: the mapped segments of the list. */
  private syncSg(
    dev: Device,
    sgl: Scatterlist,
    nelems: number,
    dir: DmaDataDirection,
    toCpu: boolean,
  ): void {
    const env = this.env;
    if (env === null) return;
    let mapped = 0;
    let i = 0;
    for (const s of forEachSg(sgl, nelems)) {
      const r = this.sgRef(dev, this.sgPhys(env, s), s, dir, nelems);
      if (i === 0) mapped = this.hash.findExact(r)?.sgMappedEnts ?? 0;
      if (i >= mapped) break;
      checkSync(this.hash, this.reporter, r, toCpu);
      i++;
    }
  }

  /** add_dma_entry: into the hash, and its first cache line into the active set. */
  private addEntry(env: Env, e: DebugEntry, attrs: number): void {
    this.hash.add(e);
    this.minFreeEntries = Math.min(this.minFreeEntries, this.numFreeEntries);
    const rc = this.cachelines?.insert(e) ?? CachelineInsert.OK;
    if (rc === CachelineInsert.OVERFLOW && !this.overlapWarned) {
      this.overlapWarned = true;
      const cln = pa(this.cachelines?.cacheline(e.phys) ?? 0, env.physBytes);
      const msg = `exceeded ${ACTIVE_CACHELINE_MAX_OVERLAP} overlapping mappings of cacheline ${cln}`;
      this.print(env.k, 'warn', `DMA-API: ${msg}`);
      warnHeader(
        env.k.log,
        env.k.machine.currentCpu,
        SWAPPER,
        'kernel/dma/debug.c active_cacheline_inc_overlap',
      );
      this.record(e.dev, 'cacheline-overlap-limit', msg, true, { phys: e.phys });
    }
    if (rc === CachelineInsert.OK) return;
    if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) !== 0 || env.bouncesUnaligned) return;
    this.errPrintk(
      e.dev,
      e,
      'cacheline-overlap',
      "cacheline tracking EEXIST, overlapping mappings aren't supported",
      'add_dma_entry',
      { dmaAddr: e.dmaAddr, phys: e.phys, size: e.size },
    );
  }

  /** check_for_stack: a page of the current task's stack. */
  private checkForStack(env: Env, dev: Device, phys: PhysAddr): void {
    const { k, pageSize } = env;
    const cpu = k.machine.currentCpu;
    const offset = phys % pageSize;
    if (!k.layout.vmapStack) {
      if (!k.linear.isLowmem(phys)) return;
      const va = k.linear.physToVirt(phys);
      if (k.stacks.objectIsOnStack(va, cpu)) this.stackError(dev, 'addr', k.vm.format(va), phys);
      return;
    }
    const i = this.stackPages(env, cpu).indexOf(phys - offset);
    if (i < 0) return;
    const va = (k.stacks.base(cpu) + i * pageSize + offset) as VirtAddr;
    this.stackError(dev, 'probable addr', k.vm.format(va), phys);
  }

  /**
   * The physical page behind each page of `cpu`'s vmapped stack (-1 where unmapped). Kept until
   * the vmalloc space changes: every vmap and vunmap replaces its list of areas, so the list's
   * identity tells whether a page-table walk could give another answer.
   */
  private stackPages(env: Env, cpu: number): readonly number[] {
    const { k, pageSize } = env;
    const areas = k.vm.vmalloc.list;
    const c = this.stackCache;
    if (c !== null && c.areas === areas && c.cpu === cpu) return c.pages;
    const base = k.stacks.base(cpu);
    const pages: number[] = [];
    for (let i = 0; i < k.stacks.size / pageSize; i++)
      pages.push(k.vm.resolve((base + i * pageSize) as VirtAddr));
    this.stackCache = { areas, cpu, pages };
    return pages;
  }

  private stackError(dev: Device, what: string, vaddr: string, phys: PhysAddr): void {
    this.errPrintk(
      dev,
      null,
      'map-stack',
      `device driver maps memory from stack [${what}=${vaddr}]`,
      'check_for_stack',
      { phys, vaddr },
    );
  }

  /**
   * check_for_illegal_area on page_address(page) + offset: the linear-map alias, which meets
   * _stext.._etext / rodata only where the kernel image sits in the linear map (arm32, PReP).
   * MODEL: the whole image counts as text and rodata.
   */
  private checkForIllegalArea(env: Env, dev: Device, phys: PhysAddr, len: number): void {
    if (phys >= env.imageAliasHi || phys + len <= env.imageAliasLo) return;
    const { k } = env;
    if (!k.linear.isLowmem(phys)) return;
    const addr = k.vm.format(k.linear.physToVirt(phys));
    this.errPrintk(
      dev,
      null,
      'map-kernel-text',
      `device driver maps memory from kernel text or rodata [addr=${addr}] [len=${len}]`,
      'check_for_illegal_area',
      { phys, vaddr: addr, size: len },
    );
  }

  /** check_sg_segment (CONFIG_DMA_API_DEBUG_SG). */
  private checkSgSegment(dev: Device, s: Scatterlist): void {
    const maxSeg = dev.dmaParms.maxSegmentSize;
    if (s.length > maxSeg)
      this.errPrintk(
        dev,
        null,
        'sg-segment-too-long',
        `mapping sg segment longer than device claims to support [len=${s.length}] [max=${maxSeg}]`,
        'check_sg_segment',
        { dmaAddr: s.dmaAddress, size: s.length },
      );
    const boundary = dev.dmaParms.segmentBoundaryMask;
    const start = BigInt(s.dmaAddress);
    const end = start + BigInt(s.dmaLength) - 1n;
    if (((start ^ end) & ~boundary) === 0n) return;
    const hex = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');
    this.errPrintk(
      dev,
      null,
      'sg-segment-boundary',
      `mapping sg segment across boundary [start=${hex(start)}] [end=${hex(end)}] [boundary=${hex(boundary)}]`,
      'check_sg_segment',
      { dmaAddr: s.dmaAddress, size: s.dmaLength },
    );
  }

  /** dma_debug_device_change on BUS_NOTIFY_UNBOUND_DRIVER: the device's live entries leaked. */
  private deviceUnbound(dev: Device): void {
    let count = 0;
    let last: DebugEntry | null = null;
    for (const [, e] of this.hash.walk()) {
      if (e.dev !== dev) continue;
      count++;
      last = e;
    }
    if (last === null) return;
    this.errPrintk(
      dev,
      last,
      'leak',
      `device driver has pending DMA allocations while released from device [count=${count}]\n` +
        `One of leaked entries details: [device address=${devAddr(last.dmaAddr)}] [size=${last.size} bytes] ` +
        `[mapped with ${dirName(last.dir)}] [mapped as ${last.type}]`,
      'dma_debug_device_change',
      { dmaAddr: last.dmaAddr, phys: last.phys, size: last.size },
    );
  }

  /**
   * err_printk: counts the error; prints it as a WARN when the driver filter lets the device
   * through and the error limit is not used up; then uses up one of the limit.
   */
  private errPrintk(
    dev: Device,
    e: DebugEntry | null,
    kind: string,
    msg: string,
    where: string,
    details: Details,
  ): void {
    const env = this.env;
    if (env === null) return;
    this.errorCount++;
    const show = this.driverFilterMatches(dev) && (this.allErrors || this.numErrors > 0);
    if (show) {
      const [first = '', ...rest] = msg.split('\n');
      this.print(env.k, 'warn', `DMA-API: ${dev.driverString} ${dev.name}: ${first}`);
      for (const line of rest) this.print(env.k, 'warn', line);
      const w = `kernel/dma/debug.c ${where}`;
      warnHeader(env.k.log, env.k.machine.currentCpu, SWAPPER, w);
      this.findings.addLine(
        `WARNING: CPU: ${env.k.machine.currentCpu} PID: ${SWAPPER.pid} at ${w}`,
      );
      if (e !== null) {
        this.print(env.k, 'warn', 'DMA-API: Mapped at:');
        this.print(env.k, 'warn', ` ${e.mappedAt}`);
      }
    }
    if (!this.allErrors && this.numErrors > 0) this.numErrors--;
    this.record(dev, kind, msg, show, details);
  }

  private record(dev: Device, kind: string, msg: string, printed: boolean, d: Details): void {
    const time = this.env?.k.machine.clock.now ?? 0;
    this.findings.add({
      kind,
      device: dev.name,
      driver: dev.driverString,
      message: msg,
      ...d,
      time,
      printed,
    });
  }

  /** driver_filter: no filter, or the device's driver has the filter's name. */
  private driverFilterMatches(dev: Device): boolean {
    if (this.filter === '') return true;
    return dev.driver !== null && dev.driver.name.slice(0, FILTER_MAX) === this.filter;
  }

  private print(k: Kernel, level: 'info' | 'warn', text: string): void {
    k.log.print(level, text);
    this.findings.addLine(text);
  }

  /** The ref of one entry of a scatterlist (unmap and sync of sg lists). */
  private sgRef(
    dev: Device,
    phys: PhysAddr,
    s: Scatterlist,
    dir: DmaDataDirection,
    nelems: number,
  ): DebugEntry {
    return this.scratch
      .set(dev, 'scatter-gather', phys, s.dmaAddress, s.dmaLength, dir)
      .sg(nelems, 0);
  }

  private sgPhys(env: Env, s: Scatterlist): PhysAddr {
    return (env.k.pages.pageToPhys(s.page) + s.offset) as PhysAddr;
  }
}

/** virt_to_paddr of a coherent buffer (linear map or vmalloc), or null for neither. */
function coherentPhys(env: Env, vaddr: VirtAddr): PhysAddr | null {
  const { vm } = env.k;
  if (!vm.isVmallocAddr(vaddr) && !vm.virtAddrValid(vaddr)) return null;
  const p = vm.resolve(vaddr);
  return p < 0 ? null : (p as PhysAddr);
}
