/** The largest real trace (NVMe behind the IOMMU), fed in 64 KiB chunks as a file read would. */

/** From dist/bench/trace/ up to the directory beside the repository. */
export const TRACE = new URL(
  '../../../../shared/traces/E_nvme_iommu_strict.trace',
  import.meta.url,
);
const CHUNK = 1 << 16;

export function chunksOf(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += CHUNK) out.push(text.slice(i, i + CHUNK));
  return out;
}
