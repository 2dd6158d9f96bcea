/**
 * The kernel command line: splitting into parameters (lib/cmdline.c next_arg, kernel/params.c
 * parse_args: quotes, `--`, dashes equal to underscores in names) and the boot parameters the DMA
 * path depends on, with the kernel's value syntax: mem= (memparse), swiotlb=, iommu.strict=,
 * iommu.passthrough=, iommu.forcedac= (kstrtobool), iommu= (x86), intel_iommu=, cma=, memmap=,
 * coherent_pool=, and dma-debug's dma_debug=, dma_debug_entries=, dma_debug_driver=.
 * Linux 6.12. Parameters the model does not know are kept, not rejected (the kernel hands them to
 * init). MODEL: a malformed value of a known parameter is a ConfigError; the kernel would mostly
 * ignore it or the rest of the value after the part it understood.
 */
import { ConfigError } from '../lib/errors.js';

/** A parameter as written: `name=value`, or `name` alone (value null). */
export interface KernelParam {
  readonly name: string;
  readonly value: string | null;
}

/** `swiotlb=<nslabs>[,<nareas>][,force|noforce]` (kernel/dma/swiotlb.c setup_io_tlb_npages). */
export interface SwiotlbParam {
  /** Slots of 2 KiB, rounded up to a multiple of IO_TLB_SEGSIZE (128); null = default size. */
  readonly nslabs: number | null;
  /** Areas as given (swiotlb_adjust_nareas rounds them later); null = one per possible CPU. */
  readonly nareas: number | null;
  /** force: bounce every mapping; noforce: no SWIOTLB at all; null: bounce when needed. */
  readonly mode: 'force' | 'noforce' | null;
}

/** `cma=nn[MG][@start[MG][-end[MG]]]` (kernel/dma/contiguous.c early_cma). */
export interface CmaParam {
  /** Bytes; 0 disables the default CMA area. */
  readonly size: number;
  /** Lowest address of the area, or null for anywhere. */
  readonly base: number | null;
  /** First address past the allowed range, or null for no limit. */
  readonly limit: number | null;
  /** base + size == limit: the area must sit exactly there (dma_contiguous_reserve). */
  readonly fixed: boolean;
}

/** One `memmap=` entry (x86, arch/x86/kernel/e820.c parse_memmap_one). */
export interface MemmapParam {
  /** limit: `nn` alone, like mem=; ram: `nn@ss`; acpi: `nn#ss`; reserved: `nn$ss`; pram: `nn!ss`. */
  readonly kind: 'limit' | 'ram' | 'acpi' | 'reserved' | 'pram';
  readonly size: number;
  /** Start address; null for `limit`. */
  readonly start: number | null;
}

/**
 * The IOMMU parameters, merged as the kernel merges them. null means "not given": the consumer
 * applies the build's default (Debian 6.12: lazy invalidation, translated domains).
 */
export interface IommuParams {
  /** iommu.strict= or intel_iommu=strict: true strict, false lazy (flush queue). */
  readonly strict: boolean | null;
  /** iommu.passthrough= or iommu=pt / iommu=nopt: identity (bypass) default domains. */
  readonly passthrough: boolean | null;
  /** iommu.forcedac= or intel_iommu=forcedac: no 32-bit-first IOVA allocation for PCI. */
  readonly forcedac: boolean | null;
  /** iommu=off (x86 no_iommu): no IOMMU driver initialises, Intel's included. */
  readonly off: boolean;
  /** iommu=force / noforce (x86 force_iommu). */
  readonly force: boolean;
  /** intel_iommu=on / off; null when not given (Debian's default is on, unverified). */
  readonly intel: boolean | null;
  /** The iommu= options in order, as written. */
  readonly x86Options: readonly string[];
  /** The intel_iommu= options in order, as written. */
  readonly intelOptions: readonly string[];
}

