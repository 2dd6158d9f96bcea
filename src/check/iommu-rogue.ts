/**
 * The rogue-device scan: everything a device could reach if it tried every bus address, and what
 * lives there. Method: a walk of its domain's page tables (every present leaf, each table read
 * once), plus the IOTLB entries of the domain that no longer match a leaf: the stale translations
 * of lazy mode. That finds exactly what an exhaustive sweep through the device's DMA port would,
 * without 2^48 / 4096 translations, and without filling the IOTLB or recording faults.
 */
import { hex } from '../lib/addr.js';
import type { Device } from '../kernel/device/device.js';
import type { Kernel } from '../kernel/kernel.js';
import type { RogueReach, RogueReport } from './iommu-exposure-report.js';
import { residentsOf } from './iommu-residents.js';
import type { Leaf, TableReader } from './iommu-tables.js';
import { rightsName } from './iommu-tables.js';

const METHOD = "page-table walk of the device's domain, plus its IOTLB entries";

/**
 * rogueScan - the reach of `dev`.
 * @param mappingAt the origin of the live mapping covering an IOVA, or null
 */
export function rogueScan(
  k: Kernel,
  tables: TableReader,
  dev: Device,
  mappingAt: (iova: number) => string | null,
): RogueReport {
  const port = dev.dmaPort;
  const domain = k.iommu.domainOf(dev);
  const none = { device: dev.name, reach: [], bytes: 0 };
  if (port === null)
    return {
      ...none,
      iommu: false,
      domain: 'none',
      method: 'none',
      note: 'no DMA port: it reaches nothing',
    };
  if (domain === null || !domain.isDma) {
    const everything = `it reaches every physical address below its DMA mask (${hex(dev.dmaMaskLimit)})`;
    const note =
      domain === null
        ? `no IOMMU translates its requests (dma-direct): ${everything}`
        : `identity (pass-through) domain: ${everything}`;
    return {
      ...none,
      iommu: domain !== null,
      domain: domain?.type ?? 'none',
      method: 'none',
      note,
    };
  }
  const reach = runs(tables.leaves(domain.hw), port.busOffset, mappingAt).map((r): RogueReach => ({
    ...r,
    residents: residentsOf(k, r.phys, r.len),
  }));
  for (const e of k.machine.iommu?.iotlb.entries() ?? []) {
    if (e.domainId !== domain.hw.id || tables.lookup(domain.hw, e.iova)?.phys === e.phys) continue;
    const stale = { dmaAddr: e.iova + port.busOffset, len: e.pageSize, phys: e.phys };
    const residents = residentsOf(k, e.phys, e.pageSize);
    reach.push({
      ...stale,
      rights: rightsName(e.perm),
      via: 'stale-iotlb',
      mapping: null,
      residents,
    });
  }
  const bytes = reach.reduce((n, r) => n + r.len, 0);
  const note = `${reach.length} range(s), ${bytes} bytes reachable`;
  return { device: dev.name, iommu: true, domain: domain.type, method: METHOD, note, reach, bytes };
}

type Run = Omit<RogueReach, 'residents'>;

/** Leaves merged while IOVA and phys run on, with the same rights and the same live mapping. */
function runs(
  leaves: readonly Leaf[],
  busOffset: number,
  mappingAt: (iova: number) => string | null,
): Run[] {
  const out: Run[] = [];
  for (const l of leaves) {
    const mapping = mappingAt(l.iova);
    const rights = rightsName(l.rights);
    const dmaAddr = l.iova + busOffset;
    const last = out[out.length - 1];
    if (
      last !== undefined &&
      last.dmaAddr + last.len === dmaAddr &&
      last.phys + last.len === l.phys &&
      last.rights === rights &&
      last.mapping === mapping
    ) {
      out[out.length - 1] = { ...last, len: last.len + l.size };
    } else out.push({ dmaAddr, len: l.size, phys: l.phys, rights, via: 'page-table', mapping });
  }
  return out;
}
