/**
 * The options every scenario shares (`dmasim run <scenario> --arch ... --iommu ...`), checked and
 * turned into the machine and kernel configuration a scenario boots. Bad values are ConfigErrors
 * that name the option, the value and what is accepted (the command exits with status 2).
 */
import { ConfigError } from '../lib/errors.js';
import { KIB, MIB } from '../lib/units.js';
import { ARCH_NAMES } from '../machine/profile.js';
import type { ArchName } from '../machine/profile.js';
import type { MachineConfig } from '../machine/machine.js';
import { memparse } from '../kernel/cmdline.js';

export const IOMMU_MODES = ['off', 'strict', 'lazy', 'passthrough'] as const;
export type IommuMode = (typeof IOMMU_MODES)[number];
export const SWIOTLB_MODES = ['off', 'auto', 'force'] as const;
export type SwiotlbMode = (typeof SWIOTLB_MODES)[number];
export const CHECKER_NAMES = ['dma-debug', 'coherence', 'iommu'] as const;
export type CheckerName = (typeof CHECKER_NAMES)[number];

/** A scenario-specific option value. */
export type ParamValue = string | number | boolean;

export interface RunOptions {
  readonly arch: ArchName;
  /** RAM in bytes. */
  readonly ramSize: number;
  readonly iommu: IommuMode;
  readonly swiotlb: SwiotlbMode;
  /** SWIOTLB pool size in bytes (swiotlb=<nslabs>); the kernel's 64 MiB when absent. */
  readonly swiotlbSize?: number;
  /** CPU cost of one IOTLB invalidation request (the IOMMU's INVALIDATION_NS when absent). */
  readonly iotlbInvalidationNs?: number;
  /** Extra kernel command line, appended after what the options above produce. */
  readonly cmdline: string;
  /** Override of the scenario's devices' coherency (--coherent / --no-coherent). */
  readonly coherent?: boolean;
  readonly seed: number;
  readonly checkers: readonly CheckerName[];
  /** Record the dma/iommu/swiotlb trace events as ftrace text (outputs.trace). */
  readonly trace: boolean;
  /** Record the frames on the wire as a pcap file (outputs.pcap), where a NIC is involved. */
  readonly pcap: boolean;
  /** Scenario-specific options by name (already checked against the scenario's ParamSpecs). */
  readonly params: Readonly<Record<string, ParamValue>>;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  arch: 'x86_64',
  ramSize: 1024 * MIB,
  iommu: 'off',
  swiotlb: 'auto',
  cmdline: '',
  seed: 1,
  checkers: CHECKER_NAMES,
  trace: false,
  pcap: false,
  params: {},
};

/** A whole number of nanoseconds ("500"). */
export function parseNs(what: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) {
    throw new ConfigError(`${what}: "${v}" is not a time; give a whole number of ns, e.g. 500`);
  }
  return n;
}

/** Sizes are memparse's (4096, 64K, 512M, 4G), with an optional B: "512MB". */
export function parseSize(what: string, v: string): number {
  const { value, end, unit } = memparse(v);
  const rest = v.slice(end);
  if (value === null || (rest !== '' && !(unit && /^[bB]$/.test(rest))) || value <= 0n)
    throw new ConfigError(
      `${what}: "${v}" is not a size; give a positive number of bytes with an optional K, M, G or T suffix, e.g. 512M or 4G`,
    );
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw new ConfigError(`${what}: "${v}" is too large`);
  return Number(value);
}

export function parseChoice<T extends string>(what: string, v: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(v)) return v as T;
  throw new ConfigError(`${what}: "${v}" is not one of ${choices.join(', ')}`);
}

export function parseArch(v: string): ArchName {
  return parseChoice('--arch', v, ARCH_NAMES);
}

/** --checkers: a comma-separated list of checker names, or "none" / "all". */
export function parseCheckers(v: string): CheckerName[] {
  if (v === 'none') return [];
  if (v === 'all') return [...CHECKER_NAMES];
  const names = v.split(',').map((s) => s.trim());
  return names.map((n) =>
    parseChoice(`--checkers (in "${v}")`, n, [...CHECKER_NAMES, 'none', 'all'] as const),
  ) as CheckerName[];
}

/** One SWIOTLB slot (IO_TLB_SIZE) and the segment the pool size must be a multiple of. */
const SLOT = 2 * KIB;
const SEGMENT_SLOTS = 128;

/**
 * The kernel command line the shared options stand for, then the user's --cmdline (so a
 * parameter given there wins, as the later of two equal parameters does in the kernel).
 */
export function kernelCmdline(o: RunOptions): string {
  const parts: string[] = [];
  const x86 = o.arch === 'x86_64';
  if (o.iommu === 'off') {
    if (x86) parts.push('intel_iommu=off');
  } else {
    if (x86) parts.push('intel_iommu=on');
    if (o.iommu === 'passthrough') parts.push('iommu.passthrough=1');
    else parts.push(`iommu.strict=${o.iommu === 'strict' ? 1 : 0}`);
  }
  if (o.swiotlbSize !== undefined) {
    const slots = Math.ceil(o.swiotlbSize / SLOT / SEGMENT_SLOTS) * SEGMENT_SLOTS;
    parts.push(`swiotlb=${slots}${o.swiotlb === 'force' ? ',force' : ''}`);
  } else if (o.swiotlb === 'force') parts.push('swiotlb=force');
  if (o.swiotlb === 'off') parts.push('swiotlb=noforce');
  if (o.cmdline.trim() !== '') parts.push(o.cmdline.trim());
  return parts.join(' ');
}

/** The machine the shared options describe. */
export function machineConfig(o: RunOptions): MachineConfig {
  const ns = o.iotlbInvalidationNs;
  const iommu = o.iommu !== 'off' && ns !== undefined ? { invalidationNs: ns } : o.iommu !== 'off';
  return { arch: o.arch, ramSize: o.ramSize, seed: o.seed, iommu };
}
