/**
 * VT-d fault reasons and the kernel's report of a DMA remapping fault
 * (drivers/iommu/intel/dmar.c, Linux 6.12: `dmar_fault_do_one`, legacy mode without PASID).
 */
import { hex } from '../../lib/addr.js';

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

/** Formats a requester id (bus << 8 | dev << 3 | fn) as the kernel's `%02x:%02x.%d`. */
export function formatBdf(requesterId: number): string {
  const h2 = (n: number): string => n.toString(16).padStart(2, '0');
  return `${h2(requesterId >> 8)}:${h2((requesterId >> 3) & 0x1f)}.${requesterId & 7}`;
}

/**
 * The line the kernel logs for a fault: `DMAR: [DMA Read NO_PASID] Request device [00:02.0]
 * fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set`.
 * @param pageAddr the faulting page address; the fault recording register holds bits 63:12 only
 */
export function faultMessage(
  requesterId: number,
  pageAddr: number,
  write: boolean,
  reason: number,
): string {
  return (
    `DMAR: [DMA ${write ? 'Write' : 'Read'} NO_PASID] Request device [${formatBdf(requesterId)}] ` +
    `fault addr ${hex(pageAddr)} [fault reason 0x${reason.toString(16).padStart(2, '0')}] ` +
    (FAULT_TEXT.get(reason) ?? 'Unknown')
  );
}