/** Everything parsed from one command line. */
export interface BootParams {
  /** The command line as given. */
  readonly cmdline: string;
  /** mem= in bytes, or null. Applied by memblock (an address limit on x86, an amount elsewhere). */
  readonly mem: number | null;
  readonly swiotlb: SwiotlbParam | null;
  readonly iommu: IommuParams;
  readonly cma: CmaParam | null;
  readonly memmap: readonly MemmapParam[];
  /**
   * coherent_pool= in bytes (kernel/dma/pool.c early_coherent_pool), or null: the size each
   * atomic pool starts with; 0 means the default, as in the kernel.
   */
  readonly coherentPool: number | null;
  readonly dmaDebug: DmaDebugParams;
  /**
   * Parameters the model does not interpret, in order (console=, loglevel=, module parameters
   * such as oracle.scenario= ...). The kernel passes `name=value` ones to init's environment
   * and bare ones to its argv, and drops dotted ones (module parameters).
   */
  readonly unknown: readonly KernelParam[];
  /** Everything after `--`, for init's argv, quotes removed. */
  readonly initArgs: readonly string[];
}

/** dma-debug's boot parameters (kernel/dma/debug.c). */
export interface DmaDebugParams {
  /** dma_debug=off: debugging disabled for good. */
  readonly off: boolean;
  /** dma_debug_entries=<n>: entries to preallocate, or null for the default. */
  readonly entries: number | null;
  /** dma_debug_driver=<name>: the driver filter, or null for none. */
  readonly driver: string | null;
}

/** The largest byte count or address the model accepts: 2^52. */
const SIZE_LIMIT = 2n ** 52n;
const IO_TLB_SEGSIZE = 128;
const SIZE_FORMS =
  'expected a size like 512M or 2G (a number, 0x for hex, with an optional K, M, G, T, P or E suffix)';
const BOOL_FORMS = 'expected a boolean: 1/0, y/n, on/off or true/false';
// The option lists of arch/x86/kernel/pci-dma.c iommu_setup and intel/iommu.c intel_iommu_setup,
// from memory (unverified).
const X86_IOMMU_OPTIONS =
  'off force noforce pt nopt soft merge nomerge forcesac usedac panic nopanic'.split(' ');
const INTEL_IOMMU_OPTIONS = 'on off igfx_off forcedac strict sm_on sm_off tboot_noforce'.split(' ');

/**
 * Splits a command line into parameters the way next_arg does: whitespace separates, double
 * quotes group (`name="a b"`, `"name=a b"`) and are removed around the value, the first `=`
 * separates name and value.
 * @returns the parameters before `--` and the words after it
 * @linux lib/cmdline.c next_arg
 */
export function splitCmdline(cmdline: string): { params: KernelParam[]; after: string[] | null } {
  const params: KernelParam[] = [];
  let i = 0;
  while (i < cmdline.length) {
    while (i < cmdline.length && isSpace(cmdline.charCodeAt(i))) i++;
    if (i >= cmdline.length) break;
    const { param, end } = nextArg(cmdline, i);
    i = end;
    if (param.name === '--' && param.value === null) {
      const rest = splitCmdline(cmdline.slice(i)).params;
      return {
        params,
        after: rest.map((p) => (p.value === null ? p.name : `${p.name}=${p.value}`)),
      };
    }
    params.push(param);
  }
  return { params, after: null };
}

