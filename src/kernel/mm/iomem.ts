/**
 * /proc/iomem: the tree of physical address resources (kernel/resource.c: insert_resource
 * nesting, r_show's "%0*llx-%0*llx : %s" with 8 hex digits at least and two spaces per level).
 * Built from memblock and the machine's physical map: "System RAM" for the kernel's memory, the
 * kernel image inside it, "Reserved" for firmware ranges, reserved-memory regions, and MMIO
 * windows by name. RAM removed by mem= is absent, as in the kernel: it is a hole that ioremap may
 * use. MODEL: reserved-memory regions are shown by their node name (arm64 prints "reserved"); no
 * PCI host-bridge windows ("PCI Bus 0000:00") and no driver names inside a BAR.
 */
import { ConfigError } from '../../lib/errors.js';
import type { PhysMap } from '../../machine/memory/physmap.js';
import type { Memblock, Range } from './memblock.js';
import { intersectRanges, mergeRanges, subtractRanges } from './memblock.js';

/** One node of the tree (struct resource): [start, end] inclusive, as the kernel keeps it. */
export interface IomemResource {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly children: IomemResource[];
}

/**
 * Inserts `res` into the tree under `parent` as insert_resource does: inside the child that
 * contains it, or above the children it contains.
 * @throws ConfigError when it overlaps a resource only partly
 * @linux kernel/resource.c insert_resource
 */
export function insertResource(parent: IomemResource, res: IomemResource): void {
  const overlapping = parent.children.filter((c) => c.start <= res.end && res.start <= c.end);
  const outer = overlapping.find(
    (c) =>
      c.start <= res.start && res.end <= c.end && !(c.start === res.start && c.end === res.end),
  );
  if (outer !== undefined && overlapping.length === 1) {
    insertResource(outer, res);
    return;
  }
  const partial = overlapping.find((c) => c.start < res.start || c.end > res.end);
  if (partial !== undefined) {
    throw new ConfigError(
      `/proc/iomem: ${res.name} [${fmt(res.start)}-${fmt(res.end)}] overlaps ${partial.name} [${fmt(partial.start)}-${fmt(partial.end)}] only partly`,
    );
  }
  res.children.push(...overlapping);
  const rest = parent.children.filter((c) => !overlapping.includes(c));
  parent.children.splice(
    0,
    parent.children.length,
    ...[...rest, res].sort((a, b) => a.start - b.start),
  );
}

function resource(name: string, base: number, size: number): IomemResource {
  return { name, start: base, end: base + size - 1, children: [] };
}

/** Builds the /proc/iomem tree of a booted memblock on its machine's physical map. */
export function iomemTree(mb: Memblock, physmap: PhysMap): IomemResource {
  const root = resource('iomem', 0, 2 ** 52);
  const firmware = physmap.reservedRanges;
  const nomap = mb.memory.filter((r) => r.flags !== 0);
  const systemRam = subtractRanges(
    mb.memory.filter((r) => r.flags === 0),
    [...firmware, ...nomap],
  );
  for (const r of splitAtBanks(systemRam, physmap))
    insertResource(root, resource('System RAM', r.base, r.size));
  for (const r of mergeRanges(firmware)) insertResource(root, resource('Reserved', r.base, r.size));
  for (const w of physmap.mmioWindows) insertResource(root, resource(w.name, w.base, w.size));
  for (const r of mb.reservedMem) insertResource(root, resource(r.name, r.base, r.size));
  const k = mb.kernelImage;
  if (k !== null) {
    const parts: [string, number][] = [
      ['Kernel code', k.code],
      ['Kernel data', k.data],
      ['Kernel bss', k.bss ?? 0],
    ];
    let base = k.base;
    for (const [name, size] of parts) {
      if (size > 0) insertResource(root, resource(name, base, size));
      base += size;
    }
  }
  return root;
}

/** Keeps one "System RAM" entry per bank even when banks touch (one per e820/memblock entry). */
function splitAtBanks(ranges: readonly Range[], physmap: PhysMap): Range[] {
  return physmap.ramBanks.flatMap((b) => intersectRanges(ranges, [b]));
}

/**
 * The tree as /proc/iomem prints it, one line per resource, without a trailing newline.
 * @linux kernel/resource.c r_show
 */
export function formatIomem(root: IomemResource): string {
  const lines: string[] = [];
  const walk = (r: IomemResource, depth: number): void => {
    for (const c of r.children) {
      lines.push(`${'  '.repeat(depth)}${fmt(c.start)}-${fmt(c.end)} : ${c.name}`);
      walk(c, depth + 1);
    }
  };
  walk(root, 0);
  return lines.join('\n');
}

/** /proc/iomem of a booted memblock on its machine. */
export function procIomem(mb: Memblock, physmap: PhysMap): string {
  return formatIomem(iomemTree(mb, physmap));
}

function fmt(a: number): string {
  return a.toString(16).padStart(8, '0');
}
