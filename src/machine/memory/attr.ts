/**
 * Memory attributes of a CPU mapping (the PTE memory type): how a CPU access reaches memory.
 * x86 PAT WB/UC/WC; arm64 MAIR Normal-WB, Device-nGnRE, Normal-NC.
 */
export const enum MemAttr {
  /** Write-back cacheable: loads and stores go through the data cache. */
  CACHEABLE = 0,
  /** Uncached, strongly ordered: every access reaches memory (or a device register) at once. */
  UNCACHED = 1,
  /** Normal non-cacheable with write-combining: stores gather in a small per-CPU buffer. */
  WC = 2,
}

export function attrName(a: MemAttr): string {
  return a === MemAttr.CACHEABLE ? 'cacheable' : a === MemAttr.UNCACHED ? 'uncached' : 'wc';
}