function nextArg(s: string, start: number): { param: KernelParam; end: number } {
  let i = start;
  const quoted = s[i] === '"';
  if (quoted) i++;
  const argStart = i;
  let inQuote = quoted;
  let equals = -1;
  for (; i < s.length; i++) {
    if (!inQuote && isSpace(s.charCodeAt(i))) break;
    if (equals < 0 && s[i] === '=') equals = i;
    if (s[i] === '"') inQuote = !inQuote;
  }
  let arg = s.slice(argStart, i);
  const eq = equals < 0 ? -1 : equals - argStart;
  if (eq >= 0 && arg[eq + 1] === '"') {
    arg = arg.slice(0, eq + 1) + arg.slice(eq + 2);
    if (arg.endsWith('"')) arg = arg.slice(0, -1);
  } else if (quoted && arg.endsWith('"')) arg = arg.slice(0, -1);
  const param =
    eq < 0 ? { name: arg, value: null } : { name: arg.slice(0, eq), value: arg.slice(eq + 1) };
  return { param, end: i };
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * Parses a Linux-like kernel command line into boot parameters. Later occurrences of a parameter
 * win, as in the kernel; intel_iommu= is a __setup parameter, so it is applied after the early
 * ones (iommu.*, iommu=) whatever its position (unverified for every option).
 * @throws ConfigError naming the parameter, the bad value and the accepted forms
 * @linux kernel/params.c parse_args
 */
export function parseCmdline(cmdline: string): BootParams {
  const { params, after } = splitCmdline(cmdline);
  const st = newState();
  const late: KernelParam[] = [];
  for (const p of params) {
    const key = p.name.replaceAll('-', '_');
    if (key === 'intel_iommu') late.push(p);
    else if (!parseEarly(st, key, p)) st.unknown.push(p);
  }
  for (const p of late) parseIntelIommu(st, p);
  return {
    cmdline,
    mem: st.mem,
    swiotlb: st.swiotlb,
    iommu: st.iommu,
    cma: st.cma,
    memmap: st.memmap,
    coherentPool: st.coherentPool,
    dmaDebug: st.dmaDebug,
    unknown: st.unknown,
    initArgs: after ?? [],
  };
}

interface State {
  mem: number | null;
  swiotlb: SwiotlbParam | null;
  cma: CmaParam | null;
  memmap: MemmapParam[];
  coherentPool: number | null;
  dmaDebug: { -readonly [K in keyof DmaDebugParams]: DmaDebugParams[K] };
  unknown: KernelParam[];
  iommu: { -readonly [K in keyof IommuParams]: IommuParams[K] } & {
    x86Options: string[];
    intelOptions: string[];
  };
}

function newState(): State {
  return {
    mem: null,
    swiotlb: null,
    cma: null,
    memmap: [],
    coherentPool: null,
    dmaDebug: { off: false, entries: null, driver: null },
    unknown: [],
    iommu: {
      strict: null,
      passthrough: null,
      forcedac: null,
      off: false,
      force: false,
      intel: null,
      x86Options: [],
      intelOptions: [],
    },
  };
}

/** The early parameters the model interprets (early_param in the kernel), by normalised name. */
const EARLY: ReadonlyMap<string, (st: State, p: KernelParam) => void> = new Map(
  Object.entries({
    mem: (st, p) => (st.mem = parseMem(p)),
    swiotlb: (st, p) => (st.swiotlb = parseSwiotlb(p)),
    'iommu.strict': (st, p) => (st.iommu.strict = parseBool(p)),
    'iommu.passthrough': (st, p) => (st.iommu.passthrough = parseBool(p)),
    'iommu.forcedac': (st, p) => (st.iommu.forcedac = parseBool(p)),
    iommu: parseX86Iommu,
    cma: (st, p) => (st.cma = parseCma(p)),
    memmap: (st, p) => st.memmap.push(...parseMemmap(p)),
    coherent_pool: (st, p) => (st.coherentPool = parseSize(p, SIZE_FORMS, true)),
    // dma_debug_cmdline: only a value starting with "off" does anything.
    dma_debug: (st, p) => (st.dmaDebug.off ||= p.value?.startsWith('off') === true),
    dma_debug_entries: (st, p) => (st.dmaDebug.entries = parseDebugEntries(p)),
    // dma_debug_driver_setup: the name up to the first space, at most NAME_MAX_LEN - 1 bytes.
    dma_debug_driver: (st, p) => (st.dmaDebug.driver = (p.value ?? '').slice(0, 63)),
  } satisfies Record<string, (st: State, p: KernelParam) => void>),
);

/** Handles one early parameter; false when the model does not know it. */
function parseEarly(st: State, key: string, p: KernelParam): boolean {
  const handler = EARLY.get(key);
  handler?.(st, p);
  return handler !== undefined;
}

/** dma_debug_entries=<n> (get_option: a positive int). */
function parseDebugEntries(p: KernelParam): number {
  const n = p.value === null || !/^\d+$/.test(p.value) ? NaN : Number(p.value);
  if (!Number.isSafeInteger(n) || n < 1 || n > 0x7fff_ffff)
    throw bad(p, 'expected a number of entries from 1 to 2147483647');
  return n;
}

function bad(p: KernelParam, forms: string): ConfigError {
  const text = p.value === null ? p.name : `${p.name}=${p.value}`;
  return new ConfigError(`kernel command line: ${text}: ${forms}`);
}

/**
 * simple_strtoull with base 0: 0x hex (when a hex digit follows), leading 0 octal, else decimal.
 * @returns the value and the index after the digits; value null when no digit was found
 * @linux lib/vsprintf.c simple_strtoull
 */
export function strtoull(s: string, start = 0): { value: bigint | null; end: number } {
  let i = start;
  let base = 10;
  if (s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && isDigit(s[i + 2], 16)) {
    base = 16;
    i += 2;
  } else if (s[i] === '0') base = 8;
  const first = i;
  let value = 0n;
  for (; i < s.length && isDigit(s[i], base); i++) {
    value = value * BigInt(base) + BigInt(parseInt(s[i] ?? '', base));
  }
  return i === first ? { value: null, end: start } : { value, end: i };
}

function isDigit(c: string | undefined, base: number): boolean {
  return c !== undefined && c !== '' && !Number.isNaN(parseInt(c, base));
}

/**
 * memparse: strtoull and an optional K/M/G/T/P/E suffix, case-insensitive, each a further
 * factor of 1024.
 * @returns the value, the index after what was read and whether a suffix was read
 * @linux lib/cmdline.c memparse
 */
export function memparse(
  s: string,
  start = 0,
): { value: bigint | null; end: number; unit: boolean } {
  const n = strtoull(s, start);
  if (n.value === null) return { ...n, unit: false };
  const c = s[n.end];
  const shift = c === undefined ? -1 : 'KMGTPE'.indexOf(c.toUpperCase());
  if (shift < 0) return { ...n, unit: false };
  return { value: n.value << BigInt(10 * (shift + 1)), end: n.end + 1, unit: true };
}

/**
 * A whole value that must be one memparse size. MODEL: the kernel ignores whatever follows the
 * number; here only a B after the suffix is accepted, as in the seed's "mem=62MB".
 */
function parseSize(p: KernelParam, forms: string, allowZero: boolean): number {
  const v = p.value ?? '';
  const { value, end, unit } = memparse(v);
  const rest = v.slice(end);
  if (value === null || (rest !== '' && !(unit && /^[bB]$/.test(rest)))) throw bad(p, forms);
  return checkedSize(p, value, allowZero);
}

function checkedSize(p: KernelParam, value: bigint, allowZero: boolean): number {
  if (value > SIZE_LIMIT)
    throw bad(p, 'the value exceeds 2^52, the largest physical address the model holds');
  if (value === 0n && !allowZero) throw bad(p, 'the size must be above zero');
  return Number(value);
}

/** mem=nn[KMGTPE] (arch/x86/kernel/e820.c parse_memopt, arm64 early_mem). */
function parseMem(p: KernelParam): number {
  return parseSize(p, SIZE_FORMS, false);
}

/**
 * kstrtobool: only the first character counts (y/Y/t/T/1 true, n/N/f/F/0 false), or the first
 * two for on/off.
 * @linux lib/kstrtox.c kstrtobool
 */
export function kstrtobool(s: string | null): boolean | null {
  if (s === null || s === '') return null;
  const c = s[0]?.toLowerCase();
  if (c === 'y' || c === 't' || c === '1') return true;
  if (c === 'n' || c === 'f' || c === '0') return false;
  if (c === 'o') {
    const d = s[1]?.toLowerCase();
    if (d === 'n') return true;
    if (d === 'f') return false;
  }
  return null;
}

function parseBool(p: KernelParam): boolean {
  const v = kstrtobool(p.value);
  if (v === null) throw bad(p, BOOL_FORMS);
  return v;
}

const SWIOTLB_FORMS =
  'expected <nslabs>[,<nareas>][,force|noforce], e.g. swiotlb=65536, swiotlb=65536,4 or swiotlb=force';

function parseSwiotlb(p: KernelParam): SwiotlbParam {
  const v = p.value;
  if (v === null) throw bad(p, SWIOTLB_FORMS);
  const m = /^(\d[0-9a-fA-Fx]*)?,?(\d[0-9a-fA-Fx]*)?,?(force|noforce)?$/.exec(v);
  if (m === null || v === '') throw bad(p, SWIOTLB_FORMS);
  const nslabs = m[1] === undefined ? null : strtoul(p, m[1], SWIOTLB_FORMS);
  const nareas = m[2] === undefined ? null : strtoul(p, m[2], SWIOTLB_FORMS);
  if (nslabs === 0) throw bad(p, 'nslabs must be at least 1 (2 KiB slots)');
  return {
    nslabs: nslabs === null ? null : Math.ceil(nslabs / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE,
    nareas: nareas === 0 ? null : nareas,
    mode: (m[3] as 'force' | 'noforce' | undefined) ?? null,
  };
}

/** simple_strtoul with base 0, requiring the whole string to be the number. */
function strtoul(p: KernelParam, s: string, forms: string): number {
  const { value, end } = strtoull(s);
  if (value === null || end !== s.length) throw bad(p, forms);
  return checkedSize(p, value, true);
}

function parseX86Iommu(st: State, p: KernelParam): void {
  const opts = (p.value ?? '').split(',');
  for (const o of opts) {
    if (!X86_IOMMU_OPTIONS.includes(o)) {
      throw bad(
        p,
        `unknown option "${o}"; accepted (comma-separated): ${X86_IOMMU_OPTIONS.join(', ')}`,
      );
    }
    if (o === 'off') st.iommu.off = true;
    else if (o === 'force' || o === 'noforce') st.iommu.force = o === 'force';
    else if (o === 'pt' || o === 'nopt') st.iommu.passthrough = o === 'pt';
    st.iommu.x86Options.push(o);
  }
}

function parseIntelIommu(st: State, p: KernelParam): void {
  const opts = (p.value ?? '').split(',');
  for (const o of opts) {
    if (!INTEL_IOMMU_OPTIONS.includes(o)) {
      throw bad(
        p,
        `unknown option "${o}"; accepted (comma-separated): ${INTEL_IOMMU_OPTIONS.join(', ')}`,
      );
    }
    if (o === 'on' || o === 'off') st.iommu.intel = o === 'on';
    else if (o === 'strict') st.iommu.strict = true;
    else if (o === 'forcedac') st.iommu.forcedac = true;
    st.iommu.intelOptions.push(o);
  }
}

const CMA_FORMS =
  'expected nn[MG][@start[MG][-end[MG]]], e.g. cma=64M or cma=64M@0x10000000-0x40000000';

function parseCma(p: KernelParam): CmaParam {
  const v = p.value ?? '';
  const size = memparse(v);
  if (size.value === null) throw bad(p, CMA_FORMS);
  let i = size.end;
  let base: bigint | null = null;
  let limit: bigint | null = null;
  if (v[i] === '@') {
    const b = memparse(v, i + 1);
    if (b.value === null) throw bad(p, CMA_FORMS);
    base = b.value;
    i = b.end;
    if (v[i] === '-') {
      const l = memparse(v, i + 1);
      if (l.value === null) throw bad(p, CMA_FORMS);
      limit = l.value;
      i = l.end;
    } else limit = base + size.value;
  }
  if (i !== v.length) throw bad(p, CMA_FORMS);
  const n = checkedSize(p, size.value, true);
  const b = base === null ? null : checkedSize(p, base, true);
  const l = limit === null ? null : checkedSize(p, limit, true);
  return { size: n, base: b, limit: l, fixed: b !== null && l !== null && b + n === l };
}

const MEMMAP_FORMS =
  'expected nn[KMG]@ss[KMG] (RAM), nn[KMG]$ss[KMG] (reserved), nn[KMG]#ss[KMG] (ACPI), nn[KMG]!ss[KMG] (persistent) or nn[KMG] (a limit like mem=), comma-separated';
const MEMMAP_KINDS: Record<string, MemmapParam['kind']> = {
  '@': 'ram',
  '#': 'acpi',
  $: 'reserved',
  '!': 'pram',
};

function parseMemmap(p: KernelParam): MemmapParam[] {
  if (p.value === null) throw bad(p, MEMMAP_FORMS);
  return p.value.split(',').map((entry) => {
    if (entry === 'exactmap')
      throw bad(p, 'memmap=exactmap is not modelled: give the machine the RAM banks instead');
    const size = memparse(entry);
    if (size.value === null) throw bad(p, MEMMAP_FORMS);
    const n = checkedSize(p, size.value, false);
    if (size.end === entry.length) return { kind: 'limit', size: n, start: null };
    const kind = MEMMAP_KINDS[entry[size.end] ?? ''];
    const start = memparse(entry, size.end + 1);
    if (kind === undefined || start.value === null || start.end !== entry.length)
      throw bad(p, MEMMAP_FORMS);
    return { kind, size: n, start: checkedSize(p, start.value, true) };
  });
}
