/**
 * The largest real trace (NVMe behind the IOMMU), fed in 64 KiB chunks of bytes as `dmasim check`
 * reads a file (src/cli/trace-file.ts).
 */

/** From dist/bench/trace/ up to the directory beside the repository. */
export const TRACE = new URL(
  '../../../../shared/traces/E_nvme_iommu_strict.trace',
  import.meta.url,
);
const CHUNK = 1 << 16;

/** The file's bytes in read-sized chunks, each its own copy as a read fills a buffer. */
export function chunksOf(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += CHUNK) out.push(bytes.slice(i, i + CHUNK));
  return out;
}
