/**
 * The address spaces of dma-api-howto.rst ("CPU and DMA addresses"), as distinct types so that a
 * bus address can never be passed where a physical one is meant. Physical and bus addresses fit
 * in 52 bits and are plain numbers (DESIGN.md "Addresses").
 *
 * Kernel virtual addresses are 64 bits wide on 64-bit profiles (0xffff888000000000 ...), too wide
 * for a number. They are kept as numbers all the same, as the offset from the bottom of the
 * profile's kernel address window (`vaBase`, e.g. 0xffff800000000000 on x86-64, 0 on 32-bit
 * profiles), which spans at most 2^48 bytes; the full value is made (as bigint) only to print or
 * parse it. So kmalloc, page_address and the linear map stay in plain arithmetic.
 */

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A CPU physical address (`phys_addr_t`): what the CPU puts on the memory bus. */
export type PhysAddr = Brand<number, 'PhysAddr'>;
/** A bus address as a device emits it (`dma_addr_t`): before dma-ranges and the IOMMU. */
export type DmaAddr = Brand<number, 'DmaAddr'>;
/** An I/O virtual address: the input of the IOMMU, after any dma-ranges offset. */
export type Iova = Brand<number, 'Iova'>;
/** A kernel virtual address, as the offset from the profile's `vaBase` (see above). */
export type VirtAddr = Brand<number, 'VirtAddr'>;

/** Largest address the model accepts: 52 bits, the widest physical address of x86-64 and arm64. */
export const MAX_ADDR_BITS = 52;
const ADDR_LIMIT = 2 ** MAX_ADDR_BITS;

/** True if `a` is an integer address the model can hold exactly. */
export function isValidAddr(a: number): boolean {
  return Number.isSafeInteger(a) && a >= 0 && a < ADDR_LIMIT;
}

/** Checks an address coming from outside the model (config, trace, user). */
export function checkAddr(a: number, what: string): void {
  if (!isValidAddr(a)) {
    throw new RangeError(`${what}: ${String(a)} is not an address below 2^${MAX_ADDR_BITS}`);
  }
}

export const phys = (a: number): PhysAddr => a as PhysAddr;
export const dmaAddr = (a: number): DmaAddr => a as DmaAddr;
export const iova = (a: number): Iova => a as Iova;
export const virt = (a: number): VirtAddr => a as VirtAddr;

/** Formats an address the way the kernel's `%llx` does (no leading zeros), with a 0x prefix. */
export function hex(a: number | bigint): string {
  return '0x' + a.toString(16);
}
